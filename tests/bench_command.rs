//! `ferry bench ARGS...` runs the `ferry-bench` binary that sits next to `ferry`, with the
//! same arguments and exit status, and says how to build it when it is missing. (The
//! suite itself is tested in `benches/tests/cli.rs`.) Each case runs a copy of `ferry` in
//! a folder of its own, so whether a real `ferry-bench` was built into target/ does not
//! matter.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A private folder holding a copy of the `ferry` binary, removed on drop.
struct Folder(PathBuf);

impl Folder {
    fn with_ferry(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ferry-bench-command-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("a scratch folder");
        fs::copy(env!("CARGO_BIN_EXE_ferry"), dir.join("ferry")).expect("copy the ferry binary");
        Self(dir)
    }

    fn ferry(&self, args: &[&str]) -> Output {
        Command::new(self.0.join("ferry")).args(args).output().expect("run the copied ferry")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_executable(path: &Path, script: &str) {
    fs::write(path, script).expect("write the stand-in");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("make it executable");
}

// One test, so no other thread of this process forks while a file written here is still
// open for writing (executing it would then fail with ETXTBSY).
#[test]
fn bench_runs_the_binary_next_to_ferry_or_says_how_to_build_it() {
    // Missing: a clear message, exit status 2.
    let folder = Folder::with_ferry("missing");
    let out = folder.ferry(&["bench", "--tiny"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cargo build --release -p ferry-bench"), "{stderr}");
    assert!(stderr.contains(&folder.path("ferry-bench").display().to_string()), "{stderr}");
    assert!(out.stdout.is_empty());

    // Present: a stand-in that reports its arguments and exits with a status of its own.
    let folder = Folder::with_ferry("present");
    let record = folder.path("args");
    write_executable(
        &folder.path("ferry-bench"),
        &format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho stand-in ran\nexit 7\n", record.display()),
    );
    let out = folder.ferry(&["bench", "--json", "a path with spaces", "--tiny"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stand-in ran\n");
    let args = fs::read_to_string(&record).expect("the stand-in ran and recorded its arguments");
    assert_eq!(args, "--json\na path with spaces\n--tiny\n");
}
