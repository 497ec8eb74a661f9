//! `ferry_sender`: the sending end, with copy sends and zero-copy loans.
//!
//! A [`Loan`] crosses the boundary as a borrow kept by a
//! [`Lender`](crate::lender::Lender) (see `lender.rs`): while C holds one, every other
//! path to the sender (`send`, another loan, `set_wait_policy`) is refused with
//! `FERRY_ERR_STATE`, and `ferry_commit` / `ferry_loan_cancel` finish it. Between
//! `ferry_loan` and the commit, Rust does not touch the slot's bytes at all: the pointer
//! handed to C keeps its write permission (checked under Miri with both Stacked and Tree
//! Borrows, `channel.rs` tests). Misuse from C (a second commit, a commit with no loan)
//! finds no loan and gets a status.
//!
//! What the sender shares with the receiver (the handle, create/open/clone/close/free,
//! the getters, the wait policy) is written once in `endpoint.rs`. Here are the
//! `extern "C"` functions, whose doc comments make the header, and what only a sender
//! does: how it lends a slot, send, commit and cancel.

use std::{
    ffi::{c_void, CStr},
    os::raw::c_char,
    ptr,
};

use ferry::{Loan, Sender};

use crate::{
    boundary::{self, Out},
    config::ferry_config,
    endpoint::{self, Endpoint, EndpointHandle},
    status::{ferry_status, ferry_status::*, Failure},
    wait::Patience,
};

/// The sending end of a channel (opaque).
///
/// Made by `ferry_sender_create`, `ferry_sender_open`, `ferry_sender_open_timeout`,
/// `ferry_sender_open_expecting`, `ferry_sender_clone` or `ferry_in_memory`; freed by
/// `ferry_sender_free`. A handle may move between threads but is used by one thread at a
/// time; distinct handles may be used concurrently.
#[allow(non_camel_case_types)]
pub struct ferry_sender {
    _private: [u8; 0],
}

impl Endpoint for Sender {
    type Opaque = ferry_sender;
    type Borrow = Loan<'static>;
    const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSND");
    const WHAT: &'static str = "sender";
    const LENT: &'static CStr = c"a loan is outstanding: finish it with ferry_commit or ferry_loan_cancel first";
    const LENT_AGAIN: &'static CStr = c"a loan is already outstanding: commit or cancel it before taking another";

    fn lend(sender: &'static mut Self, patience: Patience) -> Result<Loan<'static>, Failure> {
        Ok(match patience {
            Patience::Block => sender.loan(),
            Patience::Try => sender.try_loan(),
            Patience::For(timeout) => sender.loan_timeout(timeout),
        }?)
    }
}

/// Misuse of `ferry_commit`.
const NO_LOAN_TO_COMMIT: &CStr =
    c"no loan is outstanding: ferry_commit needs a slot from ferry_loan (was it committed already?)";

impl EndpointHandle<Sender> {
    /// Sends the first `len` bytes of the loan C holds; a `len` too large keeps the loan.
    fn commit(&mut self, len: usize) -> Result<(), Failure> {
        if !self.is_lent()? {
            return Err(Failure::fixed(FERRY_ERR_STATE, NO_LOAN_TO_COMMIT));
        }
        let capacity = self.borrowed(NO_LOAN_TO_COMMIT)?.capacity();
        if len > capacity {
            return Err(Failure::new(
                FERRY_ERR_TOO_LARGE,
                format!("committing {len} bytes into a loan of {capacity} bytes; the loan is still outstanding"),
            ));
        }
        self.take(NO_LOAN_TO_COMMIT)?.commit(len);
        Ok(())
    }

    /// Drops the loan C holds, sending nothing.
    fn cancel(&mut self) -> Result<(), Failure> {
        // Dropping an uncommitted loan sends nothing and frees the slot.
        drop(self.take(c"no loan is outstanding: there is nothing to cancel")?);
        Ok(())
    }
}

/// Creates the shared-memory channel `endpoint` and attaches to it as its sender.
///
/// `endpoint`: `NAME`, `shm:NAME` or `auto:NAME` (socket and FIFO channels are created
/// by their receiver). `cfg`: the channel's shape, from `ferry_config_init`; NULL for
/// the defaults. On success `*out` receives a new handle, to free with
/// `ferry_sender_free`; the channel's name is removed when it is freed (processes
/// attached keep working). On failure `*out` is set to NULL.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ARGUMENT` (bad `cfg->size`),
/// `FERRY_ERR_INVALID_CONFIG`, `FERRY_ERR_INVALID_ENDPOINT`, `FERRY_ERR_INVALID_NAME`,
/// `FERRY_ERR_UNSUPPORTED` (`unix:` and `fifo:`), `FERRY_ERR_ALREADY_EXISTS`,
/// `FERRY_ERR_PERMISSION_DENIED`, `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `cfg` is NULL or an initialised
/// `ferry_config`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_create(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    out: *mut *mut ferry_sender,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::create::<Sender>(endpoint, cfg, out) }
}

