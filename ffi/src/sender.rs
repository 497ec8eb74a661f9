//! `ferry_sender`: the sending end, with copy sends and zero-copy loans.
//!
//! A [`Loan`] crosses the boundary as a borrow kept by a [`Lender`] (see `lender.rs`):
//! while C holds one, every other path to the sender (`send`, another loan,
//! `set_wait_policy`) is refused with `FERRY_ERR_STATE`, and `ferry_commit` /
//! `ferry_loan_cancel` finish it. Between `ferry_loan` and the commit, Rust does not
//! touch the slot's bytes at all: the pointer handed to C keeps its write permission
//! (checked under Miri with both Stacked and Tree Borrows, `channel.rs` tests). Misuse
//! from C (a second commit, a commit with no loan) finds no loan and gets a status.

use std::{
    ffi::{c_void, CStr, CString},
    os::raw::c_char,
    ptr,
};

use ferry::{Loan, Sender};

use crate::{
    boundary::{self, Handle, Out},
    config::ferry_config,
    lender::{Closed, Lender, Refused},
    status::{ferry_status, ferry_status::*, Failure},
    wait::{self, Patience},
};

/// The sending end of a channel (opaque).
///
/// Made by `ferry_sender_create`, `ferry_sender_open`, `ferry_sender_open_expecting`,
/// `ferry_sender_clone` or `ferry_in_memory`; freed by `ferry_sender_free`. A handle may
/// move between threads but is used by one thread at a time; distinct handles may be
/// used concurrently.
#[allow(non_camel_case_types)]
pub struct ferry_sender {
    _private: [u8; 0],
}

// The header promises a handle may move between threads (used by one at a time):
// everything it holds must be `Send`.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Sender>();
    send::<Loan<'static>>();
    send::<CString>();
};

/// What a `ferry_sender *` points to.
#[repr(C)]
pub(crate) struct SenderHandle {
    /// `Self::MAGIC` while the handle lives (the `Handle` contract: first field).
    magic: u64,
    /// The sender, and the loan C holds between `ferry_loan` and `ferry_commit` /
    /// `ferry_loan_cancel`.
    sender: Lender<Sender, Loan<'static>>,
    /// The sender's slot size and capacity, which never change.
    slot_size: usize,
    capacity: usize,
    /// Why an `auto:` endpoint fell back to a Unix socket, NUL-terminated for C.
    fallback: Option<CString>,
}

// SAFETY: `SenderHandle` is `repr(C)` and its first field is the `u64` magic number,
// set to `MAGIC` in `SenderHandle::boxed` and never changed.
unsafe impl Handle for SenderHandle {
    type Opaque = ferry_sender;
    const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSND");
    const WHAT: &'static str = "sender";
}

/// The failure of a call on a closed handle.
fn closed(_: Closed) -> Failure {
    Failure::fixed(FERRY_ERR_CLOSED, c"the sender was closed: only ferry_sender_free may be called on it")
}

/// `refused` in C's words, with `lent` saying why the borrow C holds is in the way.
fn refused(refused: Refused, lent: &'static CStr) -> Failure {
    match refused {
        Refused::Closed => closed(Closed),
        Refused::Lent => Failure::fixed(FERRY_ERR_STATE, lent),
    }
}

impl SenderHandle {
    pub(crate) fn boxed(sender: Sender) -> Box<Self> {
        let fallback = sender.fallback_reason().map(|why| CString::new(why.replace('\0', "")).unwrap_or_default());
        Box::new(Self {
            magic: Self::MAGIC,
            slot_size: sender.slot_size(),
            capacity: sender.capacity(),
            fallback,
            sender: Lender::new(sender),
        })
    }

    /// Fails once the handle is closed.
    fn attached(&self) -> Result<(), Failure> {
        self.sender.check_open().map_err(closed)
    }

    /// The sender for a call other than commit/cancel: refused while a loan is out.
    fn sender(&mut self) -> Result<&mut Sender, Failure> {
        self.sender
            .get()
            .map_err(|r| refused(r, c"a loan is outstanding: finish it with ferry_commit or ferry_loan_cancel first"))
    }

    /// Borrows a slot and keeps the loan; returns its payload pointer and capacity.
    fn loan(&mut self, patience: Patience) -> Result<(*mut u8, usize), Failure> {
        let loan = self
            .sender
            .lend(|sender| match patience {
                Patience::Block => sender.loan(),
                Patience::Try => sender.try_loan(),
                Patience::For(timeout) => sender.loan_timeout(timeout),
            })
            .map_err(|r| refused(r, c"a loan is already outstanding: commit or cancel it before taking another"))??;
        // The pointer C writes through is the last reborrow of the slot until the loan
        // ends: nothing in Rust reads the slot meanwhile (not even `loan.len()`, whose
        // shared reborrow would take the pointer's write permission away under Tree
        // Borrows), so its size is the cached slot size, which every loan has.
        Ok((loan.as_mut_ptr(), self.slot_size))
    }

    fn commit(&mut self, len: usize) -> Result<(), Failure> {
        if !self.sender.is_lent().map_err(closed)? {
            return Err(Failure::fixed(
                FERRY_ERR_STATE,
                c"no loan is outstanding: ferry_commit needs a slot from ferry_loan (was it committed already?)",
            ));
        }
        if len > self.slot_size {
            let capacity = self.slot_size;
            return Err(Failure::new(
                FERRY_ERR_TOO_LARGE,
                format!("committing {len} bytes into a loan of {capacity} bytes; the loan is still outstanding"),
            ));
        }
        if let Some(loan) = self.sender.take().map_err(closed)? {
            loan.commit(len);
        }
        Ok(())
    }

