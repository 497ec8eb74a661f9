//! The C ABI from C (and Python): builds `libferry.so` / `libferry.a`, compiles the C
//! tests and examples against the checked-in `include/ferry.h` with `-std=c11 -Wall
//! -Wextra -Werror -pedantic`, and runs them:
//!
//! - `tests/c/misuse.c`, plain and under AddressSanitizer + UndefinedBehaviorSanitizer
//!   (linked statically, flags from the generated `ferry.pc`): every misuse gets a
//!   status, and nothing leaks; likewise `broadcast.c` (the broadcast channel),
//!   `bytes.c` (the queues sized in bytes) and `broadcast_bytes.c` (the broadcast
//!   channel sized in bytes);
//! - mixed-language processes over shared memory and over a Unix socket, checking every
//!   byte of every message: C → Rust, Rust → C, Python → C, Python → Rust, Rust → Python
//!   (the Rust side is this test process, through the `ferry` crate);
//! - the C examples (`poll_two.c`, which polls two channels' fds, included), the status
//!   codes' stability, the header's freshness against the pinned cbindgen, and the
//!   pkg-config file.
//!
//! The messages follow `tests/c/pattern.h`; [`pattern`] is the same function in Rust.

use std::{
    env, fs,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

use ferry::{Config, Receiver, RecvError, Sender};

/// The cbindgen version `include/ferry.h` is generated with (`cbindgen.toml`, `.ci/run`).
const CBINDGEN_VERSION: &str = "0.29.4";
/// Messages per mixed-language run, and their slot size.
const COUNT: u64 = 2000;
const SLOT_SIZE: usize = 256;
/// How long a child process may take.
const CHILD_LIMIT: Duration = Duration::from_secs(120);
const TEN_SECONDS: Duration = Duration::from_secs(10);

/// The C compiler's strict flags, for every C file here.
const STRICT: [&str; 5] = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// Every status code and its number, as first published. A code may be added, never
/// renumbered or reused: this list only grows.
const STABLE_CODES: [(&str, i32); 32] = [
    ("FERRY_OK", 0),
    ("FERRY_ERR_NULL_ARGUMENT", -1),
    ("FERRY_ERR_INVALID_ARGUMENT", -2),
    ("FERRY_ERR_BAD_HANDLE", -3),
    ("FERRY_ERR_CLOSED", -4),
    ("FERRY_ERR_STATE", -5),
    ("FERRY_ERR_PANIC", -6),
    ("FERRY_ERR_FULL", -10),
    ("FERRY_ERR_EMPTY", -11),
    ("FERRY_ERR_TIMEOUT", -12),
    ("FERRY_ERR_DISCONNECTED", -13),
    ("FERRY_ERR_TOO_LARGE", -14),
    ("FERRY_ERR_BUFFER_TOO_SMALL", -15),
    ("FERRY_ERR_CORRUPT", -16),
    ("FERRY_ERR_WRONG_SIZE", -17),
    ("FERRY_ERR_LAGGED", -18),
    ("FERRY_ERR_INVALID_NAME", -20),
    ("FERRY_ERR_INVALID_CONFIG", -21),
    ("FERRY_ERR_INVALID_ENDPOINT", -22),
    ("FERRY_ERR_UNSUPPORTED", -23),
    ("FERRY_ERR_ALREADY_EXISTS", -24),
    ("FERRY_ERR_NOT_FOUND", -25),
    ("FERRY_ERR_PERMISSION_DENIED", -26),
    ("FERRY_ERR_BAD_MAGIC", -27),
    ("FERRY_ERR_VERSION_MISMATCH", -28),
    ("FERRY_ERR_CORRUPT_HEADER", -29),
    ("FERRY_ERR_GEOMETRY_MISMATCH", -30),
    ("FERRY_ERR_SIZE_MISMATCH", -31),
    ("FERRY_ERR_NOT_INITIALISED", -32),
    ("FERRY_ERR_ROLE_TAKEN", -33),
    ("FERRY_ERR_IO", -34),
    ("FERRY_ERR_ATTACH", -35),
];

/// Message `i` of a run over slots of `slot_size` bytes (`tests/c/pattern.h`).
fn pattern(i: u64, slot_size: usize) -> Vec<u8> {
    let len = match i {
        0 => 0,
        1 => slot_size,
        _ => 1 + (i * 7919 % slot_size as u64) as usize,
    };
    (0..len as u64).map(|j| (i * 31 + j * 7 + 3) as u8).collect()
}

/// Where things are: the library cargo built, the header, the compiled C programs.
struct Build {
    /// `target/<profile>`: `libferry.so`, `libferry.a`, `ferry.pc`.
    lib_dir: PathBuf,
    /// `ffi/`.
    ffi_dir: PathBuf,
    /// Where the C programs are compiled to.
    out_dir: PathBuf,
}

/// Builds the library once (the test harness does not: it is not an rlib) and finds
/// its way around.
fn build() -> &'static Build {
    static BUILD: OnceLock<Build> = OnceLock::new();
    BUILD.get_or_init(|| {
        let ffi_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // This test runs from <target>/<profile>/deps/.
        let exe = env::current_exe().expect("the test's path");
        let lib_dir = exe.parent().and_then(Path::parent).expect("<target>/<profile>").to_path_buf();
        let target_dir = lib_dir.parent().expect("<target>");
        let profile = match lib_dir.file_name().and_then(|p| p.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "ferry-ffi", "--lib", "--profile", &profile, "--target-dir"])
            .arg(target_dir)
            .current_dir(&ffi_dir)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p ferry-ffi failed");
        for lib in ["libferry.so", "libferry.a"] {
            assert!(lib_dir.join(lib).exists(), "{lib} is not in {}", lib_dir.display());
        }
        assert!(
            lib_dir.join("ferry.pc").exists(),
            "ferry.pc is not in {}: ffi/build.rs writes it when it runs (`touch ffi/build.rs` to run it again)",
            lib_dir.display()
        );
        let out_dir = lib_dir.join("ffi-c-tests");
        fs::create_dir_all(&out_dir).expect("create the C output directory");
        Build { lib_dir, ffi_dir, out_dir }
    })
}

