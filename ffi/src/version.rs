//! The library's version and the shared-memory layout version it speaks.

use std::os::raw::c_char;

use crate::boundary;

/// The library version, e.g. "0.1.0": a static NUL-terminated string, never NULL.
#[no_mangle]
pub extern "C" fn ferry_version() -> *const c_char {
    boundary::value(c"unknown".as_ptr(), || concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast())
}

/// The shared-memory layout version this library reads and writes. Processes attach to
/// the same channel only if they speak the same layout; compare it with
/// `FERRY_LAYOUT_VERSION` to check the header and the library agree.
#[no_mangle]
pub extern "C" fn ferry_layout_version() -> u32 {
    boundary::value(0, || ferry::LAYOUT_VERSION)
}
