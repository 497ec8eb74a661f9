//! What the C handles of a channel's two ends share, written once.
//!
//! `ferry_sender`, `ferry_receiver`, `ferry_publisher` and `ferry_subscriber` are each an
//! [`EndpointHandle`]: a magic number,
//! the end kept in a [`Lender`] with the one borrow C may hold of it (a loan, an
//! acquired message), its slot size and capacities, and why an `auto:` endpoint fell
//! back. [`Endpoint`] is what the handle needs of each end: ferry's calls that both ends
//! have ([`EndApi`]), its magic number and name, and how it is lent to C.
//!
//! The calls every end has (create, open, clone, close, free, the getters, the wait
//! policy) are the generic functions below. `sender.rs` and `receiver.rs` keep their
//! `extern "C"` functions, since cbindgen takes the header's order and documentation
//! from them, and each of those is a call into this module or into what only its end
//! does.

use std::{
    ffi::{CStr, CString},
    os::raw::c_char,
    ptr,
    time::Duration,
};

use ferry::{AttachError, Config, Receiver, Sender, WaitPolicy};

use crate::{
    boundary::{self, Handle, Out},
    config::ferry_config,
    lender::{Closed, Lender, Refused},
    status::{ferry_status, ferry_status::*, Failure},
    wait::{self, Patience},
};

/// ferry's calls that `Sender` and `Receiver` both have, under the same names.
pub(crate) trait EndApi: Sized {
    fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError>;
    fn open(endpoint: &str) -> Result<Self, AttachError>;
    fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError>;
    fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError>;
    fn try_clone(&self) -> Result<Self, AttachError>;
    fn slot_size(&self) -> usize;
    fn capacity(&self) -> usize;
    fn capacity_bytes(&self) -> usize;
    fn fallback_reason(&self) -> Option<&str>;
    fn set_wait_policy(&mut self, policy: WaitPolicy);
}

/// Implements [`EndApi`] for each type by calling its inherent functions.
macro_rules! end_api {
    ($($end:ty),*) => {$(
        impl EndApi for $end {
            fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
                <$end>::create(endpoint, config)
            }
            fn open(endpoint: &str) -> Result<Self, AttachError> {
                <$end>::open(endpoint)
            }
            fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
                <$end>::open_expecting(endpoint, config)
            }
            fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
                <$end>::open_timeout(endpoint, timeout)
            }
            fn try_clone(&self) -> Result<Self, AttachError> {
                <$end>::try_clone(self)
            }
            fn slot_size(&self) -> usize {
                <$end>::slot_size(self)
            }
            fn capacity(&self) -> usize {
                <$end>::capacity(self)
            }
            fn capacity_bytes(&self) -> usize {
                <$end>::capacity_bytes(self)
            }
            fn fallback_reason(&self) -> Option<&str> {
                <$end>::fallback_reason(self)
            }
            fn set_wait_policy(&mut self, policy: WaitPolicy) {
                <$end>::set_wait_policy(self, policy)
            }
        }
    )*};
}

end_api!(Sender, Receiver);

/// One end of a channel as C holds it.
///
/// `Send`, and a `Send` borrow: the header promises that a handle may move between
/// threads (used by one at a time), so everything it holds must be `Send`.
pub(crate) trait Endpoint: EndApi + Send + 'static {
    /// The C-visible opaque type (`ferry_sender`, `ferry_receiver`).
    type Opaque;
    /// The borrow C may hold between two calls (a loan, an acquired message).
    type Borrow: Send;
    /// Tells this end's handles from the other's (see `boundary::Handle`).
    const MAGIC: u64;
    /// `"sender"` or `"receiver"`, for messages.
    const WHAT: &'static str;
    /// Why a call is refused while C holds the borrow (other than the calls that end it).
    const LENT: &'static CStr;
    /// Why a second borrow is refused while C holds one.
    const LENT_AGAIN: &'static CStr;

    /// Makes the borrow C will hold, waiting as `patience` says.
    fn lend(endpoint: &'static mut Self, patience: Patience) -> Result<Self::Borrow, Failure>;
}

/// What a `ferry_sender *` or `ferry_receiver *` points to.
#[repr(C)]
pub(crate) struct EndpointHandle<E: Endpoint> {
    /// `E::MAGIC` while the handle lives (the `Handle` contract: first field).
    magic: u64,
    /// The end, and the borrow C holds of it between two calls.
    end: Lender<E, E::Borrow>,
    /// The end's slot size, capacity in slots and capacity in bytes, which never change.
    slot_size: usize,
    capacity: usize,
    capacity_bytes: usize,
    /// Why an `auto:` endpoint fell back to a Unix socket, NUL-terminated for C.
    fallback: Option<CString>,
}

// SAFETY: `EndpointHandle` is `repr(C)` and its first field is the `u64` magic number,
// set to `E::MAGIC` in `EndpointHandle::boxed` and never changed; the two ends' numbers
// differ, so a handle of one end is never taken for the other's.
unsafe impl<E: Endpoint> Handle for EndpointHandle<E> {
    type Opaque = E::Opaque;
    const MAGIC: u64 = E::MAGIC;
    const WHAT: &'static str = E::WHAT;
}

