//! The Zenoh bridge's cost, measured beside plain Zenoh in one run (feature `bridge`):
//!
//! ```sh
//! cargo run --release --features bridge --example bridge_bench -- [--probes N] [--messages N] [--spin MICROS]
//! ```
//!
//! - **plain Zenoh**: a publisher session → loopback TCP → a subscriber session.
//! - **through two bridges**: a ferry sender → channel A → bridge A → loopback TCP →
//!   bridge B → channel B → a ferry receiver. Both bridges run in this process (each with
//!   its own Zenoh session, as two `ferry bridge` processes would), with the default
//!   (block) policy.
//!
//! Both paths use the same Zenoh configuration (peer mode, explicit loopback endpoints, no
//! multicast). Latency: `--probes` messages of 64 B sent one at a time, each stamped with
//! the time it was sent (one clock: one process), the next sent once the last has arrived;
//! p50 / p99 of the one-way time. Throughput: `--messages` messages of 64 B streamed as fast
//! as the sender can, timed from the first send to the last arrival. The ratios are the
//! bridge's over plain Zenoh's; the issue's targets are latency ≤ 1.2× and throughput ≥ 0.8×.
//!
//! `--spin MICROS` makes the bridges (`ferry bridge --spin`) and the receiving end of the
//! bridged path spin that long, then yield ten times as long, before they sleep in the
//! kernel; without it they use ferry's default (5 µs, then 50 µs).

use std::{
    env,
    net::TcpListener,
    process,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use ferry::{
    bridge::{Bridge, Options, Route, StateDir},
    Config, Receiver, Sender, WaitPolicy,
};
use zenoh::{qos::CongestionControl, Wait};

/// Every message's size.
const SIZE: usize = 64;

fn main() {
    let mut probes = 10_000usize;
    let mut messages = 500_000u64;
    let mut wait = None;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || args.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match arg.as_str() {
            "--probes" => probes = number() as usize,
            "--messages" => messages = number(),
            "--spin" => {
                let micros = number();
                wait = Some(
                    WaitPolicy::new()
                        .spin(Duration::from_micros(micros))
                        .yield_for(Duration::from_micros(micros.saturating_mul(10))),
                );
            }
            _ => usage(),
        }
    }
    let base = Instant::now();
    let plain = measure_plain(base, probes, messages);
    let bridged = measure_bridged(base, probes, messages, wait);
    println!("\n{:<28}{:>14}{:>22}{:>9}{:>10}", "", "plain Zenoh", "through two bridges", "ratio", "target");
    for (what, p, b, target) in [
        ("one-way latency p50 (us)", plain.p50, bridged.p50, "<= 1.2"),
        ("one-way latency p99 (us)", plain.p99, bridged.p99, ""),
        ("64 B throughput (k msg/s)", plain.rate / 1e3, bridged.rate / 1e3, ">= 0.8"),
    ] {
        println!("{what:<28}{p:>14.1}{b:>22.1}{:>9.2}{target:>10}", b / p);
    }
    println!(
        "\n{probes} probes, {messages} messages of {SIZE} B; {} CPUs; both paths in this one process; {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        wait.map_or(String::from("default wait policy"), |w| format!("{w:?}"))
    );
}

fn usage() -> ! {
    eprintln!("usage: bridge_bench [--probes N] [--messages N] [--spin MICROS]");
    process::exit(2)
}

/// What one path measured.
struct Figures {
    /// Microseconds.
    p50: f64,
    p99: f64,
    /// Messages per second.
    rate: f64,
}

/// A free loopback TCP port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// Nanoseconds since `base`, written at the start of every message.
fn stamp(base: Instant, out: &mut [u8]) {
    out[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
}

fn age(base: Instant, message: &[u8]) -> Duration {
    let sent = u64::from_le_bytes(message[..8].try_into().expect("8 bytes"));
    Duration::from_nanos((base.elapsed().as_nanos() as u64).saturating_sub(sent))
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)].as_secs_f64() * 1e6;
    (at(50), at(99))
}

