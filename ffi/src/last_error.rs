//! The per-thread message of the last failure, read with `ferry_last_error_message`.

use std::{
    cell::RefCell,
    ffi::{CStr, CString},
    os::raw::c_char,
};

use crate::{
    boundary,
    status::{Detail, Failure},
};

/// A last-error message, NUL-terminated and ready to hand out.
enum Message {
    Static(&'static CStr),
    Owned(CString),
}

thread_local! {
    /// The message of the last failed call on this thread; successful calls leave it.
    static LAST: RefCell<Message> = const { RefCell::new(Message::Static(c"")) };
}

/// Records `failure`'s detail as this thread's last error.
pub(crate) fn record(failure: Failure) {
    let message = match failure.detail {
        Detail::Static(text) => Message::Static(text),
        // An error message holds no NUL, but a name from the caller might.
        Detail::Owned(text) => Message::Owned(CString::new(text.replace('\0', "\\0")).unwrap_or_default()),
    };
    // A thread being torn down has no last error to keep: the status still tells.
    let _ = LAST.try_with(|last| *last.borrow_mut() = message);
}

/// Returns a NUL-terminated description of the last failure on the calling thread, in
/// more detail than `ferry_strerror` (which channel, which sizes, the operating
/// system's error, what to do). Returns an empty string if no ferry call has failed on
/// this thread. Never NULL. Each thread has its own.
///
/// Successful calls do not clear it: read it right after the call that returned an
/// error. The string belongs to the library and stays valid until the next ferry call
/// on the same thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn ferry_last_error_message() -> *const c_char {
    boundary::value(c"".as_ptr(), || {
        LAST.try_with(|last| match &*last.borrow() {
            Message::Static(text) => text.as_ptr(),
            // The CString stays in LAST until the next failure replaces it.
            Message::Owned(text) => text.as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
    })
}
