//! `ferry_receiver`: the receiving end, with copy receives and zero-copy acquire/release.
//!
//! An acquired message crosses the boundary as a loan does: its `RecvGuard<'static>` is
//! a borrow kept by a [`Lender`](crate::lender::Lender) (see `lender.rs`). While C holds
//! it, every other path to the receiver is refused with `FERRY_ERR_STATE`;
//! `ferry_recv_release` drops it, which releases the message. A release with nothing
//! acquired finds no guard and gets a status.
//!
//! What the receiver shares with the sender (the handle, create/open/clone/close/free,
//! the getters, the wait policy) is written once in `endpoint.rs`. Here are the
//! `extern "C"` functions, whose doc comments make the header, and what only a receiver
//! does: how it lends a message, receive and release.

use std::{
    ffi::{c_void, CStr},
    os::raw::c_char,
    ptr,
};

use ferry::{Receiver, RecvError, RecvGuard};

use crate::{
    boundary::{self, Out},
    config::ferry_config,
    endpoint::{self, Endpoint, EndpointHandle},
    status::{ferry_status, Failure},
    wait::Patience,
};

/// The receiving end of a channel (opaque).
///
/// Made by `ferry_receiver_create`, `ferry_receiver_open`, `ferry_receiver_open_timeout`,
/// `ferry_receiver_open_expecting`, `ferry_receiver_clone` or `ferry_in_memory`; freed
/// by `ferry_receiver_free`. A handle may move between threads but is used by one thread
/// at a time; distinct handles may be used concurrently.
#[allow(non_camel_case_types)]
pub struct ferry_receiver {
    _private: [u8; 0],
}

impl Endpoint for Receiver {
    type Opaque = ferry_receiver;
    type Borrow = RecvGuard<'static>;
    const MAGIC: u64 = u64::from_le_bytes(*b"FERRYRCV");
    const WHAT: &'static str = "receiver";
    const LENT: &'static CStr = c"an acquired message is outstanding: release it with ferry_recv_release first";
    const LENT_AGAIN: &'static CStr =
        c"a message is acquired already: release it with ferry_recv_release before acquiring another";

    fn lend(receiver: &'static mut Self, patience: Patience) -> Result<RecvGuard<'static>, Failure> {
        Ok(match patience {
            Patience::Block => receiver.recv(),
            Patience::Try => receiver.try_recv(),
            Patience::For(timeout) => receiver.recv_timeout(timeout),
        }?)
    }
}

impl EndpointHandle<Receiver> {
    /// Drops the guard of the message C holds.
    fn release(&mut self) -> Result<(), Failure> {
        // Dropping the guard hands the slot back to the senders.
        drop(self.take(
            c"no message is acquired: ferry_recv_release needs one from ferry_recv_acquire \
              (was it released already?)",
        )?);
        Ok(())
    }
}

/// Creates the channel `endpoint` and attaches to it as its receiver.
///
/// `endpoint`: `NAME` or `shm:NAME` (a shared-memory ring), `unix:PATH` (a listening
/// Unix socket), `fifo:PATH` (a named pipe), or `auto:NAME` (shared memory, else a Unix
/// socket; `ferry_receiver_fallback_reason` says why). `cfg`: the channel's shape, from
/// `ferry_config_init`; NULL for the defaults. On success `*out` receives a new handle,
/// to free with `ferry_receiver_free`; the channel's name (segment, socket or FIFO) is
/// removed when it is freed. On failure `*out` is set to NULL.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ARGUMENT` (bad `cfg->size`),
/// `FERRY_ERR_INVALID_CONFIG`, `FERRY_ERR_INVALID_ENDPOINT`, `FERRY_ERR_INVALID_NAME`,
/// `FERRY_ERR_ALREADY_EXISTS` (a segment of that name, or a socket or FIFO a live
/// receiver holds), `FERRY_ERR_PERMISSION_DENIED`, `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `cfg` is NULL or an initialised
/// `ferry_config`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_create(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    out: *mut *mut ferry_receiver,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::create::<Receiver>(endpoint, cfg, out) }
}

/// Opens the existing shared-memory channel `endpoint` (`NAME`, `shm:NAME` or
/// `auto:NAME`) as a receiver, whatever its shape. (A socket or FIFO has one receiver,
/// its creator.) On success `*out` receives a new handle; on failure it is set to NULL.
///
/// Errors: as for `ferry_sender_open`, with `FERRY_ERR_ROLE_TAKEN` for an SPSC channel
/// with a live receiver and `FERRY_ERR_UNSUPPORTED` for `unix:` and `fifo:`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_open(endpoint: *const c_char, out: *mut *mut ferry_receiver) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open::<Receiver>(endpoint, None, out) }
}

