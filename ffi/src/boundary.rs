//! The boundary between C and Rust: every `extern "C"` body runs inside [`status`] or
//! [`value`], which catch a panic and turn it into `FERRY_ERR_PANIC` (so no unwind ever
//! crosses into C), and record a failure as the thread's last error. The checked
//! conversions of C arguments live here too: NULL is a status, never a dereference.

use std::{
    ffi::{c_void, CStr},
    os::raw::c_char,
    panic::{self, AssertUnwindSafe},
    ptr::{self, NonNull},
    slice,
};

use crate::{
    last_error,
    status::{
        ferry_status::{self, *},
        Failure,
    },
};

/// Runs the body of a function that returns a status. A panic becomes `FERRY_ERR_PANIC`;
/// a failure is recorded as the thread's last error and its status returned.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Failure>) -> ferry_status {
    // AssertUnwindSafe: after a panic the handle the body touched may be half-updated;
    // it stays memory-safe (Rust dropped what it unwound through) and FERRY_ERR_PANIC
    // tells the caller to free it.
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => FERRY_OK,
        Ok(Err(failure)) => fail(failure),
        Err(payload) => fail(Failure::panic(&*payload)),
    }
}

/// Runs the body of a function that returns a value and cannot fail; a panic (a bug)
/// yields `on_panic` and is recorded as the last error.
pub(crate) fn value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        last_error::record(Failure::panic(&*payload));
        on_panic
    })
}

fn fail(failure: Failure) -> ferry_status {
    let status = failure.status;
    last_error::record(failure);
    status
}

/// A Rust object handed to C behind an opaque pointer type.
///
/// # Safety
///
/// The implementing type must be `#[repr(C)]` with a `u64` first field that holds
/// `MAGIC` for as long as the object lives, so [`handle_mut`] can read the first eight
/// bytes of any ferry handle to tell the types apart.
pub(crate) unsafe trait Handle: Sized {
    /// The C-visible opaque type (`ferry_sender`, `ferry_receiver`).
    type Opaque;
    /// Tells this type's handles from the others'.
    const MAGIC: u64;
    /// `"sender"` or `"receiver"`, for messages.
    const WHAT: &'static str;
}

/// Hands a new handle to C.
pub(crate) fn into_raw<H: Handle>(handle: Box<H>) -> *mut H::Opaque {
    Box::into_raw(handle).cast()
}

/// Borrows the handle behind a C pointer.
///
/// # Safety
///
/// `ptr` is NULL or a handle returned by this library (of any type) and not yet freed,
/// used by no other thread during the borrow.
pub(crate) unsafe fn handle_mut<'a, H: Handle>(ptr: *mut H::Opaque) -> Result<&'a mut H, Failure> {
    // SAFETY: NULL or a live handle (caller's contract).
    let ptr = unsafe { checked::<H>(ptr) }?;
    // SAFETY: `checked` found H's magic number, so `ptr` came from `into_raw::<H>` and is
    // live (caller's contract); the caller's thread is the only user during `'a`.
    Ok(unsafe { &mut *ptr.as_ptr() })
}

/// Like [`handle_mut`], for a function that only reads the handle.
///
/// # Safety
///
/// As for [`handle_mut`].
pub(crate) unsafe fn handle_ref<'a, H: Handle>(ptr: *const H::Opaque) -> Result<&'a H, Failure> {
    // SAFETY: NULL or a live handle (caller's contract).
    let ptr = unsafe { checked::<H>(ptr.cast_mut()) }?;
    // SAFETY: as in `handle_mut`; only shared access.
    Ok(unsafe { &*ptr.as_ptr() })
}

/// Takes a handle back from C to drop it. NULL and handles of another type give `None`.
///
/// # Safety
///
/// As for [`handle_mut`]; the handle is not used again after this call.
pub(crate) unsafe fn take<H: Handle>(ptr: *mut H::Opaque) -> Result<Option<Box<H>>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: a live handle (caller's contract).
    let ptr = unsafe { checked::<H>(ptr) }?;
    // SAFETY: `ptr` came from `Box::into_raw` in `into_raw::<H>` (its magic number says
    // so) and the caller gives it up.
    Ok(Some(unsafe { Box::from_raw(ptr.as_ptr()) }))
}

