//! An endpoint C may lend out, one borrow at a time.
//!
//! A Rust `Loan` (or `RecvGuard`) mutably borrows its `Sender` (or `Receiver`), so C
//! cannot hold one next to the endpoint it came from by the borrow checker's rules.
//! [`Lender`] does it by hand:
//!
//! - the endpoint lives in a heap allocation of its own, owned through a raw pointer
//!   (never a `Box`, whose uniqueness would be asserted each time the handle is
//!   touched), so moving the handle never moves it;
//! - [`Lender::lend`] makes the borrow (`Loan<'static>`, `RecvGuard<'static>`) from a
//!   `'static` reference to that allocation and keeps it;
//! - while the borrow is kept, [`Lender::get`] and [`Lender::lend`] refuse to make
//!   another reference, so the borrow is the only one to the endpoint;
//! - [`Lender::take`] hands the borrow back to be finished (committed, dropped), and
//!   [`Lender::close`] drops it before it frees the endpoint.
//!
//! The borrow the `'static` lifetime stands for therefore ends before the endpoint goes,
//! and no other reference overlaps it (checked under Miri with both Stacked and Tree
//! Borrows, `channel.rs` tests).

use std::ptr::NonNull;

/// The endpoint was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// Why a [`Lender`] would not hand out its endpoint; each handle words it for C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The endpoint was closed.
    Closed,
    /// The endpoint is lent out.
    Lent,
}

/// An endpoint `T` and the one borrow `B` of it that C may hold.
pub(crate) struct Lender<T: 'static, B> {
    /// The borrow C holds. It mutably borrows `*owner`: `Some` implies `owner` is
    /// `Some`, and nothing else reaches `*owner` while it is `Some`.
    lent: Option<B>,
    /// The endpoint, in its own heap allocation (from `Box::leak`); `None` once closed.
    /// Freed only by `close`, after `lent` is dropped.
    owner: Option<NonNull<T>>,
}

impl<T: 'static, B> Lender<T, B> {
    pub(crate) fn new(endpoint: T) -> Self {
        Self { lent: None, owner: Some(NonNull::from(Box::leak(Box::new(endpoint)))) }
    }

    /// Fails once the endpoint is closed.
    pub(crate) fn check_open(&self) -> Result<(), Closed> {
        self.owner.map(|_| ()).ok_or(Closed)
    }

    /// The live allocation, unless closed or lent.
    fn unlent(&self) -> Result<NonNull<T>, Refused> {
        let owner = self.owner.ok_or(Refused::Closed)?;
        match self.lent {
            Some(_) => Err(Refused::Lent),
            None => Ok(owner),
        }
    }

    /// The endpoint, for a call that does not lend it.
    pub(crate) fn get(&mut self) -> Result<&mut T, Refused> {
        let owner = self.unlent()?;
        // SAFETY: `owner` is the live allocation this lender owns (freed only by `close`,
        // which takes it out of `self.owner`). Nothing is lent, so no other reference to
        // it exists, and `&mut self` keeps it that way for the borrow.
        Ok(unsafe { &mut *owner.as_ptr() })
    }

    /// Lends the endpoint to `make` and keeps the borrow it returns; a failure keeps
    /// nothing. `Err(refusal)` outside, `Ok(Err(e))` for `make`'s own failure.
    pub(crate) fn lend<E>(
        &mut self,
        make: impl FnOnce(&'static mut T) -> Result<B, E>,
    ) -> Result<Result<&mut B, E>, Refused> {
        let owner = self.unlent()?;
        // SAFETY: the allocation is live and nothing borrows it (checked above). The
        // `'static` borrow lives on only in what `make` returns, which is kept in
        // `self.lent`; while it is there, `get` and `lend` refuse to make another
        // reference, and `close` drops it before freeing the allocation, so the borrow
        // ends before the endpoint and is unique while it lasts.
        let endpoint: &'static mut T = unsafe { &mut *owner.as_ptr() };
        Ok(make(endpoint).map(|borrow| self.lent.insert(borrow)))
    }

    /// Whether the endpoint is lent out.
    pub(crate) fn is_lent(&self) -> Result<bool, Closed> {
        self.check_open()?;
        Ok(self.lent.is_some())
    }

    /// The borrow C holds, to use it without finishing it; `None` if nothing is lent.
    pub(crate) fn borrowed(&mut self) -> Result<Option<&mut B>, Closed> {
        self.check_open()?;
        Ok(self.lent.as_mut())
    }

    /// Takes the borrow back, to finish it; `None` if nothing is lent.
    pub(crate) fn take(&mut self) -> Result<Option<B>, Closed> {
        self.check_open()?;
        Ok(self.lent.take())
    }

    /// Drops any borrow and frees the endpoint. Returns whether it was open.
    pub(crate) fn close(&mut self) -> bool {
        // The borrow refers to `*owner`: it goes first.
        self.lent = None;
        match self.owner.take() {
            Some(owner) => {
                // SAFETY: the allocation came from `Box::leak` in `new` and is freed only
                // here, once (`take` leaves `None`); the borrow of it is gone, so no
                // reference to it remains.
                drop(unsafe { Box::from_raw(owner.as_ptr()) });
                true
            }
            None => false,
        }
    }
}

impl<T: 'static, B> Drop for Lender<T, B> {
    fn drop(&mut self) {
        self.close();
    }
}
