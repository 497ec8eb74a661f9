//! An endpoint Python may lend out, one borrow at a time.
//!
//! A Rust `Loan` (or `RecvGuard`) mutably borrows its `Sender` (or `Receiver`), so a
//! Python object cannot hold one beside the endpoint it came from by the borrow
//! checker's rules. [`Lender`] does it by hand, as `ffi/src/lender.rs` does for C:
//!
//! - the endpoint lives in a heap allocation of its own, owned through a raw pointer
//!   (never a `Box`, whose uniqueness would be asserted each time the lender moves);
//! - [`Lender::lend`] makes the borrow (`Loan<'static>`, `RecvGuard<'static>`) from a
//!   `'static` reference to that allocation and keeps it;
//! - while the borrow is kept, [`Lender::get`] and [`Lender::lend`] refuse to make
//!   another reference, so the borrow is the only one to the endpoint;
//! - [`Lender::take`] hands the borrow back to be finished (committed, dropped);
//!   [`Lender::close`] frees the endpoint at once if nothing is lent, else when the
//!   borrow comes back: a memoryview Python still holds keeps the mapping alive.
//!
//! The borrow the `'static` lifetime stands for therefore ends before the endpoint goes,
//! and no other reference overlaps it.

use std::ptr::NonNull;

/// Why a [`Lender`] would not hand out its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The endpoint was closed (or is closing, waiting for its borrow to come back).
    Closed,
    /// The endpoint is lent out.
    Lent,
}

/// An endpoint `T` and the one borrow `B` of it that Python may hold.
pub(crate) struct Lender<T: 'static, B> {
    /// The borrow Python holds. It mutably borrows `*owner`: `Some` implies `owner` is
    /// `Some`, and nothing else reaches `*owner` while it is `Some`.
    lent: Option<B>,
    /// The endpoint, in its own heap allocation (from `Box::leak`); `None` once freed.
    /// Freed only by `free`, after `lent` is dropped.
    owner: Option<NonNull<T>>,
    /// `close` was called while the endpoint was lent: free it when the borrow returns.
    closing: bool,
}

// SAFETY: a `Lender` owns its endpoint (as a `Box<T>` would) and the borrow of it, and
// hands out references only through `&mut self`; moving it to another thread moves both,
// which is sound when both may move.
unsafe impl<T: Send + 'static, B: Send> Send for Lender<T, B> {}

impl<T: 'static, B> Lender<T, B> {
    pub(crate) fn new(endpoint: T) -> Self {
        Self { lent: None, owner: Some(NonNull::from(Box::leak(Box::new(endpoint)))), closing: false }
    }

    /// The live allocation, unless closed or lent.
    fn unlent(&self) -> Result<NonNull<T>, Refused> {
        match (self.owner, &self.lent) {
            (Some(_), _) if self.closing => Err(Refused::Closed),
            (Some(_), Some(_)) => Err(Refused::Lent),
            (Some(owner), None) => Ok(owner),
            (None, _) => Err(Refused::Closed),
        }
    }

    /// The endpoint, for a call that does not lend it.
    pub(crate) fn get(&mut self) -> Result<&mut T, Refused> {
        let owner = self.unlent()?;
        // SAFETY: `owner` is the live allocation this lender owns (freed only by `free`,
        // which takes it out of `self.owner`). Nothing is lent, so no other reference to
        // it exists, and `&mut self` keeps it that way for the borrow.
        Ok(unsafe { &mut *owner.as_ptr() })
    }

    /// Lends the endpoint to `make` and keeps the borrow it returns; a failure keeps
    /// nothing. `make` gets a pointer rather than a reference so that it may retry in a
    /// loop (each try makes a fresh reference; see its SAFETY note) and still return a
    /// `'static` borrow, which the borrow checker of today cannot see is sound.
    /// `Err(refusal)` outside, `Ok(Err(e))` for `make`'s own failure.
    pub(crate) fn lend<E>(&mut self, make: impl FnOnce(Lending<T>) -> Result<B, E>) -> Result<Result<(), E>, Refused> {
        let owner = self.unlent()?;
        Ok(make(Lending(owner)).map(|borrow| {
            self.lent = Some(borrow);
        }))
    }

    /// The borrow Python holds, if any.
    pub(crate) fn lent(&mut self) -> Option<&mut B> {
        self.lent.as_mut()
    }

    /// Takes the borrow back, to finish it; `None` if nothing is lent. If `close` was
    /// called meanwhile, the caller finishes the borrow and then calls [`Lender::free_if_closing`].
    pub(crate) fn take(&mut self) -> Option<B> {
        self.lent.take()
    }

    /// Frees the endpoint if `close` was deferred and the borrow has come back.
    pub(crate) fn free_if_closing(&mut self) {
        if self.closing && self.lent.is_none() {
            self.free();
        }
    }

    /// Whether the endpoint is still usable (not closed, not closing).
    pub(crate) fn is_open(&self) -> bool {
        self.owner.is_some() && !self.closing
    }

    /// Whether the endpoint is lent out.
    pub(crate) fn is_lent(&self) -> bool {
        self.lent.is_some()
    }

    /// Closes the endpoint: frees it now if nothing is lent, else once the borrow comes
    /// back (`take` then `free_if_closing`). Later calls are refused either way.
    pub(crate) fn close(&mut self) {
        self.closing = true;
        self.free_if_closing();
    }

    fn free(&mut self) {
        debug_assert!(self.lent.is_none(), "the borrow goes before the endpoint");
        if let Some(owner) = self.owner.take() {
            // SAFETY: the allocation came from `Box::leak` in `new` and is freed only
            // here, once (`take` leaves `None`); the borrow of it is gone (callers check
            // `lent` is `None`), so no reference to it remains.
            drop(unsafe { Box::from_raw(owner.as_ptr()) });
        }
    }
}

impl<T: 'static, B> Drop for Lender<T, B> {
    fn drop(&mut self) {
        // The borrow refers to `*owner`: it goes first.
        self.lent = None;
        self.free();
    }
}

/// The endpoint being lent, inside [`Lender::lend`].
pub(crate) struct Lending<T: 'static>(NonNull<T>);

// SAFETY: a `Lending` stands for the unique access to the endpoint that `lend` grants for
// the duration of `make`; sending it to another thread (to wait without the GIL) is
// sending a `&mut T`, sound when `T: Send`.
unsafe impl<T: Send + 'static> Send for Lending<T> {}

impl<T: 'static> Lending<T> {
    /// A reference for one try. Each call ends the use of the reference the previous
    /// call returned: a try that failed left nothing borrowing the endpoint.
    ///
    /// # Safety
    ///
    /// Nothing derived from an earlier call's reference may be alive (a try that
    /// returned an error holds no borrow of the endpoint).
    pub(crate) unsafe fn try_once(&mut self) -> &'static mut T {
        // SAFETY: the allocation is live and lent to `make` alone (`lend` checked it is
        // not lent; `&mut self` of the lender is held for the whole of `make`). The
        // borrow returned either fails (and the caller's contract says nothing of it
        // survives) or is kept in `lent`, after which `get`/`lend` refuse to make another
        // reference and the endpoint is freed only once the borrow is dropped.
        unsafe { &mut *self.0.as_ptr() }
    }
}