/// Like `ferry_receiver_open`, but waits up to `timeout_ns` nanoseconds for the channel
/// to be created, as `ferry_sender_open_timeout` does.
///
/// Errors: `FERRY_ERR_TIMEOUT` if the channel did not appear in time; any other error
/// of `ferry_receiver_open` at once.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_open_timeout(
    endpoint: *const c_char,
    timeout_ns: u64,
    out: *mut *mut ferry_receiver,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open_timeout::<Receiver>(endpoint, timeout_ns, out) }
}

/// Like `ferry_receiver_open`, but fails with `FERRY_ERR_GEOMETRY_MISMATCH` unless the
/// channel has `cfg`'s kind, signaling, slot size and capacity. `cfg` must not be NULL.
///
/// # Safety
///
/// As for `ferry_receiver_open`; `cfg` is NULL or an initialised `ferry_config`.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_open_expecting(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    out: *mut *mut ferry_receiver,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open::<Receiver>(endpoint, Some(cfg), out) }
}

/// Attaches another receiver to the same MPMC channel. `*out` receives the new handle
/// (NULL on failure).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a message is acquired on `r`), `FERRY_ERR_DISCONNECTED` (the
/// senders have gone and the channel is empty), `FERRY_ERR_ROLE_TAKEN` (SPSC),
/// `FERRY_ERR_UNSUPPORTED` (sockets and FIFOs), `FERRY_ERR_IO`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_clone(r: *mut ferry_receiver, out: *mut *mut ferry_receiver) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::clone::<Receiver>(r, out) }
}

/// Detaches the receiver from its channel now (releasing an acquired message; senders
/// see `FERRY_ERR_DISCONNECTED`) but keeps the handle, so later calls on it fail with
/// `FERRY_ERR_CLOSED` instead of touching freed memory. `ferry_receiver_free` still has
/// to be called.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED` (closed
/// already; nothing happens).
///
/// # Safety
///
/// `r` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_close(r: *mut ferry_receiver) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::close::<Receiver>(r) }
}

/// Frees a receiver handle: releases an acquired message, detaches from the channel
/// (the creator's handle also removes the channel's name) and releases the memory. NULL
/// is accepted and ignored. A pointer that is not a receiver handle is left alone (the
/// thread's last error says so). The handle must not be used afterwards.
///
/// # Safety
///
/// `r` is NULL or a live handle, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_free(r: *mut ferry_receiver) {
    // SAFETY: the caller's contract.
    unsafe { endpoint::free::<Receiver>(r) }
}

/// Sets `*slot_size` to the largest message the channel carries, in bytes.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `slot_size` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_slot_size(r: *const ferry_receiver, slot_size: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::slot_size::<Receiver>(r, slot_size) }
}

/// Sets `*capacity` to how many messages a shared-memory ring holds at once; 0 on a channel
/// sized in bytes (see `ferry_receiver_capacity_bytes`), on sockets and FIFOs.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `capacity` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_capacity(r: *const ferry_receiver, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity::<Receiver>(r, capacity) }
}

/// Sets `*capacity_bytes` to the bytes of a shared-memory channel sized in bytes
/// (`ferry_config.capacity_bytes`); 0 on a ring of slots (see `ferry_receiver_capacity`),
/// on sockets and FIFOs.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `capacity_bytes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_capacity_bytes(
    r: *const ferry_receiver,
    capacity_bytes: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity_bytes::<Receiver>(r, capacity_bytes) }
}

/// Sets `*reason` to why an `auto:` endpoint fell back from shared memory to a Unix
/// socket, or to NULL if it did not. The string belongs to the handle and lives as long
/// as it.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `reason` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_fallback_reason(
    r: *const ferry_receiver,
    reason: *mut *const c_char,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::fallback_reason::<Receiver>(r, reason) }
}

/// Sets how this receiver's blocking calls wait for a message: spin for `spin_ns`
/// nanoseconds, then yield the CPU for `yield_ns`, then sleep in the kernel until woken.
/// (0, 0) sleeps at once; the default spins for a few microseconds and yields for a few
/// tens of microseconds.
/// Shared memory only; sockets and FIFOs sleep in `poll`.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a message is acquired).
///
/// # Safety
///
/// `r` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_set_wait_policy(
    r: *mut ferry_receiver,
    spin_ns: u64,
    yield_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::set_wait_policy::<Receiver>(r, spin_ns, yield_ns) }
}