fn cc() -> String {
    env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Compiles `sources` into `name` with the strict flags and `extra` (linker flags
/// last). The binary is renamed into place, so concurrent test runs never see half of
/// one.
fn compile(name: &str, sources: &[PathBuf], extra: &[String]) -> PathBuf {
    let b = build();
    let exe = b.out_dir.join(name);
    let partial = b.out_dir.join(format!("{name}.{}.partial", std::process::id()));
    let output = Command::new(cc())
        .args(STRICT)
        .arg("-I")
        .arg(b.ffi_dir.join("include"))
        .args(sources)
        .arg("-o")
        .arg(&partial)
        .args(extra)
        .output()
        .expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling {name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    fs::rename(&partial, &exe).expect("move the binary into place");
    exe
}

/// Linker flags for `libferry.so`, found at run time through an rpath.
fn dynamic_link() -> Vec<String> {
    let lib_dir = build().lib_dir.display().to_string();
    vec![format!("-L{lib_dir}"), "-lferry".to_owned(), format!("-Wl,-rpath,{lib_dir}"), "-pthread".to_owned()]
}

fn c_source(path: &str) -> PathBuf {
    build().ffi_dir.join(path)
}

/// The C programs, compiled once per test process.
struct Programs {
    misuse: PathBuf,
    peer: PathBuf,
    broadcast: PathBuf,
    bytes: PathBuf,
    broadcast_bytes: PathBuf,
}

fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(|| Programs {
        misuse: compile("misuse", &[c_source("tests/c/misuse.c")], &dynamic_link()),
        peer: compile("peer", &[c_source("tests/c/peer.c")], &dynamic_link()),
        broadcast: compile("broadcast", &[c_source("tests/c/broadcast.c")], &dynamic_link()),
        bytes: compile("bytes", &[c_source("tests/c/bytes.c")], &dynamic_link()),
        broadcast_bytes: compile("broadcast_bytes", &[c_source("tests/c/broadcast_bytes.c")], &dynamic_link()),
    })
}

/// A unique channel on one transport; removes what is left of it when dropped.
struct Endpoint {
    endpoint: String,
    /// Files to remove: the socket and its description file.
    files: Vec<PathBuf>,
    /// The shared-memory name to unlink.
    shm: Option<String>,
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Shm,
    Unix,
}

impl Endpoint {
    fn new(transport: Transport, tag: &str) -> Self {
        let name = format!("ffi-{tag}-{}", std::process::id());
        match transport {
            Transport::Shm => Self { endpoint: format!("shm:{name}"), files: Vec::new(), shm: Some(name) },
            Transport::Unix => {
                let path = env::temp_dir().join(format!("{name}.sock"));
                let description = PathBuf::from(format!("{}.ferry", path.display()));
                Self { endpoint: format!("unix:{}", path.display()), files: vec![path, description], shm: None }
            }
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(name) = &self.shm {
            let _ = ferry::unlink(name);
        }
        for file in &self.files {
            let _ = fs::remove_file(file);
        }
    }
}

/// A child process with its stdout piped; killed if dropped while running.
struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    what: String,
}

impl Peer {
    fn spawn(what: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, stdout, what: what.to_owned() }
    }

    /// Waits for the child to say it has created its channel.
    fn wait_ready(&mut self) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the child's stdout");
        if line.trim() != "ready" {
            let output = self.finish_anyway();
            panic!("{} did not get ready (said {line:?}):\n{output}", self.what);
        }
    }

    /// Waits for the child to exit; returns its stdout. Panics unless it succeeded.
    fn finish(mut self) -> String {
        let Some(status) = wait_or_kill(&mut self.child, &self.what) else {
            let output = self.finish_anyway();
            panic!("{} ran for more than {CHILD_LIMIT:?}:\n{output}", self.what);
        };
        let output = self.finish_anyway();
        assert!(status.success(), "{} failed ({status}):\n{output}", self.what);
        output
    }

    fn finish_anyway(&mut self) -> String {
        let _ = self.child.wait();
        let mut out = String::new();
        let _ = self.stdout.read_to_string(&mut out);
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        format!("--- stdout\n{out}--- stderr\n{err}")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn c_peer(role: &str, endpoint: &Endpoint) -> Peer {
    Peer::spawn(
        &format!("C peer ({role} {})", endpoint.endpoint),
        Command::new(&programs().peer).args([role, &endpoint.endpoint, &COUNT.to_string(), &SLOT_SIZE.to_string()]),
    )
}

/// `python3`, if this machine has one.
fn python() -> Option<String> {
    let python = env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python).arg("--version").output().is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("SKIPPED: no {python} on this machine; the Python client is not tested");
    }
    found.then_some(python)
}