impl<E: Endpoint> EndpointHandle<E> {
    /// A new handle for `end`, boxed for `boundary::into_raw`.
    pub(crate) fn boxed(end: E) -> Box<Self> {
        let fallback = end.fallback_reason().map(|why| CString::new(why.replace('\0', "")).unwrap_or_default());
        Box::new(Self {
            magic: E::MAGIC,
            slot_size: end.slot_size(),
            capacity: end.capacity(),
            capacity_bytes: end.capacity_bytes(),
            fallback,
            end: Lender::new(end),
        })
    }

    /// The slot size, which is also the size of every loan.
    pub(crate) fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The failure of a call on a closed handle.
    fn closed(_: Closed) -> Failure {
        let what = E::WHAT;
        Failure::new(FERRY_ERR_CLOSED, format!("the {what} was closed: only ferry_{what}_free may be called on it"))
    }

    /// `refused` in C's words, with `lent` saying why the borrow C holds is in the way.
    fn refused(refused: Refused, lent: &'static CStr) -> Failure {
        match refused {
            Refused::Closed => Self::closed(Closed),
            Refused::Lent => Failure::fixed(FERRY_ERR_STATE, lent),
        }
    }

    /// Fails once the handle is closed.
    fn attached(&self) -> Result<(), Failure> {
        self.end.check_open().map_err(Self::closed)
    }

    /// The end, for a call that neither makes nor ends the borrow: refused while C
    /// holds one.
    pub(crate) fn get(&mut self) -> Result<&mut E, Failure> {
        self.end.get().map_err(|r| Self::refused(r, E::LENT))
    }

    /// Makes the borrow C will hold and keeps it; refused while C holds one already.
    pub(crate) fn lend(&mut self, patience: Patience) -> Result<&mut E::Borrow, Failure> {
        self.lend_by(|end| E::lend(end, patience))
    }

    /// As [`EndpointHandle::lend`], with the borrow made by `make` (a loan of a given
    /// size, say).
    pub(crate) fn lend_by(
        &mut self,
        make: impl FnOnce(&'static mut E) -> Result<E::Borrow, Failure>,
    ) -> Result<&mut E::Borrow, Failure> {
        self.end.lend(make).map_err(|r| Self::refused(r, E::LENT_AGAIN))?
    }

    /// Whether C holds the borrow.
    pub(crate) fn is_lent(&self) -> Result<bool, Failure> {
        self.end.is_lent().map_err(Self::closed)
    }

    /// The borrow C holds, to use without finishing it; `nothing` says what went wrong
    /// if C holds none.
    pub(crate) fn borrowed(&mut self, nothing: &'static CStr) -> Result<&mut E::Borrow, Failure> {
        self.end.borrowed().map_err(Self::closed)?.ok_or_else(|| Failure::fixed(FERRY_ERR_STATE, nothing))
    }

    /// Takes the borrow back from C, to finish it; `nothing` says what went wrong if C
    /// holds none.
    pub(crate) fn take(&mut self, nothing: &'static CStr) -> Result<E::Borrow, Failure> {
        self.end.take().map_err(Self::closed)?.ok_or_else(|| Failure::fixed(FERRY_ERR_STATE, nothing))
    }
}

/// The handle behind `h`.
///
/// # Safety
///
/// `h` is NULL or a live handle (of any type), used by no other thread during `'a`.
pub(crate) unsafe fn handle<'a, E: Endpoint>(h: *mut E::Opaque) -> Result<&'a mut EndpointHandle<E>, Failure> {
    // SAFETY: the caller's contract.
    unsafe { boundary::handle_mut::<EndpointHandle<E>>(h) }
}

/// Like [`handle`], for a call that only reads the handle.
///
/// # Safety
///
/// As for [`handle`].
unsafe fn handle_ref<'a, E: Endpoint>(h: *const E::Opaque) -> Result<&'a EndpointHandle<E>, Failure> {
    // SAFETY: the caller's contract.
    unsafe { boundary::handle_ref::<EndpointHandle<E>>(h) }
}

/// The body of `ferry_*_create`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `cfg` is NULL or an initialised
/// `ferry_config`; `out` is NULL or writable.
pub(crate) unsafe fn create<E: Endpoint>(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    out: *mut *mut E::Opaque,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, config, mut out) =
            unsafe { (boundary::c_str(endpoint, "endpoint")?, ferry_config::read(cfg)?, Out::new(out, "out")?) };
        let end = E::create(endpoint, &config)?;
        out.set(boundary::into_raw(EndpointHandle::boxed(end)));
        Ok(())
    })
}

/// The body of `ferry_*_open_timeout`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
pub(crate) unsafe fn open_timeout<E: Endpoint>(
    endpoint: *const c_char,
    timeout_ns: u64,
    out: *mut *mut E::Opaque,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, mut out) = unsafe { (boundary::c_str(endpoint, "endpoint")?, Out::new(out, "out")?) };
        let end = E::open_timeout(endpoint, Duration::from_nanos(timeout_ns))?;
        out.set(boundary::into_raw(EndpointHandle::boxed(end)));
        Ok(())
    })
}

