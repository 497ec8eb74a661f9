//! `ferry_publisher`: the publishing end of a broadcast channel, with copy publishes and
//! zero-copy loans.
//!
//! The handle, create/open/clone/close/free, the getters and the wait policy are the
//! generic ones of `endpoint.rs`; a loan crosses the boundary as the sender's does (see
//! `sender.rs`), kept with its size ([`Lent`]) so a commit is checked against the loan
//! without reading its bytes. Here are the `extern "C"` functions, whose doc comments
//! make the header, and what only a publisher does.

use std::{
    ffi::{c_void, CStr},
    os::raw::c_char,
    ptr,
    time::Duration,
};

use ferry::{AttachError, Config, PublishLoan, Publisher, WaitPolicy};

use crate::{
    boundary::{self, Out},
    config::{ferry_broadcast_config, ferry_config},
    endpoint::{self, EndApi, Endpoint, EndpointHandle},
    status::{ferry_status, ferry_status::*, Failure},
    wait::Patience,
};

/// The publishing end of a broadcast channel (opaque).
///
/// Made by `ferry_publisher_create`, `ferry_publisher_open` or `ferry_publisher_clone`;
/// freed by `ferry_publisher_free`. Used by one thread at a time.
#[allow(non_camel_case_types)]
pub struct ferry_publisher {
    _private: [u8; 0],
}

impl EndApi for Publisher {
    fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Publisher::create(endpoint, config)
    }
    fn open(endpoint: &str) -> Result<Self, AttachError> {
        Publisher::open(endpoint)
    }
    fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Publisher::open_expecting(endpoint, config)
    }
    fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
        Publisher::open_timeout(endpoint, timeout)
    }
    fn try_clone(&self) -> Result<Self, AttachError> {
        Publisher::try_clone(self)
    }
    fn slot_size(&self) -> usize {
        Publisher::slot_size(self)
    }
    fn capacity(&self) -> usize {
        Publisher::capacity(self)
    }
    fn capacity_bytes(&self) -> usize {
        Publisher::capacity_bytes(self)
    }
    fn fallback_reason(&self) -> Option<&str> {
        // A broadcast channel lives in shared memory only.
        None
    }
    fn set_wait_policy(&mut self, policy: WaitPolicy) {
        Publisher::set_wait_policy(self, policy);
    }
}

/// The loan C holds, with its size.
///
/// `PublishLoan` tells its size only through `Deref`, whose shared reborrow of the bytes
/// would take the write permission of the pointer C holds away (under Tree Borrows), so
/// the size is noted when the loan is made, before that pointer is.
pub(crate) struct Lent {
    loan: PublishLoan<'static>,
    /// The bytes lent: the slot size, or the `n` of `ferry_publisher_loan_bytes`; the
    /// most `ferry_publisher_commit` may publish.
    size: usize,
}

impl Endpoint for Publisher {
    type Opaque = ferry_publisher;
    type Borrow = Lent;
    const MAGIC: u64 = u64::from_le_bytes(*b"FERRYPUB");
    const WHAT: &'static str = "publisher";
    const LENT: &'static CStr =
        c"a loan is outstanding: finish it with ferry_publisher_commit or ferry_publisher_loan_cancel first";
    const LENT_AGAIN: &'static CStr = c"a loan is already outstanding: commit or cancel it before taking another";

    fn lend(publisher: &'static mut Self, patience: Patience) -> Result<Lent, Failure> {
        let size = publisher.slot_size();
        let loan = match patience {
            Patience::Block => publisher.loan(),
            Patience::Try => publisher.try_loan(),
            Patience::For(timeout) => publisher.loan_timeout(timeout),
        }?;
        Ok(Lent { loan, size })
    }
}

/// Misuse of `ferry_publisher_commit`.
const NO_LOAN_TO_COMMIT: &CStr = c"no loan is outstanding: ferry_publisher_commit needs a slot from \
    ferry_publisher_loan or ferry_publisher_loan_bytes (was it committed already?)";

