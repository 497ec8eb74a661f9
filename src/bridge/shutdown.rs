//! SIGINT and SIGTERM stop the bridge cleanly: routes finish the message in hand, the
//! final counters are printed, the Zenoh session closes. A second signal exits at once.
//!
//! The two signals are blocked in the calling thread before any other thread starts (so
//! every thread, Zenoh's included, inherits the mask), and one thread takes them with
//! `sigwait`: no code runs in a signal handler.

use std::{io, mem::MaybeUninit, process, sync::Arc, thread};

use tracing::info;

use super::Stop;

/// The signals that stop the bridge, blocked in this thread and the threads it starts.
pub(crate) struct Blocked(libc::sigset_t);

/// Blocks SIGINT and SIGTERM in the calling thread. Call it before any thread that should
/// not receive them is started.
///
/// # Errors
///
/// The signal mask cannot be changed.
pub(crate) fn block() -> io::Result<Blocked> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset and pthread_sigmask
    // receive that initialised set, valid signal numbers and a null old-set pointer.
    let set = unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut set = set.assume_init();
        for signal in [libc::SIGINT, libc::SIGTERM] {
            if libc::sigaddset(&mut set, signal) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        set
    };
    Ok(Blocked(set))
}

/// Starts the thread that turns the first signal into `stop` and the second into an exit.
///
/// # Errors
///
/// The thread cannot be started.
pub(crate) fn watch(blocked: Blocked, stop: Arc<Stop>) -> io::Result<()> {
    let set = blocked.0;
    thread::Builder::new()
        .name(String::from("ferry-bridge-signals"))
        .spawn(move || loop {
            let mut signal = 0;
            // SAFETY: `set` is an initialised signal set (from `block`), `signal` a valid
            // place for the result.
            let rc = unsafe { libc::sigwait(&set, &mut signal) };
            if rc != 0 {
                continue;
            }
            if stop.requested() {
                process::exit(128 + signal);
            }
            info!(signal, "stopping (a second signal exits at once)");
            stop.request();
        })
        .map(drop)
}
