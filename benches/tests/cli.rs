//! `ferry-bench` (what `ferry bench` runs): a tiny run of every measurement prints the
//! table, a verdict on every target and the cores, writes JSON of the expected shape, and
//! leaves nothing behind. No timing is asserted: the figures of a tiny run on a loaded
//! machine mean nothing. (That `ferry bench` runs this binary is tested in the core
//! crate's `tests/bench_command.rs`.)

use std::process::Command;

fn ferry_bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry-bench"))
}

/// The shared-memory files in /dev/shm made by the `ferry-bench` process `pid`: ferry's
/// segments (`ferry.bench-PID-...`) and the plain rings' files (`bench-PID-...`). The
/// other tests here run their own `ferry-bench` at the same time.
fn bench_segments(pid: u32) -> Vec<String> {
    let prefixes = [format!("ferry.bench-{pid}-"), format!("bench-{pid}-")];
    std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn tiny_run_prints_the_table_and_writes_json() {
    let json_path = std::env::temp_dir().join(format!("ferry-bench-cli-{}.json", std::process::id()));
    let child = ferry_bench()
        .args(["--tiny", "--json"])
        .arg(&json_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ferry bench");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for ferry bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ferry bench failed: {}\n{stdout}\n{stderr}", out.status);

    // One table: every ferry figure beside its baseline, with the ratio.
    for row in [
        "latency 8 B, busy-poll",
        "latency 8 B, blocking",
        "latency 8 B vs unix stream",
        "64 B/msg, copy vs unix stream",
        "64 B/msg, batched vs unix stream",
        "64 B/msg, ferry unix: batched vs unix",
        "64 B/msg, ferry fifo: batched vs pipe",
        "64 B/msg, MPMC 2x2 vs SPSC",
        "64 B/msg, MPMC 2x2 bytes vs slots",
        "64 B/msg, broadcast 1 sub vs SPSC",
        "64 B/msg, broadcast 4 subs (each) vs SPSC",
        "latency 8 B, busy-poll, broadcast vs SPSC",
        "latency 8 B, busy-poll, bytes vs slots",
        "latency 8 B, blocking, bytes vs slots",
        "64 B/msg, copy vs plain ring",
        "64 B/msg, batched vs plain ring",
        "64 B/msg, bytes copy vs slots",
        "64 B/msg, bytes zero-copy vs slots",
        "1 KiB/msg, copy vs plain ring",
        "mixed 64 B/64 KiB, bytes vs slots",
        "1 MiB/msg, copy vs memcpy",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(row)).unwrap_or_else(|| panic!("no row `{row}`:\n{stdout}"));
        assert!(line.trim_end().ends_with(" x"), "row without a ratio: {line}");
    }
    assert!(stdout.contains("cache-line:") && stdout.contains("futex:") && stdout.contains("memcpy:"), "{stdout}");
    assert!(stdout.contains("plain-ring copy:") && stdout.contains("ferry-bytes copy mixed:"), "{stdout}");
    assert!(stdout.contains("ferry-mpmc-bytes 2x2 copy:"), "{stdout}");
    // The mixed stream's two channels, each with its shared memory.
    let mixed = stdout.lines().find(|l| l.starts_with("mixed 64 B/64 KiB, bytes vs slots")).expect("the mixed row");
    assert_eq!(mixed.matches(", shm ").count(), 2, "{mixed}");
    // A verdict on each of the seventeen targets (the 64 B throughput one per message and
    // batched; three of broadcast; two of the SPSC channel sized in bytes, one of the
    // MPMC one and one of the broadcast one; two against the plain ring).
    let verdicts =
        stdout.lines().filter(|l| l.ends_with(')') && (l.contains(" holds ") || l.contains("DOES NOT HOLD")));
    assert_eq!(verdicts.count(), 17, "{stdout}");
    assert!(stdout.contains("ferry-broadcast-bytes 1x1 copy:"), "{stdout}");
    assert!(stdout.contains("cores (sched_getcpu"), "{stdout}");
    assert!(stdout.contains("echo on cpu"), "{stdout}");

    let json = std::fs::read_to_string(&json_path).expect("the JSON file");
    std::fs::remove_file(&json_path).ok();
    assert_json_shape(&json);
    assert!(json.contains("\"kind\": \"latency\"") && json.contains("\"kind\": \"throughput\""), "{json}");
    assert!(json.contains("\"p99_ns\": ") && json.contains("\"bytes_per_s\": "), "{json}");
    assert_eq!(json.matches("\"holds\": ").count(), 17, "{json}");
    assert!(json.contains("\"link\": \"plain-ring\"") && json.contains("\"link\": \"ferry-bytes\""), "{json}");
    // The MPMC channel sized in bytes, two senders to two receivers, with its shared memory.
    let mpmc_bytes = r#""link": "ferry-mpmc-bytes", "api": "copy", "size": 64, "pairs": 2, "shared_bytes": "#;
    assert!(json.contains(mpmc_bytes), "{json}");
    assert!(json.contains("\"sizes\": \"mixed 64 B/64 KiB\"") && json.contains("\"shared_bytes\": "), "{json}");
    assert!(json.contains("\"cpus\": [{\"process\": \"parent\""), "{json}");

    assert_eq!(bench_segments(pid), Vec::<String>::new(), "ferry bench left segments behind");
}

#[test]
fn json_to_stdout_keeps_the_table_on_stderr() {
    let out = ferry_bench().args(["--tiny", "--json", "-"]).output().expect("run ferry bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_json_shape(&stdout);
    assert!(String::from_utf8_lossy(&out.stderr).contains("targets:"));
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    let out = ferry_bench().args(["--fast"]).output().expect("run ferry bench");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: ferry bench"));
}

/// Checks that `text` is one JSON object with balanced brackets outside strings, the
/// expected top-level keys, and no NaN or infinity.
fn assert_json_shape(text: &str) {
    let text = text.trim();
    assert!(text.starts_with('{') && text.ends_with('}'), "not an object: {text}");
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in text.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '{' | '[') => depth += 1,
            (false, _, '}' | ']') => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced: {text}");
            }
            _ => {}
        }
    }
    assert_eq!((depth, in_string), (0, false), "unbalanced: {text}");
    for key in ["\"machine\"", "\"rounds\"", "\"measurements\"", "\"rows\"", "\"targets\""] {
        assert!(text.contains(key), "no {key}: {text}");
    }
    assert!(!text.contains("NaN") && !text.contains("inf"), "not JSON numbers: {text}");
}