fn python_peer(python: &str, role: &str, endpoint: &Endpoint) -> Peer {
    let client = build().ffi_dir.join("examples/python/ferry_client.py");
    Peer::spawn(
        &format!("Python client ({role} {})", endpoint.endpoint),
        Command::new(python)
            .arg(client)
            .args([role, &endpoint.endpoint, &COUNT.to_string(), &SLOT_SIZE.to_string()])
            .env("FERRY_LIB", build().lib_dir.join("libferry.so")),
    )
}

/// The Rust receiving side: creates the channel (before `start` launches the sender),
/// then receives and checks every message, alternating in-place and copying receives,
/// and finally expects the sender to be gone.
fn rust_receive(endpoint: &Endpoint, start: impl FnOnce() -> Peer) -> Peer {
    let config = Config::new().slot_size(SLOT_SIZE).capacity(64);
    let mut rx = Receiver::create(&endpoint.endpoint, &config).expect("create the Rust receiver");
    let peer = start();
    let mut buf = vec![0u8; SLOT_SIZE];
    for i in 0..COUNT {
        let expected = pattern(i, SLOT_SIZE);
        if i % 2 == 0 {
            let guard = rx.recv_timeout(TEN_SECONDS).unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert!(*guard == *expected, "message {i} is wrong: {} bytes", guard.len());
        } else {
            let n = rx.recv_into_timeout(&mut buf, TEN_SECONDS).unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert!(buf[..n] == *expected, "message {i} is wrong: {n} bytes");
        }
    }
    assert_eq!(rx.recv_timeout(TEN_SECONDS).map(|g| g.len()), Err(RecvError::Disconnected));
    peer
}