/// Creates the broadcast channel `endpoint` (`NAME` or `shm:NAME`) and attaches to it
/// as a publisher. `cfg` (NULL for the defaults) gives the slot size, capacity (or
/// `capacity_bytes`, for messages of any size up to the slot size), signaling and mode
/// (its `kind` is ignored); `bcfg` (NULL for the defaults: block mode, no history, 128
/// subscriber seats) the policy, history and subscriber seats; a channel sized in bytes
/// blocks and keeps no history (`FERRY_POLICY_BLOCK`, `history` 0). The name is removed
/// when this handle is freed (attached processes keep working).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ARGUMENT`,
/// `FERRY_ERR_INVALID_CONFIG` (e.g. a history over half the capacity;
/// `FERRY_POLICY_OVERWRITE` or a history with `capacity_bytes`),
/// `FERRY_ERR_INVALID_ENDPOINT`, `FERRY_ERR_INVALID_NAME`, `FERRY_ERR_UNSUPPORTED`
/// (`unix:`, `fifo:`), `FERRY_ERR_ALREADY_EXISTS`, `FERRY_ERR_PERMISSION_DENIED`,
/// `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `cfg` is NULL or an initialised
/// `ferry_config`; `bcfg` is NULL or an initialised `ferry_broadcast_config`; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_create(
    endpoint: *const c_char,
    cfg: *const ferry_config,
    bcfg: *const ferry_broadcast_config,
    out: *mut *mut ferry_publisher,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, config, mut out) = unsafe {
            (boundary::c_str(endpoint, "endpoint")?, ferry_broadcast_config::read(cfg, bcfg)?, Out::new(out, "out")?)
        };
        let publisher = Publisher::create(endpoint, &config)?;
        out.set(boundary::into_raw(EndpointHandle::boxed(publisher)));
        Ok(())
    })
}

/// Opens the existing broadcast channel `endpoint` as another publisher. `*out`
/// receives a new handle (NULL on failure).
///
/// Errors: as for `ferry_sender_open`; `FERRY_ERR_UNSUPPORTED` if the channel is a
/// queue or every publisher seat (128) is taken.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_open(endpoint: *const c_char, out: *mut *mut ferry_publisher) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::open::<Publisher>(endpoint, None, out) }
}

/// Attaches another publisher to the same channel. `*out` receives the new handle
/// (NULL on failure).
///
/// # Safety
///
/// `p` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_clone(
    p: *mut ferry_publisher,
    out: *mut *mut ferry_publisher,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::clone::<Publisher>(p, out) }
}

/// Detaches the publisher now (cancelling an outstanding loan) but keeps the handle:
/// later calls fail with `FERRY_ERR_CLOSED`. `ferry_publisher_free` still has to be
/// called. Subscribers see `FERRY_ERR_DISCONNECTED` once every publisher has gone and
/// they have read everything.
///
/// # Safety
///
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_close(p: *mut ferry_publisher) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::close::<Publisher>(p) }
}

/// Frees a publisher handle (cancelling an outstanding loan; the creator's handle also
/// removes the channel's name). NULL is accepted and ignored.
///
/// # Safety
///
/// `p` is NULL or a live handle, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_free(p: *mut ferry_publisher) {
    // SAFETY: the caller's contract.
    unsafe { endpoint::free::<Publisher>(p) }
}

/// Sets `*slot_size` to the largest message the channel carries, in bytes.
///
/// # Safety
///
/// `p` is NULL or a live handle; `slot_size` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_slot_size(p: *const ferry_publisher, slot_size: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::slot_size::<Publisher>(p, slot_size) }
}

/// Sets `*capacity` to the number of slots in the ring; 0 on a channel sized in bytes
/// (see `ferry_publisher_capacity_bytes`).
///
/// # Safety
///
/// `p` is NULL or a live handle; `capacity` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_capacity(p: *const ferry_publisher, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity::<Publisher>(p, capacity) }
}

/// Sets `*capacity_bytes` to the bytes of a channel sized in bytes
/// (`ferry_config.capacity_bytes`); 0 on a ring of slots (see `ferry_publisher_capacity`).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `p` is NULL or a live handle; `capacity_bytes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_capacity_bytes(
    p: *const ferry_publisher,
    capacity_bytes: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity_bytes::<Publisher>(p, capacity_bytes) }
}

/// Sets how this publisher's blocking calls wait (block mode) for the slowest
/// subscriber: spin `spin_ns`, yield `yield_ns`, then sleep until woken.
///
/// # Safety
///
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_set_wait_policy(
    p: *mut ferry_publisher,
    spin_ns: u64,
    yield_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::set_wait_policy::<Publisher>(p, spin_ns, yield_ns) }
}

