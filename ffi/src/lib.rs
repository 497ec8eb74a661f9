//! C ABI for ferry.
//!
//! The full ABI (endpoints, send/receive, zero-copy loans, status codes and the generated
//! `include/ferry.h`) is built by its own issue; this crate so far exposes the layout
//! version so a C program can check it speaks the same shared layout.

/// The shared-memory layout version this library reads and writes.
#[no_mangle]
pub extern "C" fn ferry_layout_version() -> u32 {
    ferry::LAYOUT_VERSION
}
