//! The fd doorbell's arm/ring protocol on heap memory, for the loom models: the
//! production [`Signal`] and [`Armed`] code (and, for a broadcast channel's seats,
//! [`Armed::arm_flag`] and [`seat_doorbell::ring_armed`]), with a modelled pipe (a byte
//! count a waiter sleeps on through the facade's futex model) in place of the FIFO.

use crate::{
    signal::{
        doorbell::{self, Armed, Drained, Pipe},
        seat_doorbell, Signal, Signaling,
    },
    sync::{
        self, AtomicU32, AtomicU64,
        Ordering::{AcqRel, Acquire, Release},
    },
};

/// A pipe as the kernel keeps it: how many bytes it holds.
struct ModelPipe {
    bytes: AtomicU32,
}

impl Pipe for ModelPipe {
    fn ring(&self) {
        // SYNC: AcqRel, as the kernel's pipe lock orders a write before the read that
        // finds its byte; pairs with the AcqRel swap in `drain`. The protocol relies on
        // it: a handle that drained a ring's byte re-arms after the waker's swap of the
        // flag, so that swap cannot take the new arming.
        self.bytes.fetch_add(1, AcqRel);
        sync::futex_wake_all(&self.bytes);
    }

    fn drain(&self) -> Drained {
        // SYNC: AcqRel; pairs with the AcqRel add in `ring`.
        if self.bytes.swap(0, AcqRel) == 0 {
            Drained::Nothing
        } else {
            Drained::Rung
        }
    }
}

/// One channel's receivers' doorbell and a count of published messages.
pub struct DoorbellRace {
    signal: Signal,
    published: AtomicU64,
    pipe: ModelPipe,
}

impl Default for DoorbellRace {
    fn default() -> Self {
        Self::new()
    }
}

impl DoorbellRace {
    /// Nothing published, nobody armed.
    pub fn new() -> Self {
        Self { signal: Signal::new(), published: AtomicU64::new(0), pipe: ModelPipe { bytes: AtomicU32::new(0) } }
    }

    /// A sender's side: publishes one more message, then notifies and rings as
    /// `ShmSender` does.
    pub fn publish(&self) {
        // SYNC: Release; pairs with the Acquire loads in `receive`.
        self.published.fetch_add(1, Release);
        doorbell::ring(self.signal.notify(Signaling::Futex), &self.pipe);
    }

    /// The receiver's side, as `Select` and the async wrapper wait: for each of the
    /// messages `1..=count` in turn, look; if absent, drain and arm, re-check, and sleep
    /// on the pipe until it holds a byte. Returns once message `count` was seen (loom
    /// reports a deadlock if a ring is lost).
    pub fn receive(&self, count: u64) {
        let armed = Armed::new();
        for want in 1..=count {
            loop {
                // SYNC: Acquire; pairs with the Release store in `publish`.
                if self.published.load(Acquire) >= want {
                    break;
                }
                armed.arm(&self.signal, &self.pipe);
                // SYNC: Acquire; as above: the re-check after arming.
                if self.published.load(Acquire) >= want {
                    break;
                }
                sync::futex_wait(&self.pipe.bytes, 0, std::time::Duration::MAX);
            }
        }
        armed.disarm(&self.signal);
    }
}

/// How many subscriber seats [`SeatDoorbellRace`] has.
pub const SEATS: usize = 2;

/// A broadcast channel's subscriber doorbells: one flag and one pipe per seat, the
/// shared waiter word, and a count of published messages.
pub struct SeatDoorbellRace {
    signal: Signal,
    published: AtomicU64,
    flags: [AtomicU32; SEATS],
    pipes: [ModelPipe; SEATS],
}

impl Default for SeatDoorbellRace {
    fn default() -> Self {
        Self::new()
    }
}

impl SeatDoorbellRace {
    /// Nothing published, nobody armed.
    pub fn new() -> Self {
        Self {
            signal: Signal::new(),
            published: AtomicU64::new(0),
            flags: [AtomicU32::new(0), AtomicU32::new(0)],
            pipes: [ModelPipe { bytes: AtomicU32::new(0) }, ModelPipe { bytes: AtomicU32::new(0) }],
        }
    }

    /// A publisher's side: publishes one more message, then notifies and rings every
    /// armed seat as `PublisherBell::notify` does.
    pub fn publish(&self) {
        // SYNC: Release; pairs with the Acquire loads in `receive`.
        self.published.fetch_add(1, Release);
        if self.signal.notify_parked(Signaling::Futex) {
            seat_doorbell::ring_armed(self.flags.iter().enumerate(), |seat| self.pipes[seat].ring());
        }
    }

    /// The subscriber in `seat`, as `Select` waits: for each of the messages
    /// `1..=count`, look; if absent, drain its pipe and arm its seat, re-check, and sleep
    /// on its pipe until it holds a byte. Returns once message `count` was seen (loom
    /// reports a deadlock if a ring is lost).
    pub fn receive(&self, seat: usize, count: u64) {
        let armed = Armed::new();
        for want in 1..=count {
            loop {
                // SYNC: Acquire; pairs with the Release store in `publish`.
                if self.published.load(Acquire) >= want {
                    break;
                }
                let _ = self.pipes[seat].drain();
                armed.arm_flag(&self.signal, &self.flags[seat]);
                // SYNC: Acquire; as above: the re-check after arming.
                if self.published.load(Acquire) >= want {
                    break;
                }
                sync::futex_wait(&self.pipes[seat].bytes, 0, std::time::Duration::MAX);
            }
        }
        armed.disarm_seat(&self.signal, &self.flags[seat]);
    }
}
