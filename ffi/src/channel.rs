//! Calls about a channel as a whole: an in-process channel, and removing a name.

use std::os::raw::c_char;

use crate::{
    boundary::{self, Out},
    config::ferry_config,
    endpoint::EndpointHandle,
    receiver::ferry_receiver,
    sender::ferry_sender,
    status::ferry_status,
};

/// Makes a channel inside this process, on heap memory, for threads of one process: the
/// same ring as a named channel, with no name. `cfg`: its shape (NULL for the defaults).
/// On success `*tx` and `*rx` receive its two ends, each freed with its own `_free`; on
/// failure both are set to NULL.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_ARGUMENT` (bad `cfg->size`),
/// `FERRY_ERR_INVALID_CONFIG`.
///
/// # Safety
///
/// `cfg` is NULL or an initialised `ferry_config`; `tx` and `rx` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferry_in_memory(
    cfg: *const ferry_config,
    tx: *mut *mut ferry_sender,
    rx: *mut *mut ferry_receiver,
) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable (caller's contract).
        unsafe {
            boundary::set_if_some(tx, std::ptr::null_mut());
            boundary::set_if_some(rx, std::ptr::null_mut());
        }
        // SAFETY: the caller's contract, as above.
        let (config, mut tx, mut rx) = unsafe { (ferry_config::read(cfg)?, Out::new(tx, "tx")?, Out::new(rx, "rx")?) };
        let (sender, receiver) = ferry::in_memory(&config)?;
        tx.set(boundary::into_raw(EndpointHandle::boxed(sender)));
        rx.set(boundary::into_raw(EndpointHandle::boxed(receiver)));
        Ok(())
    })
}

/// Removes the name of the shared-memory channel `endpoint` (`NAME` or `shm:NAME`), as
/// its creator's `_free` would. Processes attached to it keep using it; a new channel of
/// that name can be created at once. For clearing a channel whose creator died.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT`, `FERRY_ERR_INVALID_NAME`, `FERRY_ERR_NOT_FOUND`,
/// `FERRY_ERR_PERMISSION_DENIED`, `FERRY_ERR_IO`.
///
/// # Safety
///
/// `endpoint` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ferry_unlink(endpoint: *const c_char) -> ferry_status {
    boundary::status(|| {
        // SAFETY: the caller's contract.
        let endpoint = unsafe { boundary::c_str(endpoint, "endpoint") }?;
        ferry::unlink(endpoint)?;
        Ok(())
    })
}

/// The zero-copy state machine through the C entry points, on an in-process channel.
/// These run under Miri too, with Stacked or Tree Borrows (they read `/proc` for the
/// process identity, hence the disabled isolation):
/// `MIRIFLAGS="-Zmiri-disable-isolation [-Zmiri-tree-borrows]" cargo +nightly miri test -p ferry-ffi --lib`.
#[cfg(test)]
mod tests {
    use std::{ffi::c_void, ptr, slice};

    use super::*;
    use crate::{
        config::ferry_config_init,
        receiver::{ferry_receiver_free, ferry_recv, ferry_recv_acquire, ferry_recv_release, ferry_try_recv},
        sender::{ferry_commit, ferry_loan, ferry_loan_cancel, ferry_send, ferry_sender_close, ferry_sender_free},
        status::ferry_status::*,
    };

    fn channel() -> (*mut ferry_sender, *mut ferry_receiver) {
        let mut cfg = std::mem::MaybeUninit::<ferry_config>::uninit();
        let (mut tx, mut rx) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: valid out-pointers; the config is initialised by ferry_config_init.
        unsafe {
            assert_eq!(ferry_config_init(cfg.as_mut_ptr()), FERRY_OK);
            let mut cfg = cfg.assume_init();
            cfg.slot_size = 64;
            cfg.capacity = 4;
            assert_eq!(ferry_in_memory(&cfg, &mut tx, &mut rx), FERRY_OK);
        }
        (tx, rx)
    }

    #[test]
    fn loan_commit_acquire_release() {
        let (tx, rx) = channel();
        let (mut slot, mut capacity) = (ptr::null_mut::<c_void>(), 0);
        let (mut message, mut len) = (ptr::null::<c_void>(), 0);
        // SAFETY: live handles from `channel`, valid out-pointers, and the slot and the
        // message are used only between loan/commit and acquire/release.
        unsafe {
            assert_eq!(ferry_commit(tx, 0), FERRY_ERR_STATE);
            assert_eq!(ferry_loan(tx, &mut slot, &mut capacity), FERRY_OK);
            assert_eq!(capacity, 64);
            assert_eq!(ferry_send(tx, b"x".as_ptr().cast(), 1), FERRY_ERR_STATE);
            slice::from_raw_parts_mut(slot.cast::<u8>(), capacity)[..5].copy_from_slice(b"hello");
            assert_eq!(ferry_commit(tx, 65), FERRY_ERR_TOO_LARGE);
            // The slot is still the caller's after a refused commit.
            *slot.cast::<u8>() = b'h';
            assert_eq!(ferry_commit(tx, 5), FERRY_OK);
            assert_eq!(ferry_commit(tx, 5), FERRY_ERR_STATE);
            assert_eq!(ferry_loan(tx, &mut slot, &mut capacity), FERRY_OK);
            assert_eq!(ferry_loan_cancel(tx), FERRY_OK);

            assert_eq!(ferry_recv_acquire(rx, &mut message, &mut len), FERRY_OK);
            assert_eq!(slice::from_raw_parts(message.cast::<u8>(), len), b"hello");
            let mut buf = [0u8; 64];
            assert_eq!(ferry_recv(rx, buf.as_mut_ptr().cast(), buf.len(), &mut len), FERRY_ERR_STATE);
            // The message is still readable after a refused call.
            assert_eq!(*message.cast::<u8>(), b'h');
            assert_eq!(ferry_recv_release(rx), FERRY_OK);
            assert_eq!(ferry_recv_release(rx), FERRY_ERR_STATE);
            assert_eq!(ferry_try_recv(rx, buf.as_mut_ptr().cast(), buf.len(), &mut len), FERRY_ERR_EMPTY);
            ferry_sender_free(tx);
            ferry_receiver_free(rx);
        }
    }

    #[test]
    fn freeing_with_a_loan_or_a_message_outstanding() {
        let (tx, rx) = channel();
        let (mut slot, mut capacity) = (ptr::null_mut::<c_void>(), 0);
        let (mut message, mut len) = (ptr::null::<c_void>(), 0);
        // SAFETY: live handles, valid out-pointers; each handle is freed once.
        unsafe {
            assert_eq!(ferry_send(tx, b"kept".as_ptr().cast(), 4), FERRY_OK);
            assert_eq!(ferry_loan(tx, &mut slot, &mut capacity), FERRY_OK);
            assert_eq!(ferry_recv_acquire(rx, &mut message, &mut len), FERRY_OK);
            assert_eq!(ferry_sender_close(tx), FERRY_OK);
            assert_eq!(ferry_commit(tx, 1), FERRY_ERR_CLOSED);
            ferry_sender_free(tx);
            ferry_receiver_free(rx);
        }
    }
}