/// # Safety
///
/// As for [`handle_mut`].
unsafe fn checked<H: Handle>(ptr: *mut H::Opaque) -> Result<NonNull<H>, Failure> {
    let Some(ptr) = NonNull::new(ptr.cast::<H>()) else {
        return Err(Failure::new(FERRY_ERR_NULL_ARGUMENT, format!("the {} handle is NULL", H::WHAT)));
    };
    // SAFETY: every ferry handle is a live, aligned `repr(C)` allocation starting with
    // its `u64` magic number (the `Handle` contract), so its first eight bytes are
    // readable whatever its type.
    let magic = unsafe { ptr.cast::<u64>().read() };
    if magic != H::MAGIC {
        return Err(Failure::new(
            FERRY_ERR_BAD_HANDLE,
            format!("the pointer passed as a ferry_{} is not one (a handle of another type?)", H::WHAT),
        ));
    }
    Ok(ptr)
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(FERRY_ERR_NULL_ARGUMENT, format!("the {what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map_err(|e| Failure::new(FERRY_ERR_INVALID_ENDPOINT, format!("the {what} {text:?} is not UTF-8: {e}")))
}

/// Borrows a message buffer of `len` bytes; NULL is accepted for `len == 0`.
///
/// # Safety
///
/// `ptr` is NULL or valid for reads of `len` bytes for `'a`, not written meanwhile.
pub(crate) unsafe fn bytes<'a>(ptr: *const c_void, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    check_buffer(ptr, len)?;
    // SAFETY: non-NULL, `len` readable bytes that nobody writes during `'a` (caller's
    // contract), `len <= isize::MAX` (checked); u8 needs no alignment.
    Ok(unsafe { slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Borrows a buffer of `len` bytes to receive into; NULL is accepted for `len == 0`.
///
/// # Safety
///
/// `ptr` is NULL or valid for writes of `len` bytes for `'a`, not accessed otherwise
/// meanwhile.
pub(crate) unsafe fn bytes_mut<'a>(ptr: *mut c_void, len: usize) -> Result<&'a mut [u8], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_buffer(ptr, len)?;
    // SAFETY: non-NULL, `len` writable bytes used by nobody else during `'a` (caller's
    // contract), `len <= isize::MAX` (checked). The bytes may be uninitialised C memory:
    // ferry only copies a message into this slice and never reads it, and the validity
    // of a reference does not depend on its pointee being initialised.
    Ok(unsafe { slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}

fn check_buffer(ptr: *const c_void, len: usize) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::new(FERRY_ERR_NULL_ARGUMENT, format!("the buffer is NULL but its length is {len}")));
    }
    if isize::try_from(len).is_err() {
        return Err(Failure::new(FERRY_ERR_INVALID_ARGUMENT, format!("a buffer length of {len} bytes is impossible")));
    }
    Ok(())
}

/// An out-parameter: a checked non-NULL pointer the result is written through.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks an out-parameter.
    ///
    /// # Safety
    ///
    /// `ptr` is NULL or valid and aligned for a write of `T` until [`Out::set`].
    pub(crate) unsafe fn new(ptr: *mut T, what: &str) -> Result<Self, Failure> {
        NonNull::new(ptr)
            .map(Self)
            .ok_or_else(|| Failure::new(FERRY_ERR_NULL_ARGUMENT, format!("the out-parameter `{what}` is NULL")))
    }

    /// Writes the result.
    pub(crate) fn set(&mut self, value: T) {
        // SAFETY: non-NULL, valid and aligned for a write of `T` (the contract of `new`);
        // `write` reads nothing, so the caller's memory may be uninitialised.
        unsafe { ptr::write(self.0.as_ptr(), value) }
    }
}

/// Sets `*out` to `value` if `out` is not NULL (for out-parameters that are optional,
/// or cleared first so a failed call leaves NULL behind).
///
/// # Safety
///
/// `out` is NULL or valid and aligned for a write of `T`.
pub(crate) unsafe fn set_if_some<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL, and valid and aligned for a write (caller's contract).
        unsafe { ptr::write(out, value) }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::last_error::ferry_last_error_message;

    fn last_error() -> String {
        // SAFETY: ferry_last_error_message returns a NUL-terminated string that lives
        // until the next ferry call on this thread.
        unsafe { CStr::from_ptr(ferry_last_error_message()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        assert_eq!(status(|| panic!("boom in a test")), FERRY_ERR_PANIC);
        assert!(last_error().contains("boom in a test"), "{}", last_error());
        assert_eq!(value(7, || -> i32 { panic!("{}", String::from("owned boom")) }), 7);
        assert!(last_error().contains("owned boom"));
    }

    #[test]
    fn failures_are_recorded_and_successes_leave_the_message() {
        assert_eq!(status(|| Err(Failure::new(FERRY_ERR_TIMEOUT, "waited too long"))), FERRY_ERR_TIMEOUT);
        assert_eq!(status(|| Ok(())), FERRY_OK);
        assert_eq!(last_error(), "waited too long");
    }

    #[test]
    fn null_and_oversized_arguments_are_refused() {
        // SAFETY: NULL is allowed; the lengths are never used to read.
        unsafe {
            assert_eq!(bytes(ptr::null(), 3).unwrap_err().status, FERRY_ERR_NULL_ARGUMENT);
            assert_eq!(bytes(ptr::null(), 0).unwrap(), &[] as &[u8]);
            let one = 1u8;
            let huge = usize::MAX;
            assert_eq!(bytes((&one as *const u8).cast(), huge).unwrap_err().status, FERRY_ERR_INVALID_ARGUMENT);
            assert_eq!(c_str(ptr::null(), "endpoint").unwrap_err().status, FERRY_ERR_NULL_ARGUMENT);
            assert_eq!(c_str(c"\xff".as_ptr(), "endpoint").unwrap_err().status, FERRY_ERR_INVALID_ENDPOINT);
        }
    }
}