/// Opens the existing channel `endpoint` as a sender, whatever its shape.
///
/// `endpoint`: `NAME`, `shm:NAME`, `unix:PATH`, `fifo:PATH` or `auto:NAME` (shared
/// memory, else the Unix socket it fell back to). On success `*out` receives a new
/// handle, to free with `ferry_sender_free`; on failure `*out` is set to NULL.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ENDPOINT`,
/// `FERRY_ERR_INVALID_NAME`, `FERRY_ERR_NOT_FOUND`, `FERRY_ERR_ROLE_TAKEN` (an SPSC
/// channel with a live sender), `FERRY_ERR_UNSUPPORTED` (a second sender on a FIFO),
/// `FERRY_ERR_PERMISSION_DENIED`, `FERRY_ERR_BAD_MAGIC`, `FERRY_ERR_VERSION_MISMATCH`,
/// `FERRY_ERR_CORRUPT_HEADER`, `FERRY_ERR_SIZE_MISMATCH`, `FERRY_ERR_NOT_INITIALISED`,
/// `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_open(endpoint: *const c_char, out: *mut *mut ferry_sender) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open::<Sender>(endpoint, None, out) }
}

/// Like `ferry_sender_open`, but waits up to `timeout_ns` nanoseconds for the channel
/// to be created, so the two sides may start in any order: while no channel of that
/// name is there (or it is still being initialised) the open is tried again, sleeping
/// 1 ms, doubling up to 50 ms, between tries.
///
/// Errors: `FERRY_ERR_TIMEOUT` if the channel did not appear in time (the last-error
/// message names the endpoint); any other error of `ferry_sender_open` at once.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_open_timeout(
    endpoint: *const c_char,
    timeout_ns: u64,
    out: *mut *mut ferry_sender,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open_timeout::<Sender>(endpoint, timeout_ns, out) }
}

/// Like `ferry_sender_open`, but fails with `FERRY_ERR_GEOMETRY_MISMATCH` unless the
/// channel has `cfg`'s kind, signaling, slot size and capacity (on sockets and FIFOs,
/// its slot size). `cfg` must not be NULL.
///
/// # Safety
///
/// As for `ferry_sender_open`; `cfg` is NULL or an initialised `ferry_config`.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_open_expecting(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    out: *mut *mut ferry_sender,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open::<Sender>(endpoint, Some(cfg), out) }
}

/// Attaches another sender to the same channel: an MPMC ring, or another connection to
/// a Unix socket. `*out` receives the new handle (NULL on failure).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding on `s`), `FERRY_ERR_DISCONNECTED` (the
/// receivers have gone), `FERRY_ERR_ROLE_TAKEN` (SPSC), `FERRY_ERR_UNSUPPORTED` (FIFO),
/// `FERRY_ERR_IO`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_clone(s: *mut ferry_sender, out: *mut *mut ferry_sender) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::clone::<Sender>(s, out) }
}

/// Detaches the sender from its channel now (cancelling an outstanding loan; the
/// receiver sees `FERRY_ERR_DISCONNECTED` once it has read everything) but keeps the
/// handle, so later calls on it fail with `FERRY_ERR_CLOSED` instead of touching freed
/// memory. `ferry_sender_free` still has to be called.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED` (closed
/// already; nothing happens).
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_close(s: *mut ferry_sender) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::close::<Sender>(s) }
}

/// Frees a sender handle: cancels an outstanding loan, detaches from the channel (the
/// creator's handle also removes the channel's name) and releases the memory. NULL is
/// accepted and ignored. A pointer that is not a sender handle is left alone (the
/// thread's last error says so). The handle must not be used afterwards.
///
/// # Safety
///
/// `s` is NULL or a live handle, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_free(s: *mut ferry_sender) {
    // SAFETY: the caller's contract.
    unsafe { endpoint::free::<Sender>(s) }
}

/// Sets `*slot_size` to the largest message the channel carries, in bytes (also the
/// capacity of every loan).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `slot_size` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_slot_size(s: *const ferry_sender, slot_size: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::slot_size::<Sender>(s, slot_size) }
}