/// A Zenoh peer configuration: listening on or connecting to a loopback port, no
/// multicast (as the bridge's default).
fn zenoh_config(listen: Option<u16>, connect: Option<u16>) -> zenoh::Config {
    let mut config = zenoh::Config::default();
    let set = |config: &mut zenoh::Config, key: &str, value: String| {
        config.insert_json5(key, &value).unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    set(&mut config, "mode", "\"peer\"".into());
    set(&mut config, "scouting/multicast/enabled", "false".into());
    let endpoints = |port: Option<u16>| port.map_or("[]".into(), |p| format!("[\"tcp/127.0.0.1:{p}\"]"));
    set(&mut config, "listen/endpoints", endpoints(listen));
    set(&mut config, "connect/endpoints", endpoints(connect));
    config
}

/// What the receiving side reports to the sending side.
enum Arrival {
    /// A probe arrived this long after it was sent.
    Probe(Duration),
    /// The last message of the stream arrived at this instant.
    Counted(Instant),
}

fn measure_plain(base: Instant, probes: usize, messages: u64) -> Figures {
    let port = free_port();
    let sub_session = zenoh::open(zenoh_config(Some(port), None)).wait().expect("open the subscriber session");
    let pub_session = zenoh::open(zenoh_config(None, Some(port))).wait().expect("open the publisher session");
    let key = format!("ferry-bench/plain/{}", process::id());
    let (arrivals, arrived) = mpsc::channel();
    let mode = Arc::new(std::sync::Mutex::new((true, 0u64, messages)));
    let _subscriber = {
        let mode = Arc::clone(&mode);
        sub_session
            .declare_subscriber(key.clone())
            .callback(move |sample| {
                let bytes = sample.payload().to_bytes();
                let mut m = mode.lock().expect("mode");
                if m.0 {
                    let _ = arrivals.send(Arrival::Probe(age(base, &bytes)));
                } else {
                    m.1 += 1;
                    if m.1 == m.2 {
                        let _ = arrivals.send(Arrival::Counted(Instant::now()));
                    }
                }
            })
            .wait()
            .expect("declare the subscriber")
    };
    let publisher = pub_session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .wait()
        .expect("declare the publisher");
    while !publisher.matching_status().wait().expect("matching").matching() {
        thread::sleep(Duration::from_millis(10));
    }
    let mut message = [0u8; SIZE];
    let mut latencies = Vec::with_capacity(probes);
    for i in 0..probes + probes / 10 {
        stamp(base, &mut message);
        publisher.put(&message[..]).wait().expect("put");
        match arrived.recv_timeout(Duration::from_secs(10)).expect("a probe arrives") {
            Arrival::Probe(d) if i >= probes / 10 => latencies.push(d),
            _ => {}
        }
    }
    *mode.lock().expect("mode") = (false, 0, messages);
    let start = Instant::now();
    for _ in 0..messages {
        publisher.put(&message[..]).wait().expect("put");
    }
    let end = match arrived.recv_timeout(Duration::from_secs(120)).expect("the stream arrives") {
        Arrival::Counted(at) => at,
        Arrival::Probe(_) => unreachable!("probes are over"),
    };
    let (p50, p99) = percentiles(latencies);
    let rate = messages as f64 / (end - start).as_secs_f64();
    println!("plain Zenoh: latency p50 {p50:.1} us, p99 {p99:.1} us; {:.0} k msg/s", rate / 1e3);
    drop(publisher);
    let _ = pub_session.close().wait();
    let _ = sub_session.close().wait();
    Figures { p50, p99, rate }
}

fn measure_bridged(base: Instant, probes: usize, messages: u64, wait: Option<WaitPolicy>) -> Figures {
    let port = free_port();
    let id = process::id();
    let (a, b, key) =
        (format!("bench-bridge-a-{id}"), format!("bench-bridge-b-{id}"), format!("ferry-bench/bridge/{id}"));
    let config = Config::new().slot_size(SIZE).capacity(1024);
    let mut tx = Sender::create(&a, &config).expect("create channel A");
    let mut rx = Receiver::create(&b, &config).expect("create channel B");
    if let Some(wait) = wait {
        rx.set_wait_policy(wait);
    }
    let bridge_b = Bridge::start(&Options {
        routes: vec![Route::new(&format!("zenoh:{key}"), &format!("shm:{b}")).expect("route")],
        listen: vec![format!("tcp/127.0.0.1:{port}")],
        state: StateDir::Memory,
        wait,
        ..Options::default()
    })
    .expect("start bridge B");
    let bridge_a = Bridge::start(&Options {
        routes: vec![Route::new(&format!("shm:{a}"), &format!("zenoh:{key}")).expect("route")],
        connect: vec![format!("tcp/127.0.0.1:{port}")],
        state: StateDir::Memory,
        wait,
        ..Options::default()
    })
    .expect("start bridge A");

    let (arrivals, arrived) = mpsc::channel();
    let (to_count_tx, to_count) = mpsc::channel::<u64>();
    let consumer = thread::spawn(move || {
        let mut rx = rx;
        // Probes carry their send time; stream messages carry 0 and are only counted,
        // until the count the sender announced has arrived.
        let (mut counted, mut target) = (0u64, None);
        loop {
            if target.is_none() {
                target = to_count.try_recv().ok();
            }
            if target == Some(counted) {
                let _ = arrivals.send(Arrival::Counted(Instant::now()));
                return;
            }
            if let Ok(m) = rx.recv_timeout(Duration::from_millis(1)) {
                if m[..8] == [0u8; 8] {
                    counted += 1;
                } else {
                    let _ = arrivals.send(Arrival::Probe(age(base, &m)));
                }
            }
        }
    });
    let mut latencies = Vec::with_capacity(probes);
    for i in 0..probes + probes / 10 {
        let mut loan = tx.loan().expect("loan");
        stamp(base, &mut loan);
        loan.commit(SIZE);
        match arrived.recv_timeout(Duration::from_secs(30)).expect("a probe arrives") {
            Arrival::Probe(d) if i >= probes / 10 => latencies.push(d),
            _ => {}
        }
    }
    to_count_tx.send(messages).expect("the consumer");
    let start = Instant::now();
    for _ in 0..messages {
        let mut loan = tx.loan().expect("loan");
        loan[..8].copy_from_slice(&[0u8; 8]);
        loan.commit(SIZE);
    }
    let end = match arrived.recv_timeout(Duration::from_secs(120)).expect("the stream arrives") {
        Arrival::Counted(at) => at,
        Arrival::Probe(_) => unreachable!("probes are over"),
    };
    consumer.join().expect("the consumer");
    let (p50, p99) = percentiles(latencies);
    let rate = messages as f64 / (end - start).as_secs_f64();
    println!("through two bridges: latency p50 {p50:.1} us, p99 {p99:.1} us; {:.0} k msg/s", rate / 1e3);
    for bridge in [&bridge_a, &bridge_b] {
        for (route, counters) in bridge.stats() {
            println!(
                "  {route}: forwarded {}, dropped {}, lost {}",
                counters.forwarded,
                counters.dropped(),
                counters.lost
            );
        }
    }
    bridge_a.stop().expect("stop bridge A");
    bridge_b.stop().expect("stop bridge B");
    Figures { p50, p99, rate }
}