/// Sets `*count` to the number of subscribers attached now (a snapshot).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding).
///
/// # Safety
///
/// `p` is NULL or a live handle; `count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_subscriber_count(p: *mut ferry_publisher, count: *mut usize) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut count) = unsafe { (endpoint::handle::<Publisher>(p)?, Out::new(count, "count")?) };
        count.set(handle.get()?.subscriber_count());
        Ok(())
    })
}

/// Copies `len` bytes from `buf` into the channel for every subscriber, waiting (block
/// mode) while the slowest live subscriber is a whole ring behind. `buf` may be NULL
/// when `len` is 0.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding), `FERRY_ERR_TOO_LARGE`,
/// `FERRY_ERR_CORRUPT`.
///
/// # Safety
///
/// `p` is NULL or a live handle; `buf` is NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ferry_publish(p: *mut ferry_publisher, buf: *const c_void, len: usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { publish(p, buf, len, Patience::Block) }
}

/// Like `ferry_publish`, but fails with `FERRY_ERR_FULL` instead of waiting.
///
/// # Safety
///
/// As for `ferry_publish`.
#[no_mangle]
pub unsafe extern "C" fn ferry_try_publish(p: *mut ferry_publisher, buf: *const c_void, len: usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { publish(p, buf, len, Patience::Try) }
}

