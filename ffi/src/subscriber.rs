//! `ferry_subscriber`: the subscribing end of a broadcast channel, with validated copy
//! receives and zero-copy acquire / validate / release.
//!
//! The handle, close/free, the getters and the wait policy are the generic ones of
//! `endpoint.rs`; an acquired message crosses the boundary as the receiver's does (see
//! `receiver.rs`), and `ferry_subscriber_validate` uses it in place without ending it.

use std::{
    ffi::{c_void, CStr},
    os::raw::c_char,
    ptr,
    time::Duration,
};

use ferry::{AttachError, Config, Start, Subscriber, SubscriberError, SubscriberGuard, WaitPolicy};

use crate::{
    boundary::{self, Out},
    endpoint::{self, EndApi, Endpoint, EndpointHandle},
    status::{ferry_status, Failure},
    wait::Patience,
};

/// The subscribing end of a broadcast channel (opaque).
///
/// Made by `ferry_subscriber_open`; freed by `ferry_subscriber_free`. Used by one thread
/// at a time.
#[allow(non_camel_case_types)]
pub struct ferry_subscriber {
    _private: [u8; 0],
}

impl EndApi for Subscriber {
    fn create(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Subscriber::create(endpoint, config, Start::Live)
    }
    fn open(endpoint: &str) -> Result<Self, AttachError> {
        Subscriber::open(endpoint, Start::Live)
    }
    fn open_expecting(endpoint: &str, config: &Config) -> Result<Self, AttachError> {
        Subscriber::open_expecting(endpoint, config, Start::Live)
    }
    fn open_timeout(endpoint: &str, timeout: Duration) -> Result<Self, AttachError> {
        Subscriber::open_timeout(endpoint, Start::Live, timeout)
    }
    fn try_clone(&self) -> Result<Self, AttachError> {
        Err(AttachError::Unsupported {
            endpoint: String::from("broadcast"),
            what: "cloning a subscriber: open another with ferry_subscriber_open",
        })
    }
    fn slot_size(&self) -> usize {
        Subscriber::slot_size(self)
    }
    fn capacity(&self) -> usize {
        Subscriber::capacity(self)
    }
    fn capacity_bytes(&self) -> usize {
        Subscriber::capacity_bytes(self)
    }
    fn fallback_reason(&self) -> Option<&str> {
        None
    }
    fn set_wait_policy(&mut self, policy: WaitPolicy) {
        Subscriber::set_wait_policy(self, policy);
    }
}

impl Endpoint for Subscriber {
    type Opaque = ferry_subscriber;
    type Borrow = SubscriberGuard<'static>;
    const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSUB");
    const WHAT: &'static str = "subscriber";
    const LENT: &'static CStr = c"a message is acquired: release it with ferry_subscriber_release first";
    const LENT_AGAIN: &'static CStr = c"a message is acquired already: release it before acquiring another";

    fn lend(subscriber: &'static mut Self, patience: Patience) -> Result<SubscriberGuard<'static>, Failure> {
        Ok(match patience {
            Patience::Block => subscriber.recv(),
            Patience::Try => subscriber.try_recv(),
            Patience::For(timeout) => subscriber.recv_timeout(timeout),
        }?)
    }
}

const NOTHING_ACQUIRED: &CStr = c"no message is acquired: acquire one with ferry_subscriber_acquire first";

/// Subscribes to the existing broadcast channel `endpoint` (`NAME` or `shm:NAME`). With
/// `history` 0 it receives the messages published from now on; with `history` k, first
/// the last k already published (as many as there are, at most the channel's history),
/// then the live stream. `*out` receives a new handle (NULL on failure).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ENDPOINT`,
/// `FERRY_ERR_INVALID_NAME`, `FERRY_ERR_NOT_FOUND`, `FERRY_ERR_UNSUPPORTED` (a queue, or
/// every subscriber seat taken), `FERRY_ERR_PERMISSION_DENIED`, the header errors,
/// `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_open(
    endpoint: *const c_char,
    history: usize,
    out: *mut *mut ferry_subscriber,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, mut out) = unsafe { (boundary::c_str(endpoint, "endpoint")?, Out::new(out, "out")?) };
        let start = if history == 0 { Start::Live } else { Start::History(history) };
        let subscriber = Subscriber::open(endpoint, start)?;
        out.set(boundary::into_raw(EndpointHandle::boxed(subscriber)));
        Ok(())
    })
}