/// Waits for a message and copies it into `buf` (`cap` bytes); `*len` receives its
/// length. `buf` may be NULL when `cap` is 0 (only an empty message fits).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a message is acquired), `FERRY_ERR_BUFFER_TOO_SMALL` (the message
/// is longer than `cap`: it stays in the channel, and `*len` receives its length so you
/// can retry with a larger buffer), `FERRY_ERR_DISCONNECTED` (the channel is empty and
/// every sender has gone), `FERRY_ERR_CORRUPT`. Nothing is consumed on error.
///
/// # Safety
///
/// `r` is NULL or a live handle; `buf` is NULL or writable for `cap` bytes; `len` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_recv(
    r: *mut ferry_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(r, buf, cap, len, Patience::Block) }
}

/// Like `ferry_recv`, but fails with `FERRY_ERR_EMPTY` instead of waiting. On shared
/// memory it never enters the kernel unless a sender sleeps and must be woken.
///
/// # Safety
///
/// As for `ferry_recv`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_recv(
    r: *mut ferry_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(r, buf, cap, len, Patience::Try) }
}

/// Like `ferry_recv`, but waits at most `timeout_ns` nanoseconds for a message, then
/// fails with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_recv`.
#[no_mangle]
pub unsafe extern "C" fn ferry_recv_timeout(
    r: *mut ferry_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(r, buf, cap, len, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_recv`.
unsafe fn recv(
    r: *mut ferry_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    patience: Patience,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut len) = unsafe { (endpoint::handle::<Receiver>(r)?, Out::new(len, "len")?) };
        len.set(0);
        let receiver = handle.get()?;
        // SAFETY: NULL or writable for `cap` bytes, used by no one else during the call
        // (caller's contract).
        let buf = unsafe { boundary::bytes_mut(buf, cap) }?;
        let received = match patience {
            Patience::Block => receiver.recv_into(buf),
            Patience::Try => receiver.try_recv_into(buf),
            Patience::For(timeout) => receiver.recv_into_timeout(buf, timeout),
        };
        match received {
            Ok(n) => {
                len.set(n);
                Ok(())
            }
            Err(error) => {
                if let RecvError::BufferTooSmall { needed } = error {
                    len.set(needed);
                }
                Err(error.into())
            }
        }
    })
}

/// Zero-copy receive, step 1: waits for a message and lends it in place: `*ptr`
/// receives the address of its bytes and `*len` their number. Read them, then call
/// `ferry_recv_release(r)` to hand the slot back to the senders. The pointer is valid
/// until then; the library owns the memory. On failure `*ptr` is NULL and `*len` 0.
///
/// While the message is held, the other receive calls on `r` fail with
/// `FERRY_ERR_STATE`. The bytes are read in place: a hostile sender could change them
/// while you read; copy them out first (`ferry_recv`) if the peer is not trusted.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a message is acquired already), `FERRY_ERR_DISCONNECTED`,
/// `FERRY_ERR_CORRUPT`.
///
/// # Safety
///
/// `r` is NULL or a live handle; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_recv_acquire(
    r: *mut ferry_receiver,
    ptr: *mut *const c_void,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { acquire(r, ptr, len, Patience::Block) }
}

/// Like `ferry_recv_acquire`, but fails with `FERRY_ERR_EMPTY` instead of waiting.
///
/// # Safety
///
/// As for `ferry_recv_acquire`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_recv_acquire(
    r: *mut ferry_receiver,
    ptr: *mut *const c_void,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { acquire(r, ptr, len, Patience::Try) }
}

/// Like `ferry_recv_acquire`, but waits at most `timeout_ns` nanoseconds, then fails
/// with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_recv_acquire`.
#[no_mangle]
pub unsafe extern "C" fn ferry_recv_acquire_timeout(
    r: *mut ferry_receiver,
    ptr: *mut *const c_void,
    len: *mut usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { acquire(r, ptr, len, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_recv_acquire`.
unsafe fn acquire(
    r: *mut ferry_receiver,
    ptr: *mut *const c_void,
    len: *mut usize,
    patience: Patience,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe {
            boundary::set_if_some(ptr, ptr::null());
            boundary::set_if_some(len, 0);
        }
        // SAFETY: the caller's contract.
        let (handle, mut ptr, mut len) =
            unsafe { (endpoint::handle::<Receiver>(r)?, Out::new(ptr, "ptr")?, Out::new(len, "len")?) };
        let guard = handle.lend(patience)?;
        ptr.set(guard.as_ptr().cast());
        len.set(guard.len());
        Ok(())
    })
}

/// Zero-copy receive, step 2: hands the acquired message's slot back to the senders.
/// Its pointer must not be used afterwards.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no message is acquired: none was, or it was released already).
///
/// # Safety
///
/// `r` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_recv_release(r: *mut ferry_receiver) -> ferry_status {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe { endpoint::handle::<Receiver>(r) }?.release())
}
