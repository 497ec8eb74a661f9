//! The message the example producer and consumer exchange, the clock they share, and
//! how they report a failure.
// Each example uses part of this module.
#![allow(dead_code)]

/// The exit status of an example whose work returned `result`; a failure is printed in
/// words (its `Display`), not as the `Debug` form `main` returning `Result` would print.
pub fn report(who: &str, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Default channel name of the examples.
pub const CHANNEL: &str = "ferry-demo";
/// Messages in the throughput phase unless a count is given.
pub const DEFAULT_COUNT: u64 = 1_000_000;
/// Messages in the latency phase, each sent into an empty ring.
pub const LATENCY_SAMPLES: u64 = 10_000;

/// One 64-byte message: a sequence number, a send time (0 in the throughput phase),
/// filler derived from the sequence number, and a checksum over all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Message {
    pub seq: u64,
    pub sent_ns: u64,
    pub fill: [u64; 5],
    pub check: u64,
}

// SAFETY: repr(C), eight u64 fields, no padding, no pointers, any bits are valid.
unsafe impl ferry::Pod for Message {}

impl Message {
    pub fn new(seq: u64, sent_ns: u64) -> Self {
        let fill = std::array::from_fn(|i| seq.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i as u32 * 7));
        let mut message = Self { seq, sent_ns, fill, check: 0 };
        message.check = message.checksum();
        message
    }

    fn checksum(&self) -> u64 {
        let words = [self.seq, self.sent_ns].into_iter().chain(self.fill);
        words.fold(0xcbf2_9ce4_8422_2325, |h, w| (h ^ w).wrapping_mul(0x0000_0100_0000_01b3))
    }

    /// Whether this is exactly the message the producer builds for `seq`.
    pub fn is_valid(&self, seq: u64) -> bool {
        *self == Self::new(seq, self.sent_ns)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Reads `[NAME] [COUNT]` from the command line.
pub fn args() -> (String, u64) {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| CHANNEL.to_owned());
    let count = args.next().map(|c| c.parse().expect("COUNT must be a whole number")).unwrap_or(DEFAULT_COUNT);
    (name, count)
}