/// The Rust sending side, once the receiver is ready: alternates copies and loans.
fn rust_send(endpoint: &Endpoint) {
    let mut tx = Sender::open(&endpoint.endpoint).expect("open the Rust sender");
    assert_eq!(tx.slot_size(), SLOT_SIZE);
    for i in 0..COUNT {
        let message = pattern(i, SLOT_SIZE);
        if i % 2 == 0 {
            tx.send_timeout(&message, TEN_SECONDS).unwrap_or_else(|e| panic!("message {i}: {e}"));
        } else {
            let mut loan = tx.loan_timeout(TEN_SECONDS).unwrap_or_else(|e| panic!("message {i}: {e}"));
            loan[..message.len()].copy_from_slice(&message);
            loan.commit(message.len());
        }
    }
}

fn c_sender_to_rust_receiver(transport: Transport) {
    let endpoint = Endpoint::new(transport, "c-to-rust");
    rust_receive(&endpoint, || c_peer("send", &endpoint)).finish();
}

fn rust_sender_to_c_receiver(transport: Transport) {
    let endpoint = Endpoint::new(transport, "rust-to-c");
    let mut receiver = c_peer("recv", &endpoint);
    receiver.wait_ready();
    rust_send(&endpoint);
    let output = receiver.finish();
    assert!(output.contains(&format!("received {COUNT} messages, every byte checked")), "{output}");
}

fn python_sender_to_c_receiver(transport: Transport) {
    let Some(python) = python() else { return };
    let endpoint = Endpoint::new(transport, "py-to-c");
    let mut receiver = c_peer("recv", &endpoint);
    receiver.wait_ready();
    python_peer(&python, "send-pattern", &endpoint).finish();
    let output = receiver.finish();
    assert!(output.contains(&format!("received {COUNT} messages, every byte checked")), "{output}");
}

fn python_sender_to_rust_receiver(transport: Transport) {
    let Some(python) = python() else { return };
    let endpoint = Endpoint::new(transport, "py-to-rust");
    rust_receive(&endpoint, || python_peer(&python, "send-pattern", &endpoint)).finish();
}

fn rust_sender_to_python_receiver(transport: Transport) {
    let Some(python) = python() else { return };
    let endpoint = Endpoint::new(transport, "rust-to-py");
    let mut receiver = python_peer(&python, "recv-pattern", &endpoint);
    receiver.wait_ready();
    rust_send(&endpoint);
    let output = receiver.finish();
    assert!(output.contains(&format!("received {COUNT} messages, every byte checked")), "{output}");
}

#[test]
fn c_sender_to_rust_receiver_over_shared_memory() {
    c_sender_to_rust_receiver(Transport::Shm);
}

#[test]
fn c_sender_to_rust_receiver_over_unix_socket() {
    c_sender_to_rust_receiver(Transport::Unix);
}

#[test]
fn rust_sender_to_c_receiver_over_shared_memory() {
    rust_sender_to_c_receiver(Transport::Shm);
}

#[test]
fn rust_sender_to_c_receiver_over_unix_socket() {
    rust_sender_to_c_receiver(Transport::Unix);
}

#[test]
fn python_sender_to_c_receiver_over_shared_memory() {
    python_sender_to_c_receiver(Transport::Shm);
}

#[test]
fn python_sender_to_c_receiver_over_unix_socket() {
    python_sender_to_c_receiver(Transport::Unix);
}

#[test]
fn python_sender_to_rust_receiver_over_shared_memory() {
    python_sender_to_rust_receiver(Transport::Shm);
}

#[test]
fn python_sender_to_rust_receiver_over_unix_socket() {
    python_sender_to_rust_receiver(Transport::Unix);
}

#[test]
fn rust_sender_to_python_receiver_over_shared_memory() {
    rust_sender_to_python_receiver(Transport::Shm);
}