/// Like `ferry_publish`, but waits at most `timeout_ns` nanoseconds, then fails with
/// `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_publish`.
#[no_mangle]
pub unsafe extern "C" fn ferry_publish_timeout(
    p: *mut ferry_publisher,
    buf: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { publish(p, buf, len, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_publish`.
unsafe fn publish(p: *mut ferry_publisher, buf: *const c_void, len: usize, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { endpoint::handle::<Publisher>(p) }?;
        // SAFETY: NULL or readable for `len` bytes (caller's contract).
        let message = unsafe { boundary::bytes(buf, len) }?;
        let publisher = handle.get()?;
        Ok(match patience {
            Patience::Block => publisher.send(message),
            Patience::Try => publisher.try_send(message),
            Patience::For(timeout) => publisher.send_timeout(message, timeout),
        }?)
    })
}

/// Zero-copy publish, step 1: waits (block mode) for the next slot and lends it: `*ptr`
/// receives the address of its `*cap` writable bytes (16-byte aligned; the slot size).
/// Write the message, then `ferry_publisher_commit(p, len)`, or
/// `ferry_publisher_loan_cancel(p)`. Later messages of every publisher wait behind an
/// outstanding loan: hold it only while writing. On a channel sized in bytes it lends
/// room for the largest message (`ferry_publisher_loan_bytes` lends less). On failure
/// `*ptr` is NULL and `*cap` 0.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding already), `FERRY_ERR_CORRUPT`.
///
/// # Safety
///
/// `p` is NULL or a live handle; `ptr` and `cap` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_loan(
    p: *mut ferry_publisher,
    ptr: *mut *mut c_void,
    cap: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan(p, ptr, cap, Patience::Block) }
}

/// Like `ferry_publisher_loan`, but fails with `FERRY_ERR_FULL` instead of waiting.
///
/// # Safety
///
/// As for `ferry_publisher_loan`.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_try_loan(
    p: *mut ferry_publisher,
    ptr: *mut *mut c_void,
    cap: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan(p, ptr, cap, Patience::Try) }
}

/// # Safety
///
/// As for `ferry_publisher_loan`.
unsafe fn loan(p: *mut ferry_publisher, ptr: *mut *mut c_void, cap: *mut usize, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe {
            boundary::set_if_some(ptr, ptr::null_mut());
            boundary::set_if_some(cap, 0);
        }
        // SAFETY: the caller's contract.
        let (handle, mut ptr, mut cap) =
            unsafe { (endpoint::handle::<Publisher>(p)?, Out::new(ptr, "ptr")?, Out::new(cap, "cap")?) };
        let lent = handle.lend(patience)?;
        // The pointer C writes through is the last reborrow of the slot until the loan
        // ends (see `Lent`): its size is the one noted when it was made.
        cap.set(lent.size);
        ptr.set(lent.loan.as_mut_ptr().cast());
        Ok(())
    })
}

/// Zero-copy publish of a message of `n` bytes on a channel sized in bytes
/// (`ferry_config.capacity_bytes`): like `ferry_publisher_loan`, but lends exactly `n`
/// bytes (0 to the largest message, 16-byte aligned), one contiguous region in the ring,
/// so a small message takes little room. It waits (block mode) while the slowest
/// subscriber holds the room back; once every subscriber has read what was published,
/// any `n` up to the largest fits. Finish it with `ferry_publisher_commit(p, len)`
/// (`len <= n`) or `ferry_publisher_loan_cancel`. On a channel of fixed slots it lends a
/// slot, of which the first `n` bytes may be used. On failure `*ptr` is NULL.
///
/// Errors: as for `ferry_publisher_loan`, plus `FERRY_ERR_TOO_LARGE` (`n` is above the
/// largest message).
///
/// # Safety
///
/// `p` is NULL or a live handle; `ptr` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_loan_bytes(
    p: *mut ferry_publisher,
    n: usize,
    ptr: *mut *mut c_void,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(p, n, ptr, Patience::Block) }
}

/// Like `ferry_publisher_loan_bytes`, but fails with `FERRY_ERR_FULL` instead of
/// waiting for contiguous room.
///
/// # Safety
///
/// As for `ferry_publisher_loan_bytes`.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_try_loan_bytes(
    p: *mut ferry_publisher,
    n: usize,
    ptr: *mut *mut c_void,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(p, n, ptr, Patience::Try) }
}

/// Like `ferry_publisher_loan_bytes`, but waits at most `timeout_ns` nanoseconds for
/// room, then fails with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_publisher_loan_bytes`.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_loan_bytes_timeout(
    p: *mut ferry_publisher,
    n: usize,
    ptr: *mut *mut c_void,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { loan_bytes(p, n, ptr, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_publisher_loan_bytes`.
unsafe fn loan_bytes(p: *mut ferry_publisher, n: usize, ptr: *mut *mut c_void, patience: Patience) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(ptr, ptr::null_mut()) };
        // SAFETY: the caller's contract.
        let (handle, mut ptr) = unsafe { (endpoint::handle::<Publisher>(p)?, Out::new(ptr, "ptr")?) };
        let lent = handle.lend_by(|publisher| {
            let loan = match patience {
                Patience::Block => publisher.loan_bytes(n),
                Patience::Try => publisher.try_loan_bytes(n),
                Patience::For(timeout) => publisher.loan_bytes_timeout(n, timeout),
            }?;
            Ok(Lent { loan, size: n })
        })?;
        // As in `loan`: the pointer is the last reborrow of the region until the loan ends.
        ptr.set(lent.loan.as_mut_ptr().cast());
        Ok(())
    })
}

/// Zero-copy publish, step 2: publishes the first `len` bytes of the loan to every
/// subscriber, who receive a message of `len` bytes. The loan's pointer must not be
/// used afterwards.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no loan is outstanding), `FERRY_ERR_TOO_LARGE` (`len` exceeds
/// the loan, the slot or the `n` it was loaned with: the loan stays outstanding).
///
/// # Safety
///
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_commit(p: *mut ferry_publisher, len: usize) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let handle: &mut EndpointHandle<Publisher> = unsafe { endpoint::handle::<Publisher>(p) }?;
        if !handle.is_lent()? {
            return Err(Failure::fixed(FERRY_ERR_STATE, NO_LOAN_TO_COMMIT));
        }
        let size = handle.borrowed(NO_LOAN_TO_COMMIT)?.size;
        if len > size {
            return Err(Failure::new(
                FERRY_ERR_TOO_LARGE,
                format!("committing {len} bytes into a loan of {size} bytes; the loan is still outstanding"),
            ));
        }
        handle.take(NO_LOAN_TO_COMMIT)?.loan.commit(len);
        Ok(())
    })
}

/// Gives the loan back unpublished (subscribers step over it).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no loan is outstanding).
///
/// # Safety
///
/// `p` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_loan_cancel(p: *mut ferry_publisher) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { endpoint::handle::<Publisher>(p) }?;
        drop(handle.take(c"no loan is outstanding: there is nothing to cancel")?);
        Ok(())
    })
}