/// Detaches the subscriber now (releasing an acquired message) but keeps the handle:
/// later calls fail with `FERRY_ERR_CLOSED`. `ferry_subscriber_free` still has to be
/// called.
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_close(s: *mut ferry_subscriber) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::close::<Subscriber>(s) }
}

/// Frees a subscriber handle (releasing an acquired message). NULL is accepted and
/// ignored.
///
/// # Safety
///
/// `s` is NULL or a live handle, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_free(s: *mut ferry_subscriber) {
    // SAFETY: the caller's contract.
    unsafe { endpoint::free::<Subscriber>(s) }
}

/// Sets `*slot_size` to the largest message the channel carries, in bytes.
///
/// # Safety
///
/// `s` is NULL or a live handle; `slot_size` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_slot_size(s: *const ferry_subscriber, slot_size: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::slot_size::<Subscriber>(s, slot_size) }
}

/// Sets `*capacity` to the number of slots in the ring; 0 on a channel sized in bytes
/// (see `ferry_subscriber_capacity_bytes`).
///
/// # Safety
///
/// `s` is NULL or a live handle; `capacity` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_capacity(s: *const ferry_subscriber, capacity: *mut usize) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity::<Subscriber>(s, capacity) }
}

/// Sets `*capacity_bytes` to the bytes of a channel sized in bytes
/// (`ferry_config.capacity_bytes`); 0 on a ring of slots (see `ferry_subscriber_capacity`).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `capacity_bytes` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_capacity_bytes(
    s: *const ferry_subscriber,
    capacity_bytes: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::capacity_bytes::<Subscriber>(s, capacity_bytes) }
}

/// Sets how this subscriber's blocking calls wait for a message: spin `spin_ns`, yield
/// `yield_ns`, then sleep until woken.
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_set_wait_policy(
    s: *mut ferry_subscriber,
    spin_ns: u64,
    yield_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { endpoint::set_wait_policy::<Subscriber>(s, spin_ns, yield_ns) }
}

/// Waits for the next message and copies it into `buf` (`cap` bytes); `*len` receives
/// its length. In overwrite mode the copy is validated: a message overwritten while it
/// was copied is never returned torn.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a message is acquired), `FERRY_ERR_BUFFER_TOO_SMALL` (it stays;
/// `*len` receives its length), `FERRY_ERR_LAGGED` (overwrite mode: `*len` receives how
/// many positions were missed, as `FERRY_ERR_LAGGED` says; the next receive returns the
/// oldest still held),
/// `FERRY_ERR_DISCONNECTED` (every publisher has gone and every message was read),
/// `FERRY_ERR_CORRUPT`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `buf` is NULL or writable for `cap` bytes; `len` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_recv(
    s: *mut ferry_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(s, buf, cap, len, Patience::Block) }
}

/// Like `ferry_subscriber_recv`, but fails with `FERRY_ERR_EMPTY` instead of waiting.
///
/// # Safety
///
/// As for `ferry_subscriber_recv`.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_try_recv(
    s: *mut ferry_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(s, buf, cap, len, Patience::Try) }
}

/// Like `ferry_subscriber_recv`, but waits at most `timeout_ns` nanoseconds, then fails
/// with `FERRY_ERR_TIMEOUT`.
///
/// # Safety
///
/// As for `ferry_subscriber_recv`.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_recv_timeout(
    s: *mut ferry_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { recv(s, buf, cap, len, Patience::nanos(timeout_ns)) }
}

