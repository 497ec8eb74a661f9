//! A channel larger than the free shared memory is a clear error at create, leaving
//! nothing behind, never SIGBUS at create or at a later send.
//!
//! The test runs a child of this test binary in a mount namespace of its own with a
//! 32 MiB tmpfs on `/dev/shm` (as in a container with a small `--shm-size`): the child
//! is forked, unshares its mount namespace, makes its mounts private and mounts the
//! tmpfs before it execs, so the rest of the machine sees none of it. That needs root
//! (or CAP_SYS_ADMIN); where it is impossible the test says why and is skipped.

use std::{
    env,
    ffi::CString,
    os::unix::process::{CommandExt, ExitStatusExt},
    process::{self, Command},
};

use ferry::{Config, Receiver, Sender};

/// Set in the child, which runs inside the namespace.
const CHILD_ENV: &str = "FERRY_SHM_FULL_CHILD";
/// Printed by the child once it has checked everything.
const CHILD_DONE: &str = "FERRY-SHM-FULL-DONE";
const MIB: usize = 1 << 20;

#[test]
fn a_channel_larger_than_free_shared_memory_is_an_error_not_sigbus() {
    let exe = env::current_exe().expect("this test binary");
    let mut command = Command::new(exe);
    command.args(["child_in_a_small_dev_shm", "--exact", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, "1");
    let (root, shm, tmpfs, size) = (c"/", c"/dev/shm", c"tmpfs", CString::new("size=32m").expect("no NUL"));
    // SAFETY: between fork and exec the closure makes only system calls, on strings
    // made before the fork.
    unsafe {
        command.pre_exec(move || {
            let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(tmpfs.as_ptr(), shm.as_ptr(), tmpfs.as_ptr(), 0, size.as_ptr().cast()))
        });
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => {
            println!("SKIPPED: cannot mount a small tmpfs on /dev/shm in a mount namespace here: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(CHILD_DONE),
        "the child in a 32 MiB /dev/shm failed ({}signal {:?}):\n{stdout}\n{}",
        output.status,
        output.status.signal(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In the namespace: a 64 MiB channel is `NoSpace`, naming the size and the free space,
/// and leaves no object; a 1 MiB channel works, and every slot of it can be written.
#[test]
fn child_in_a_small_dev_shm() {
    if env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let name = format!("full-{}", process::id());
    let big = Config::new().slot_size(MIB).capacity(64);
    match Receiver::create(&name, &big) {
        // (The variant by its debug name, so that this also compiles, and fails, where
        // there is no such variant.)
        Err(e) if format!("{e:?}").starts_with("NoSpace") => {
            let message = e.to_string();
            // It names the size asked (at least the 64 MiB of slots) and the space free.
            let number_after = |word: &str| -> Option<usize> {
                let rest = message.split_once(word)?.1.trim_start();
                rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
            };
            let needed = number_after("needs").unwrap_or(0);
            let free = number_after("has").unwrap_or(usize::MAX);
            assert!(needed >= 64 * MIB && free <= 32 * MIB, "an unclear message: {message}");
            println!("64 MiB channel: {message}");
        }
        Err(e) => panic!("a 64 MiB channel in a 32 MiB /dev/shm: {e}, not NoSpace"),
        Ok(_) => panic!("a 64 MiB channel in a 32 MiB /dev/shm was created"),
    }
    let left: Vec<_> = std::fs::read_dir("/dev/shm").expect("/dev/shm").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the failed create left {left:?} behind");

    let small = Config::new().slot_size(16 * 1024).capacity(64);
    let mut rx = Receiver::create(&name, &small).expect("a 1 MiB channel");
    let mut tx = Sender::open(&name).expect("open it");
    let message = vec![7u8; 16 * 1024];
    for round in 0..3 {
        for i in 0..64 {
            tx.try_send(&message).unwrap_or_else(|e| panic!("round {round}, message {i}: {e}"));
        }
        for _ in 0..64 {
            assert_eq!(rx.try_recv().expect("a message").len(), message.len());
        }
    }
    println!("{CHILD_DONE}");
}