/// Sets `*capacity` to how many messages a shared-memory ring holds at once; 0 on a channel
/// sized in bytes (see `ferry_sender_capacity_bytes`), and on sockets and FIFOs, whose
/// kernel buffers hold a number of messages that depends on their size.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `capacity` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_capacity(s: *const ferry_sender, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity::<Sender>(s, capacity) }
}

/// Sets `*capacity_bytes` to the bytes of a shared-memory channel sized in bytes
/// (`ferry_config.capacity_bytes`); 0 on a ring of slots (see `ferry_sender_capacity`),
/// and on sockets and FIFOs.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `capacity_bytes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_capacity_bytes(
    s: *const ferry_sender,
    capacity_bytes: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity_bytes::<Sender>(s, capacity_bytes) }
}

/// Sets `*reason` to why an `auto:` endpoint fell back from shared memory to a Unix
/// socket, or to NULL if it did not. The string belongs to the handle and lives as long
/// as it.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `reason` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_fallback_reason(
    s: *const ferry_sender,
    reason: *mut *const c_char,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::fallback_reason::<Sender>(s, reason) }
}

/// Sets how this sender's blocking calls wait for room: spin for `spin_ns`
/// nanoseconds, then yield the CPU for `yield_ns`, then sleep in the kernel until woken.
/// (0, 0) sleeps at once; the default spins for a few microseconds and yields for a few
/// tens of microseconds.
/// Shared memory only; sockets and FIFOs sleep in `poll`.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding).
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_set_wait_policy(
    s: *mut ferry_sender,
    spin_ns: u64,
    yield_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::set_wait_policy::<Sender>(s, spin_ns, yield_ns) }
}

/// Copies the `len` bytes at `buf` into the channel as one message, waiting while the
/// channel is full. The caller keeps `buf`. `buf` may be NULL when `len` is 0 (an empty
/// message).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding), `FERRY_ERR_TOO_LARGE` (`len` is larger
/// than the slot size), `FERRY_ERR_DISCONNECTED` (the receiver has gone),
/// `FERRY_ERR_CORRUPT`. Nothing is sent on error.
///
/// # Safety
///
/// `s` is NULL or a live handle; `buf` is NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ferry_send(s: *mut ferry_sender, buf: *const c_void, len: usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { send(s, buf, len, Patience::Block) }
}

/// Like `ferry_send`, but fails with `FERRY_ERR_FULL` instead of waiting. On shared
/// memory it never enters the kernel unless a receiver sleeps and must be woken.
///
/// # Safety
///
/// As for `ferry_send`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_send(s: *mut ferry_sender, buf: *const c_void, len: usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { send(s, buf, len, Patience::Try) }
}