    fn cancel(&mut self) -> Result<(), Failure> {
        match self.sender.take().map_err(closed)? {
            // Dropping an uncommitted loan sends nothing and frees the slot.
            Some(loan) => {
                drop(loan);
                Ok(())
            }
            None => Err(Failure::fixed(FERRY_ERR_STATE, c"no loan is outstanding: there is nothing to cancel")),
        }
    }

    /// Cancels any loan and detaches the sender. Returns whether it was attached.
    fn close(&mut self) -> bool {
        self.sender.close()
    }
}

/// The handle behind `s`.
///
/// # Safety
///
/// `s` is NULL or a live handle (of any type), used by no other thread during `'a`.
unsafe fn handle<'a>(s: *mut ferry_sender) -> Result<&'a mut SenderHandle, Failure> {
    // SAFETY: the caller's contract.
    unsafe { boundary::handle_mut::<SenderHandle>(s) }
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
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, config, mut out) =
            unsafe { (boundary::c_str(endpoint, "endpoint")?, ferry_config::read(cfg)?, Out::new(out, "out")?) };
        let sender = Sender::create(endpoint, &config)?;
        out.set(boundary::into_raw(SenderHandle::boxed(sender)));
        Ok(())
    })
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
    unsafe { open(endpoint, None, out) }
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
    unsafe { open(endpoint, Some(cfg), out) }
}

/// Opens `endpoint`, expecting `expect`'s shape if it is `Some`.
///
/// # Safety
///
/// As for `ferry_sender_open_expecting`.
unsafe fn open(
    endpoint: *const c_char,
    expect: Option<*const ferry_config>,
    out: *mut *mut ferry_sender,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract, as above.
        let (endpoint, mut out) = unsafe { (boundary::c_str(endpoint, "endpoint")?, Out::new(out, "out")?) };
        let sender = match expect {
            None => Sender::open(endpoint)?,
            Some(cfg) if cfg.is_null() => {
                return Err(Failure::fixed(FERRY_ERR_NULL_ARGUMENT, c"the config to expect is NULL"));
            }
            // SAFETY: a non-NULL initialised config (caller's contract).
            Some(cfg) => Sender::open_expecting(endpoint, &unsafe { ferry_config::read(cfg) }?)?,
        };
        out.set(boundary::into_raw(SenderHandle::boxed(sender)));
        Ok(())
    })
}

/// Attaches another sender to the same channel: an MPMC ring, or another connection to
/// a Unix socket. `*out` receives the new handle (NULL on failure).
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`,
/// `FERRY_ERR_STATE` (a loan is outstanding on `s`), `FERRY_ERR_ROLE_TAKEN` (SPSC),
/// `FERRY_ERR_UNSUPPORTED` (FIFO), `FERRY_ERR_IO`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_clone(s: *mut ferry_sender, out: *mut *mut ferry_sender) -> ferry_status {
    boundary::status(|| {
        // SAFETY: `out` is NULL or writable (caller's contract).
        unsafe { boundary::set_if_some(out, ptr::null_mut()) };
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (handle(s)?, Out::new(out, "out")?) };
        let clone = handle.sender()?.try_clone()?;
        out.set(boundary::into_raw(SenderHandle::boxed(clone)));
        Ok(())
    })
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
    boundary::status(|| {
        // SAFETY: the caller's contract.
        if unsafe { handle(s) }?.close() {
            Ok(())
        } else {
            Err(Failure::fixed(FERRY_ERR_CLOSED, c"the sender was closed already"))
        }
    })
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
    let _ = boundary::status(|| {
        // SAFETY: the caller's contract.
        drop(unsafe { boundary::take::<SenderHandle>(s) }?);
        Ok(())
    });
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
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) =
            unsafe { (boundary::handle_ref::<SenderHandle>(s)?, Out::new(slot_size, "slot_size")?) };
        handle.attached()?;
        out.set(handle.slot_size);
        Ok(())
    })
}

/// Sets `*capacity` to the number of slots of a shared-memory ring; 0 on sockets and
/// FIFOs, whose kernel buffers hold a number of messages that depends on their size.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`.
///
/// # Safety
///
/// `s` is NULL or a live handle; `capacity` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_capacity(s: *const ferry_sender, capacity: *mut usize) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (boundary::handle_ref::<SenderHandle>(s)?, Out::new(capacity, "capacity")?) };
        handle.attached()?;
        out.set(handle.capacity);
        Ok(())
    })
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
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (boundary::handle_ref::<SenderHandle>(s)?, Out::new(reason, "reason")?) };
        out.set(handle.fallback.as_ref().map_or(ptr::null(), |why| why.as_ptr()));
        Ok(())
    })
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
    boundary::status(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(s) }?.sender()?.set_wait_policy(wait::policy(spin_ns, yield_ns));
        Ok(())
    })
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
        let (handle, message) = unsafe { (handle(s)?, boundary::bytes(buf, len)?) };
        let sender = handle.sender()?;
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
            unsafe { (handle(s)?, Out::new(ptr, "ptr")?, Out::new(capacity, "capacity")?) };
        let (payload, len) = handle.loan(patience)?;
        ptr.set(payload.cast());
        capacity.set(len);
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
    boundary::status(|| unsafe { handle(s) }?.commit(len))
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
    boundary::status(|| unsafe { handle(s) }?.cancel())
}