/// The body of `ferry_*_open` (`expect` is `None`) and `ferry_*_open_expecting`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `expect` holds NULL or an initialised
/// `ferry_config`; `out` is NULL or writable.
pub(crate) unsafe fn open<E: Endpoint>(
    endpoint: *const c_char,
    expect: Option<*const ferry_config>,
    out: *mut *mut E::Opaque,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, mut out) = unsafe { (boundary::c_str(endpoint, "endpoint")?, Out::new(out, "out")?) };
        let end = match expect {
            None => E::open(endpoint)?,
            Some(cfg) if cfg.is_null() => {
                return Err(Failure::fixed(FERRY_ERR_NULL_ARGUMENT, c"the config to expect is NULL"));
            }
            // SAFETY: a non-NULL initialised config (caller's contract).
            Some(cfg) => E::open_expecting(endpoint, &unsafe { ferry_config::read(cfg) }?)?,
        };
        out.set(boundary::into_raw(EndpointHandle::boxed(end)));
        Ok(())
    })
}

/// The body of `ferry_*_clone`.
///
/// # Safety
///
/// `h` is NULL or a live handle; `out` is NULL or writable.
pub(crate) unsafe fn clone<E: Endpoint>(h: *mut E::Opaque, out: *mut *mut E::Opaque) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (handle::<E>(h)?, Out::new(out, "out")?) };
        let clone = handle.get()?.try_clone()?;
        out.set(boundary::into_raw(EndpointHandle::boxed(clone)));
        Ok(())
    })
}

/// The body of `ferry_*_close`: ends any borrow C holds and detaches the end, keeping
/// the handle.
///
/// # Safety
///
/// `h` is NULL or a live handle.
pub(crate) unsafe fn close<E: Endpoint>(h: *mut E::Opaque) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        if unsafe { handle::<E>(h) }?.end.close() {
            Ok(())
        } else {
            Err(Failure::new(FERRY_ERR_CLOSED, format!("the {} was closed already", E::WHAT)))
        }
    })
}

/// The body of `ferry_*_free`: NULL is ignored, and a pointer that is not a handle of
/// this end is left alone (the last error says so).
///
/// # Safety
///
/// `h` is NULL or a live handle, not used again after this call.
pub(crate) unsafe fn free<E: Endpoint>(h: *mut E::Opaque) {
    let _ = boundary::status(|| {
        // SAFETY: the caller's contract.
        drop(unsafe { boundary::take::<EndpointHandle<E>>(h) }?);
        Ok(())
    });
}

/// The body of `ferry_*_slot_size`, `ferry_*_capacity` and `ferry_*_capacity_bytes`:
/// writes what `size` reads from the open handle.
///
/// # Safety
///
/// `h` is NULL or a live handle; `out` is NULL or writable.
unsafe fn size<E: Endpoint>(
    h: *const E::Opaque,
    out: *mut usize,
    what: &str,
    size: fn(&EndpointHandle<E>) -> usize,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (handle_ref::<E>(h)?, Out::new(out, what)?) };
        handle.attached()?;
        out.set(size(handle));
        Ok(())
    })
}

/// The body of `ferry_*_slot_size`.
///
/// # Safety
///
/// `h` is NULL or a live handle; `slot_size` is NULL or writable.
pub(crate) unsafe fn slot_size<E: Endpoint>(h: *const E::Opaque, slot_size: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { size::<E>(h, slot_size, "slot_size", |handle| handle.slot_size) }
}

/// The body of `ferry_*_capacity`.
///
/// # Safety
///
/// `h` is NULL or a live handle; `capacity` is NULL or writable.
pub(crate) unsafe fn capacity<E: Endpoint>(h: *const E::Opaque, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { size::<E>(h, capacity, "capacity", |handle| handle.capacity) }
}

/// The body of `ferry_*_capacity_bytes`.
///
/// # Safety
///
/// `h` is NULL or a live handle; `capacity_bytes` is NULL or writable.
pub(crate) unsafe fn capacity_bytes<E: Endpoint>(h: *const E::Opaque, capacity_bytes: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { size::<E>(h, capacity_bytes, "capacity_bytes", |handle| handle.capacity_bytes) }
}

/// The body of `ferry_*_fallback_reason`; answers on a closed handle too.
///
/// # Safety
///
/// `h` is NULL or a live handle; `reason` is NULL or writable.
pub(crate) unsafe fn fallback_reason<E: Endpoint>(h: *const E::Opaque, reason: *mut *const c_char) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (handle_ref::<E>(h)?, Out::new(reason, "reason")?) };
        out.set(handle.fallback.as_ref().map_or(ptr::null(), |why| why.as_ptr()));
        Ok(())
    })
}

/// The body of `ferry_*_set_wait_policy`.
///
/// # Safety
///
/// `h` is NULL or a live handle.
pub(crate) unsafe fn set_wait_policy<E: Endpoint>(h: *mut E::Opaque, spin_ns: u64, yield_ns: u64) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        unsafe { handle::<E>(h) }?.get()?.set_wait_policy(wait::policy(spin_ns, yield_ns));
        Ok(())
    })
}
