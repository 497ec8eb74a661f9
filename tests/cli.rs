//! The `ferry` tool against what other users and odd names can do: `ls` survives a
//! channel truncated under it and reports names that are not UTF-8; `rm` takes a
//! non-UTF-8 argument without panicking and refuses a live channel unless `--force`.

use std::{
    ffi::OsStr,
    fs::OpenOptions,
    os::unix::{ffi::OsStrExt, process::ExitStatusExt},
    process::{self, Command, Output},
    sync::mpsc::{self, TryRecvError},
    thread,
};

use ferry::{Config, Receiver, RingKind};

mod support;
use support::{shm_path, Cleanup};

fn ferry_cli<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry")).args(args).output().expect("run the ferry tool")
}

fn describe(output: &Output) -> String {
    format!(
        "exited with {} (signal {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        output.status.signal(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn ls_survives_a_channel_truncated_under_it() {
    let name = format!("cli-{}-truncated", process::id());
    let _cleanup = Cleanup(name.clone());
    // An MPMC channel: its seats are read too. The handle is leaked, never dropped, so
    // this process does not touch the mapping the test truncates.
    let config = Config::new().kind(RingKind::Mpmc).slot_size(4096).capacity(64);
    std::mem::forget(Receiver::create(&name, &config).expect("create"));
    let file = OpenOptions::new().write(true).open(shm_path(&name)).expect("open the segment's file");
    let size = file.metadata().expect("its size").len();

    // Truncated to nothing: ls says so and exits 0.
    file.set_len(0).expect("truncate");
    let ls = ferry_cli(&["ls"]);
    assert!(ls.status.success(), "ferry ls over a truncated channel: {}", describe(&ls));
    assert!(String::from_utf8_lossy(&ls.stdout).contains(&name), "ls does not mention it: {}", describe(&ls));

    // Truncated and grown again, over and over, while ls reads it.
    // The toggling stops once `running` is dropped, whether the runs pass or panic.
    let (running, stop) = mpsc::channel::<()>();
    thread::scope(|scope| {
        let file = &file;
        scope.spawn(move || {
            while stop.try_recv() == Err(TryRecvError::Empty) {
                let _ = file.set_len(0);
                let _ = file.set_len(size);
            }
        });
        let _running = running;
        for run in 0..20 {
            let ls = ferry_cli(&["ls"]);
            assert!(ls.status.success(), "ferry ls run {run} with the channel truncated under it: {}", describe(&ls));
        }
    });
}

#[test]
fn rm_takes_a_non_utf8_argument_and_ls_reports_non_utf8_names() {
    let rm = ferry_cli(&[OsStr::from_bytes(b"rm"), OsStr::from_bytes(b"bad-\xff-name")]);
    assert_eq!(rm.status.code(), Some(1), "ferry rm with a non-UTF-8 name: {}", describe(&rm));
    assert!(String::from_utf8_lossy(&rm.stderr).contains("not a channel name"), "{}", describe(&rm));

    let mut junk = b"/dev/shm/ferry.odd-\xfe-".to_vec();
    junk.extend_from_slice(process::id().to_string().as_bytes());
    let junk = std::path::PathBuf::from(OsStr::from_bytes(&junk));
    std::fs::write(&junk, b"").expect("an object with a non-UTF-8 name");
    let ls = ferry_cli(&["ls"]);
    let _ = std::fs::remove_file(&junk);
    assert!(ls.status.success(), "{}", describe(&ls));
    let stdout = String::from_utf8_lossy(&ls.stdout);
    let line = format!("odd-\\xFE-{}", process::id());
    assert!(
        stdout.lines().any(|l| l.contains(&line) && l.contains("not UTF-8")),
        "ls does not report {junk:?}: {}",
        describe(&ls)
    );
}

#[test]
fn rm_refuses_a_live_channel_unless_forced_and_names_its_holders() {
    let name = format!("cli-{}-live", process::id());
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &Config::new().slot_size(64).capacity(4)).expect("create");

    let rm = ferry_cli(&["rm", &name]);
    assert!(!rm.status.success(), "ferry rm removed a live channel: {}", describe(&rm));
    let said = String::from_utf8_lossy(&rm.stderr);
    assert!(said.contains(&format!("{} (creator)", process::id())), "rm does not name the holder: {}", describe(&rm));
    assert!(shm_path(&name).exists(), "a refused rm removed the channel");

    let rm = ferry_cli(&["rm", "--force", &name]);
    assert!(rm.status.success(), "ferry rm --force: {}", describe(&rm));
    assert!(!shm_path(&name).exists(), "ferry rm --force left the channel");
    drop(rx);
}
