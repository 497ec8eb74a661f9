//! Event loops: each handle's pollable file descriptor, for `poll`, `epoll`, `select` or
//! a language's event loop (Python's `selectors`, asyncio's `add_reader`): the queue
//! ends' and the broadcast ends'.

use std::{ffi::c_int, os::fd::AsRawFd};

use ferry::{Publisher, Receiver, Sender, Subscriber};

use crate::{
    boundary::{self, Out},
    endpoint::{self, Endpoint},
    publisher::ferry_publisher,
    receiver::ferry_receiver,
    sender::ferry_sender,
    status::ferry_status,
    subscriber::ferry_subscriber,
};

/// Writes the end's fd through `out`.
///
/// # Safety
///
/// `h` is NULL or a live handle; `out` is NULL or writable.
unsafe fn fd<E: Endpoint + AsRawFd>(h: *mut E::Opaque, out: *mut c_int) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let (handle, mut out) = unsafe { (endpoint::handle::<E>(h)?, Out::new(out, "fd")?) };
        out.set(handle.get()?.as_raw_fd());
        Ok(())
    })
}

/// Sets `*fd` to the receiver's pollable file descriptor: it becomes readable (`POLLIN`)
/// when a message arrives, or when every sender has gone (the next receive then says
/// `FERRY_ERR_DISCONNECTED`). Wait on it with `poll`, `epoll` or an event loop; do not
/// read it, close it or change its flags. It stays the same for the handle's life.
///
/// It is level-triggered until drained: once it reports readable, receive with
/// `ferry_try_recv` (or `ferry_try_recv_acquire`) until `FERRY_ERR_EMPTY` before waiting
/// on it again; the call that finds the channel empty resets it and arms it for the next
/// message. Do the same once before the first wait. On shared memory a sender writes to
/// it only when a receiver has armed it, so a stream the receiver keeps up with costs no
/// system call. A readiness can be spurious (another receiver of an MPMC channel took the
/// message): the `try` call says `FERRY_ERR_EMPTY`.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`, and the
/// refusal of a call while a message is acquired.
///
/// # Safety
///
/// `r` is NULL or a live handle; `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_receiver_fd(r: *mut ferry_receiver, fd: *mut c_int) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { self::fd::<Receiver>(r, fd) }
}

/// Sets `*fd` to the sender's pollable file descriptor: it becomes readable (`POLLIN`)
/// when a full channel gets room, or when every receiver has gone. As for
/// `ferry_receiver_fd`: once it reports readable, send with `ferry_try_send` (or
/// `ferry_try_loan`) until `FERRY_ERR_FULL` before waiting on it again.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`, and the
/// refusal of a call while a loan is held.
///
/// # Safety
///
/// `s` is NULL or a live handle; `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_sender_fd(s: *mut ferry_sender, fd: *mut c_int) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { self::fd::<Sender>(s, fd) }
}

/// Sets `*fd` to the subscriber's pollable file descriptor: it becomes readable (`POLLIN`)
/// when a message arrives for this subscriber, when it lagged (overwrite mode:
/// `FERRY_ERR_LAGGED`), or when every publisher has gone, a killed one too (the next
/// receive, after the messages still there, says `FERRY_ERR_DISCONNECTED`). Each
/// subscriber has a doorbell of its own, so every subscriber waiting on its fd hears
/// every message. As for `ferry_receiver_fd`: once it reports readable, receive with
/// `ferry_subscriber_try_recv` (or `ferry_subscriber_try_acquire`) until
/// `FERRY_ERR_EMPTY` before waiting on it again; do the same once before the first wait.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`, and the
/// refusal of a call while a message is acquired.
///
/// # Safety
///
/// `s` is NULL or a live handle; `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_subscriber_fd(s: *mut ferry_subscriber, fd: *mut c_int) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { self::fd::<Subscriber>(s, fd) }
}

/// Sets `*fd` to the publisher's pollable file descriptor: in block mode it becomes
/// readable (`POLLIN`) when a full ring gets room. In overwrite mode a publish never
/// waits and nothing rings it. As for `ferry_sender_fd`: once it reports readable,
/// publish with `ferry_try_publish` (or `ferry_publisher_try_loan`) until
/// `FERRY_ERR_FULL` before waiting on it again.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_BAD_HANDLE`, `FERRY_ERR_CLOSED`, and the
/// refusal of a call while a loan is held.
///
/// # Safety
///
/// `p` is NULL or a live handle; `fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_publisher_fd(p: *mut ferry_publisher, fd: *mut c_int) -> ferry_status {
    // SAFETY: the caller's contract.
    unsafe { self::fd::<Publisher>(p, fd) }
}