/// # Safety
///
/// As for `ferry_subscriber_recv`.
unsafe fn recv(
    s: *mut ferry_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    patience: Patience,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut len) = unsafe { (endpoint::handle::<Subscriber>(s)?, Out::new(len, "len")?) };
        len.set(0);
        let subscriber = handle.get()?;
        // SAFETY: NULL or writable for `cap` bytes (caller's contract).
        let buf = unsafe { boundary::bytes_mut(buf, cap) }?;
        let received = match patience {
            Patience::Block => subscriber.recv_into(buf),
            Patience::Try => subscriber.try_recv_into(buf),
            Patience::For(timeout) => subscriber.recv_into_timeout(buf, timeout),
        };
        match received {
            Ok(n) => {
                len.set(n);
                Ok(())
            }
            Err(error) => {
                match error {
                    SubscriberError::BufferTooSmall { needed } => len.set(needed),
                    SubscriberError::Lagged(missed) => len.set(usize::try_from(missed).unwrap_or(usize::MAX)),
                    _ => {}
                }
                Err(error.into())
            }
        }
    })
}

/// Zero-copy receive, step 1: waits for the next message and lends it in place: `*ptr`
/// receives the address of its bytes and `*len` their number. Read them; in overwrite
/// mode call `ferry_subscriber_validate` before acting on what you read; then
/// `ferry_subscriber_release`. On failure `*ptr` is NULL and `*len` 0 (or, with
/// `FERRY_ERR_LAGGED`, the number of positions missed).
///
/// Errors: as for `ferry_subscriber_recv`, with `FERRY_ERR_STATE` if a message is
/// acquired already.
///
/// # Safety
///
/// `s` is NULL or a live handle; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_acquire(
    s: *mut ferry_subscriber,
    ptr: *mut *const c_void,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { acquire(s, ptr, len, Patience::Block) }
}

/// Like `ferry_subscriber_acquire`, but fails with `FERRY_ERR_EMPTY` instead of waiting.
///
/// # Safety
///
/// As for `ferry_subscriber_acquire`.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_try_acquire(
    s: *mut ferry_subscriber,
    ptr: *mut *const c_void,
    len: *mut usize,
) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { acquire(s, ptr, len, Patience::Try) }
}

/// # Safety
///
/// As for `ferry_subscriber_acquire`.
unsafe fn acquire(
    s: *mut ferry_subscriber,
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
            unsafe { (endpoint::handle::<Subscriber>(s)?, Out::new(ptr, "ptr")?, Out::new(len, "len")?) };
        match handle.lend(patience) {
            Ok(guard) => {
                ptr.set(guard.as_ptr().cast());
                len.set(guard.len());
                Ok(())
            }
            Err(failure) => {
                if let Some(missed) = failure.lagged() {
                    len.set(missed);
                }
                Err(failure)
            }
        }
    })
}

/// Checks that the acquired message was not overwritten since it was acquired: what was
/// read from it before this call is the message as published (always, in block mode).
///
/// Errors: `FERRY_ERR_LAGGED` (it was overwritten: discard what was read; `*missed`
/// receives how many messages were missed, this one included; release it as usual),
/// `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no message is acquired).
///
/// # Safety
///
/// `s` is NULL or a live handle; `missed` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_validate(s: *mut ferry_subscriber, missed: *mut u64) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut missed) = unsafe { (endpoint::handle::<Subscriber>(s)?, Out::new(missed, "missed")?) };
        missed.set(0);
        match handle.borrowed(NOTHING_ACQUIRED)?.validate() {
            Ok(()) => Ok(()),
            Err(error) => {
                if let SubscriberError::Lagged(n) = error {
                    missed.set(n);
                }
                Err(error.into())
            }
        }
    })
}

/// Zero-copy receive, step 3: moves past the acquired message (in block mode, freeing
/// its slot once every subscriber has). Its pointer must not be used afterwards.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (no message is acquired).
///
/// # Safety
///
/// `s` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_release(s: *mut ferry_subscriber) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { endpoint::handle::<Subscriber>(s) }?;
        drop(handle.take(NOTHING_ACQUIRED)?);
        Ok(())
    })
}