/// Like `ferry_send`, but waits at most `timeout_ns` nanoseconds for room, then fails
/// with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_send`.
#[no_mangle]
pub unsafe extern "C" fn ferry_send_timeout(
    s: *mut ferry_sender,
    buf: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { send(s, buf, len, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_send`.
unsafe fn send(s: *mut ferry_sender, buf: *const c_void, len: usize, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, message) = unsafe { (endpoint::handle::<Sender>(s)?, boundary::bytes(buf, len)?) };
        let sender = handle.get()?;
        match patience {
            Patience::Block => sender.send(message),
            Patience::Try => sender.try_send(message),
            Patience::For(timeout) => sender.send_timeout(message, timeout),
        }?;
        Ok(())
    })
}

/// Zero-copy send, step 1: borrows a free slot of the channel, waiting while it is full.
/// `*ptr` receives the slot's payload (16-byte aligned on shared memory) and
/// `*capacity` its size in bytes (the slot size). Write the message there, then call
/// `ferry_commit(s, len)` to send its first `len` bytes, or `ferry_loan_cancel(s)` to
/// send nothing. The pointer is valid until then; the library owns the memory.
///
/// While the loan is outstanding, the other calls on `s` fail with `FERRY_ERR_STATE`.
/// On sockets and FIFOs the slot is a buffer in this process that the commit writes out.
/// On failure `*ptr` is NULL and `*capacity` 0.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding already), `FERRY_ERR_DISCONNECTED`,
/// `FERRY_ERR_CORRUPT`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `ptr` and `capacity` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_loan(s: *mut ferry_sender, ptr: *mut *mut c_void, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan(s, ptr, capacity, Patience::Block) }
}

/// Like `ferry_loan`, but fails with `FERRY_ERR_FULL` instead of waiting. On shared
/// memory it never enters the kernel.
///
/// # Safety
///
/// As for `ferry_loan`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_loan(
    s: *mut ferry_sender,
    ptr: *mut *mut c_void,
    capacity: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan(s, ptr, capacity, Patience::Try) }
}

/// Like `ferry_loan`, but waits at most `timeout_ns` nanoseconds for a free slot, then
/// fails with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_loan`.
#[no_mangle]
pub unsafe extern "C" fn ferry_loan_timeout(
    s: *mut ferry_sender,
    ptr: *mut *mut c_void,
    capacity: *mut usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan(s, ptr, capacity, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_loan`.
unsafe fn loan(s: *mut ferry_sender, ptr: *mut *mut c_void, capacity: *mut usize, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe {
            boundary::set_if_some(ptr, ptr::null_mut());
            boundary::set_if_some(capacity, 0);
        }
        // SAFETY: the caller's contract.
        let (handle, mut ptr, mut capacity) =
            unsafe { (endpoint::handle::<Sender>(s)?, Out::new(ptr, "ptr")?, Out::new(capacity, "capacity")?) };
        let slot_size = handle.slot_size();
        let loan = handle.lend(patience)?;
        // The pointer C writes through is the last reborrow of the slot until the loan
        // ends: nothing in Rust reads the slot meanwhile (not even `loan.len()`, whose
        // shared reborrow would take the pointer's write permission away under Tree
        // Borrows), so its size is the cached slot size, which every loan has.
        ptr.set(loan.as_mut_ptr().cast());
        capacity.set(slot_size);
        Ok(())
    })
}

/// Zero-copy send of a message of `n` bytes on a channel sized in bytes
/// (`ferry_config.capacity_bytes`): like `ferry_loan`, but lends exactly `n` bytes (0 to
/// the largest message), one contiguous region in the ring, so a small message takes
/// little room. Finish it with `ferry_commit(s, len)` (`len <= n`) or
/// `ferry_loan_cancel`. On a channel of fixed slots it lends a slot, of which the first
/// `n` bytes may be used. On failure `*ptr` is NULL.
///
/// Errors: as for `ferry_loan`, plus `FERRY_ERR_TOO_LARGE` (`n` is above the largest
/// message).
///
/// # Safety
///
/// `s` is NULL or a live handle; `ptr` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_loan_bytes(s: *mut ferry_sender, n: usize, ptr: *mut *mut c_void) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(s, n, ptr, Patience::Block) }
}

/// Like `ferry_loan_bytes`, but fails with `FERRY_ERR_FULL` instead of waiting for
/// contiguous room.
///
/// # Safety
///
/// As for `ferry_loan_bytes`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_loan_bytes(s: *mut ferry_sender, n: usize, ptr: *mut *mut c_void) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(s, n, ptr, Patience::Try) }
}

/// Like `ferry_loan_bytes`, but waits at most `timeout_ns` nanoseconds for room, then
/// fails with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_loan_bytes`.
#[no_mangle]
pub unsafe extern "C" fn ferry_loan_bytes_timeout(
    s: *mut ferry_sender,
    n: usize,
    ptr: *mut *mut c_void,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(s, n, ptr, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_loan_bytes`.
unsafe fn loan_bytes(s: *mut ferry_sender, n: usize, ptr: *mut *mut c_void, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(ptr, ptr::null_mut()) };
        // SAFETY: the caller's contract.
        let (handle, mut ptr) = unsafe { (endpoint::handle::<Sender>(s)?, Out::new(ptr, "ptr")?) };
        let loan = handle.lend_by(|sender| {
            Ok(match patience {
                Patience::Block => sender.loan_bytes(n),
                Patience::Try => sender.try_loan_bytes(n),
                Patience::For(timeout) => sender.loan_bytes_timeout(n, timeout),
            }?)
        })?;
        // As in `loan`: the pointer is the last reborrow of the region until the loan ends.
        ptr.set(loan.as_mut_ptr().cast());
        Ok(())
    })
}

/// Zero-copy send, step 2: sends the first `len` bytes of the outstanding loan's slot
/// as one message (published at once; on a socket or FIFO, written out now, and if the
/// receiver has gone the next call on `s` reports it). The loan's pointer must not be
/// used afterwards.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no loan is outstanding: none was taken, or it was committed or
/// cancelled already), `FERRY_ERR_TOO_LARGE` (`len` is larger than the loan's capacity;
/// the loan stays outstanding).
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_commit(s: *mut ferry_sender, len: usize) -> ferry_status {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe { endpoint::handle::<Sender>(s) }?.commit(len))
}

/// Gives the outstanding loan's slot back without sending anything.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no loan is outstanding).
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_loan_cancel(s: *mut ferry_sender) -> ferry_status {
    // SAFETY: the caller's contract.
    boundary::status(|| unsafe { endpoint::handle::<Sender>(s) }?.cancel())
}