#[test]
fn rust_sender_to_python_receiver_over_unix_socket() {
    rust_sender_to_python_receiver(Transport::Unix);
}

/// Runs `command` to its end, killed if it runs longer than [`CHILD_LIMIT`] (a program
/// that hangs fails its test instead of stalling the suite); panics unless it succeeded.
fn run(what: &str, command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    // Drained while it runs, so a chatty program never blocks on a full pipe.
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let Some(status) = wait_or_kill(&mut child, what) else {
        let (out, err) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
        panic!(
            "{what} ran for more than {CHILD_LIMIT:?}:\n--- stdout\n{}--- stderr\n{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    };
    let output = Output {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    };
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits for `child` to exit, for at most [`CHILD_LIMIT`]; past it, kills it and returns
/// `None`.
fn wait_or_kill(child: &mut Child, what: &str) -> Option<ExitStatus> {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait for {what}: {e}")) {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn misuse_prefix(tag: &str) -> String {
    format!("ffi-misuse-{tag}-{}", std::process::id())
}

#[test]
fn misuse_gets_a_status_not_a_crash() {
    let output = run("misuse", Command::new(&programs().misuse).arg(misuse_prefix("plain")));
    assert!(String::from_utf8_lossy(&output.stdout).contains("every check passed"));
}

/// Linker flags for a static link against `libferry.a`: `pkg-config --static` on the
/// generated `ferry.pc` if pkg-config is here, else that file's `Libs.private` line.
fn static_link() -> Vec<String> {
    let b = build();
    let mut flags = vec![b.lib_dir.join("libferry.a").display().to_string()];
    let private = fs::read_to_string(b.lib_dir.join("ferry.pc")).expect("read ferry.pc");
    let private = private.lines().find_map(|l| l.strip_prefix("Libs.private:")).expect("Libs.private in ferry.pc");
    flags.extend(private.split_whitespace().map(str::to_owned));
    flags.push("-pthread".to_owned());
    flags
}

/// Whether the compiler can build and run a program with ASan and UBSan.
fn sanitizers_work() -> bool {
    let b = build();
    let probe = b.out_dir.join(format!("sanitizer-probe-{}.c", std::process::id()));
    fs::write(&probe, "int main(void) { return 0; }\n").expect("write the probe");
    let exe = probe.with_extension("");
    let built = Command::new(cc())
        .args(["-fsanitize=address,undefined", "-o"])
        .arg(&exe)
        .arg(&probe)
        .output()
        .is_ok_and(|out| out.status.success());
    let ran = built && Command::new(&exe).output().is_ok_and(|out| out.status.success());
    let _ = fs::remove_file(&probe);
    let _ = fs::remove_file(&exe);
    ran
}

/// Builds `tests/c/NAME.c` with ASan and UBSan against the static library, runs it with
/// `args` and checks it printed `passed` (a note instead where the compiler cannot build
/// sanitized programs; CI fails on that note).
fn under_sanitizers(name: &str, args: &[String], passed: &str) {
    if !sanitizers_work() {
        eprintln!("SKIPPED: {} cannot build and run -fsanitize=address,undefined programs here", cc());
        return;
    }
    let mut flags: Vec<String> =
        ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
            .map(str::to_owned)
            .into();
    flags.extend(static_link());
    let exe = compile(&format!("{name}-asan"), &[c_source(&format!("tests/c/{name}.c"))], &flags);
    let output = run(
        &format!("{name} under ASan and UBSan"),
        Command::new(exe)
            .args(args)
            .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=86")
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(passed));
}

#[test]
fn misuse_under_address_and_undefined_behavior_sanitizers() {
    under_sanitizers("misuse", &[misuse_prefix("asan")], "every check passed");
}

#[test]
fn broadcast_from_c() {
    let output = run("broadcast", Command::new(&programs().broadcast).arg(misuse_prefix("bc-plain")));
    assert!(String::from_utf8_lossy(&output.stdout).contains("every broadcast check passed"));
}

#[test]
fn broadcast_from_c_under_address_and_undefined_behavior_sanitizers() {
    under_sanitizers("broadcast", &[misuse_prefix("bc-asan")], "every broadcast check passed");
}

#[test]
fn byte_channel_from_c() {
    let output = run("bytes", &mut Command::new(&programs().bytes));
    assert!(String::from_utf8_lossy(&output.stdout).contains("every byte-channel check passed"));
}

#[test]
fn byte_channel_from_c_under_address_and_undefined_behavior_sanitizers() {
    under_sanitizers("bytes", &[], "every byte-channel check passed");
}

#[test]
fn broadcast_byte_channel_from_c() {
    let output = run("broadcast_bytes", Command::new(&programs().broadcast_bytes).arg(misuse_prefix("bcb-plain")));
    assert!(String::from_utf8_lossy(&output.stdout).contains("every broadcast byte-channel check passed"));
}

#[test]
fn broadcast_byte_channel_from_c_under_address_and_undefined_behavior_sanitizers() {
    under_sanitizers("broadcast_bytes", &[misuse_prefix("bcb-asan")], "every broadcast byte-channel check passed");
}

/// The status codes in the header, in order.
fn header_codes() -> Vec<(String, i32)> {
    let header = fs::read_to_string(build().ffi_dir.join("include/ferry.h")).expect("read ferry.h");
    header
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().trim_end_matches(',').split_once(" = ")?;
            if !(name == "FERRY_OK" || name.starts_with("FERRY_ERR_")) {
                return None;
            }
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn status_codes_are_stable_and_each_has_a_description() {
    let codes = header_codes();
    for (name, number) in STABLE_CODES {
        assert!(
            codes.iter().any(|(n, v)| n == name && *v == number),
            "{name} = {number} was published and must stay in ferry.h with that number"
        );
    }
    let mut numbers: Vec<i32> = codes.iter().map(|(_, v)| *v).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), codes.len(), "two codes share a number: {codes:?}");
    assert!(codes.iter().all(|(n, v)| (*v == 0) == (n == "FERRY_OK") && *v <= 0), "{codes:?}");
    // Every code in the header is described by ferry_strerror, each differently.
    let args: Vec<String> = codes.iter().map(|(_, v)| v.to_string()).collect();
    run("misuse --codes", Command::new(&programs().misuse).arg("--codes").args(&args));
}

#[test]
fn c_examples_build_and_run() {
    let link = dynamic_link();
    let example = |name: &str| compile(name, &[c_source(&format!("examples/{name}.c"))], &link);
    let (producer, consumer, zero_copy, pingpong) =
        (example("producer"), example("consumer"), example("zero_copy"), example("pingpong"));

    let endpoint = Endpoint::new(Transport::Shm, "example");
    let mut consumer = Peer::spawn("the consumer example", Command::new(consumer).args([&endpoint.endpoint, "20000"]));
    let first = {
        let mut line = String::new();
        consumer.stdout.read_line(&mut line).expect("read the consumer");
        line
    };
    assert!(first.contains("waiting for the producer"), "{first}");
    let produced = run("the producer example", Command::new(producer).args([&endpoint.endpoint, "20000"]));
    assert!(String::from_utf8_lossy(&produced.stdout).contains("sent 20000 messages"));
    let consumed = consumer.finish();
    assert!(consumed.contains("received 20000 messages in order"), "{consumed}");

    let name = format!("ffi-zero-copy-{}", std::process::id());
    let _cleanup = Endpoint { endpoint: name.clone(), files: Vec::new(), shm: Some(name.clone()) };
    let output = run("the zero_copy example", Command::new(zero_copy).args([&name, "20000"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("every checksum verified"));

    let output = run("the pingpong example", Command::new(pingpong).arg("300"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ferry C blocking") && text.contains("default wait policy"), "{text}");

    // Event loops: two channels' fds and stdin in one poll(), stdin at end of file.
    let poll_two = example("poll_two");
    let output = run("the poll_two example", Command::new(poll_two).arg("2000").stdin(Stdio::null()));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("2000 + 2000 messages in order"), "{text}");

    // The broadcast pair: one publisher, two subscribers.
    let (publisher, subscriber) = (example("publisher"), example("subscriber"));
    let name = format!("ffi-broadcast-example-{}", std::process::id());
    let _cleanup = Endpoint { endpoint: name.clone(), files: Vec::new(), shm: Some(name.clone()) };
    let publisher = Peer::spawn("the publisher example", Command::new(publisher).args([&name, "20000", "2"]));
    let subscribers: Vec<Peer> =
        (0..2).map(|_| Peer::spawn("a subscriber example", Command::new(&subscriber).arg(&name))).collect();
    let published = publisher.finish();
    assert!(published.contains("published 20000 messages"), "{published}");
    for subscriber in subscribers {
        let received = subscriber.finish();
        assert!(received.contains("received 20000 messages in order"), "{received}");
    }
}

#[test]
fn pkg_config_file_describes_the_build() {
    let b = build();
    let pc = fs::read_to_string(b.lib_dir.join("ferry.pc")).expect("read ferry.pc");
    assert!(pc.contains(&format!("prefix={}", b.lib_dir.display())), "{pc}");
    assert!(pc.contains(&format!("includedir={}", b.ffi_dir.join("include").display())), "{pc}");
    let pkg_config = Command::new("pkg-config").arg("--version").output().is_ok_and(|out| out.status.success());
    if !pkg_config {
        eprintln!("SKIPPED: no pkg-config on this machine; ferry.pc was only read");
        return;
    }
    let flags = run(
        "pkg-config",
        Command::new("pkg-config").args(["--cflags", "--libs", "ferry"]).env("PKG_CONFIG_PATH", &b.lib_dir),
    );
    let flags = String::from_utf8(flags.stdout).expect("UTF-8 flags");
    assert!(flags.contains(&format!("-I{}", b.ffi_dir.join("include").display())), "{flags}");
    assert!(flags.contains(&format!("-L{}", b.lib_dir.display())) && flags.contains("-lferry"), "{flags}");
    // A program built with nothing but those flags links and runs.
    let mut link: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    link.push(format!("-Wl,-rpath,{}", b.lib_dir.display()));
    let exe = compile("pkg-config-consumer", &[c_source("examples/consumer.c")], &link);
    let endpoint = Endpoint::new(Transport::Shm, "pkg-config");
    let output = run("a pkg-config build", Command::new(exe).args([&endpoint.endpoint, "0"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("received 0 messages"));
}

#[test]
fn header_matches_the_source() {
    let b = build();
    // The header compiles as C++ too (the strict C11 builds above cover C).
    let cxx = env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    let probe = b.out_dir.join(format!("header-probe-{}.cc", std::process::id()));
    fs::write(&probe, "#include \"ferry.h\"\nint main() { return ferry_layout_version() == 0; }\n").expect("write");
    match Command::new(&cxx)
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
        .arg(b.ffi_dir.join("include"))
        .arg(&probe)
        .output()
    {
        Ok(out) => assert!(out.status.success(), "ferry.h as C++:\n{}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => eprintln!("SKIPPED: no {cxx}; the header was not compiled as C++"),
    }
    let _ = fs::remove_file(&probe);

    let version = Command::new("cbindgen").arg("--version").output();
    let version = version.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned()).unwrap_or_default();
    if version != format!("cbindgen {CBINDGEN_VERSION}") {
        eprintln!(
            "SKIPPED: the header's freshness needs cbindgen {CBINDGEN_VERSION} (found {version:?}); \
             .ci/run installs it and checks"
        );
        return;
    }
    let fresh = b.out_dir.join(format!("ferry.{}.h", std::process::id()));
    run(
        "cbindgen",
        Command::new("cbindgen")
            .args(["--quiet", "--config", "cbindgen.toml", "--output"])
            .arg(&fresh)
            .current_dir(&b.ffi_dir),
    );
    let fresh_text = fs::read_to_string(&fresh).expect("read the regenerated header");
    let _ = fs::remove_file(&fresh);
    let checked_in = fs::read_to_string(b.ffi_dir.join("include/ferry.h")).expect("read ferry.h");
    assert!(
        fresh_text == checked_in,
        "ffi/include/ferry.h is stale: regenerate it with `cd ffi && cbindgen --config cbindgen.toml --output include/ferry.h`"
    );
}
