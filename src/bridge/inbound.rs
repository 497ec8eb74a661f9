//! A route from a Zenoh key expression into a local channel: the bridge subscribes and
//! writes each sample straight into a loan of the channel (`loan` → copy the sample's
//! bytes → `commit(n)`), one sample to one message, in the order Zenoh delivers them
//! (which keeps each publisher's order). The channel is a queue (the bridge is one of its
//! senders) or a broadcast channel (one of its publishers).
//!
//! Each stamped sample is checked against its session's position ([`Tracker`]): a gap is
//! counted as lost and logged, a duplicate is dropped and counted. A sample without a stamp
//! (from a plain Zenoh publisher) is delivered unchecked.
//!
//! The samples are written from Zenoh's callback, so under [`Policy::Block`] a full channel
//! holds up Zenoh's reception, and through its flow control the remote publisher (which
//! blocks, and in turn stops reading its own channel). Zenoh closes a link whose blocking
//! publication waits too long (5 s by default, `transport/link/tx/queue/congestion_control/
//! block/wait_before_close`); the link is then re-established and the messages that did not
//! get through are counted here as lost. Under [`Policy::Drop`] a full channel drops the
//! sample and counts it.
//!
//! When the channel's receiver has gone, samples are dropped and counted, and the route
//! opens the channel again (at most every `REOPEN`), so a consumer that comes back is fed
//! again.

use std::{
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

use tracing::{debug, info, trace, warn};
use zenoh::{bytes::ZBytes, sample::Sample, Wait};

use super::{
    ends::{Sink, Unwritten},
    open_until_stopped,
    options::Policy,
    sequence::{Tracker, Verdict},
    stamp::Stamp,
    stats::{Count, RouteStats},
    BridgeError, Local, Stop,
};

/// How long one wait for room lasts before the route looks at the stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// The shortest time between two attempts to reopen a channel whose receiver has gone.
const REOPEN: Duration = Duration::from_millis(500);

/// What the callback needs, behind one lock (Zenoh may call it from several threads).
struct Inbound {
    route: String,
    channel: String,
    /// `None` while the channel's receiver is gone and the channel is not reopened yet.
    tx: Option<Sink>,
    last_reopen: Instant,
    tracker: Tracker,
    local: Local,
    stats: Arc<RouteStats>,
    stop: Arc<Stop>,
}

/// Why a sample was not written into the channel.
enum Undelivered {
    Full,
    TooLarge { max: usize },
    NoReceiver,
    Stopping,
    Failed(String),
}

impl Inbound {
    fn on_sample(&mut self, sample: &Sample) {
        let stamp = sample.attachment().and_then(|a| Stamp::decode(&a.to_bytes()));
        match stamp.map(|s| (s, self.tracker.check(s))) {
            Some((stamp, Verdict::Duplicate { expected })) => {
                self.stats.count(Count::Duplicate);
                debug!(route = %self.route, session = %format_args!("{:016x}", stamp.session), seq = stamp.seq, expected, "dropped a duplicate");
                return;
            }
            Some((stamp, Verdict::Deliver { lost, joined })) => {
                let session = format_args!("{:016x}", stamp.session);
                if joined {
                    info!(route = %self.route, session = %session, seq = stamp.seq, "a publishing bridge joined");
                }
                if lost > 0 {
                    self.stats.lost(lost);
                    warn!(route = %self.route, session = %session, from = stamp.seq - lost, to = stamp.seq, lost, "gap: messages lost");
                }
            }
            None => self.stats.count(Count::Unstamped),
        }
        let payload = sample.payload();
        match self.deliver(payload) {
            Ok(()) => {
                self.stats.forwarded(payload.len());
                trace!(route = %self.route, seq = stamp.map(|s| s.seq), len = payload.len(), "forwarded");
            }
            Err(why) => {
                let (count, reason) = match why {
                    Undelivered::Full => (Count::DroppedFull, String::from("the channel is full (--drop)")),
                    Undelivered::TooLarge { max } => {
                        (Count::DroppedTooLarge, format!("larger than the channel's slots of {max} B"))
                    }
                    Undelivered::NoReceiver => (Count::DroppedUnrouted, String::from("the channel has no receiver")),
                    Undelivered::Stopping => (Count::DroppedUnrouted, String::from("the bridge is stopping")),
                    Undelivered::Failed(e) => (Count::DroppedUnrouted, e),
                };
                self.stats.count(count);
                if count == Count::DroppedFull {
                    debug!(route = %self.route, seq = stamp.map(|s| s.seq), len = payload.len(), "dropped: {reason}");
                } else {
                    warn!(route = %self.route, seq = stamp.map(|s| s.seq), len = payload.len(), "dropped: {reason}");
                }
            }
        }
        // After the commit: a bridge killed between the two has delivered a message its
        // cursor does not show, and its successor counts it as lost (one too many).
        if let Some(stamp) = stamp {
            self.tracker.handled(stamp);
        }
    }

    /// Writes `payload` into a loan of the channel and commits it.
    fn deliver(&mut self, payload: &ZBytes) -> Result<(), Undelivered> {
        if self.tx.is_none() && self.last_reopen.elapsed() >= REOPEN {
            self.last_reopen = Instant::now();
            match Sink::open(&self.channel) {
                Ok(mut tx) => {
                    if let Some(wait) = self.local.wait {
                        tx.set_wait_policy(wait);
                    }
                    info!(route = %self.route, "reopened the channel");
                    self.tx = Some(tx);
                }
                Err(e) => debug!(route = %self.route, error = %e, "the channel cannot be reopened yet"),
            }
        }
        let tx = self.tx.as_mut().ok_or(Undelivered::NoReceiver)?;
        let len = payload.len();
        if len > tx.slot_size() {
            return Err(Undelivered::TooLarge { max: tx.slot_size() });
        }
        let timeout = match self.local.policy {
            Policy::Block => Some(POLL),
            Policy::Drop => None,
        };
        let fill = |loan: &mut [u8]| {
            let mut at = 0;
            for slice in payload.slices() {
                // Zenoh's slices add up to `len`, checked against the slot above; a loan
                // dropped uncommitted sends nothing.
                let Some(room) = loan.get_mut(at..at + slice.len()) else {
                    return false;
                };
                room.copy_from_slice(slice);
                at += slice.len();
            }
            at == len
        };
        let result = loop {
            match tx.write(len, timeout, fill) {
                Ok(()) => break Ok(()),
                Err(Unwritten::Timeout) if !self.stop.requested() => continue,
                Err(Unwritten::Timeout) => break Err(Undelivered::Stopping),
                Err(Unwritten::Full) => break Err(Undelivered::Full),
                Err(Unwritten::Disconnected) => break Err(Undelivered::NoReceiver),
                Err(Unwritten::Short) => {
                    break Err(Undelivered::Failed(format!("the sample's slices do not add up to {len} B")))
                }
                Err(Unwritten::Failed(e)) => break Err(Undelivered::Failed(e)),
            }
        };
        if let Err(Undelivered::NoReceiver) = result {
            info!(route = %self.route, "the channel's receiver has gone: dropping until it can be reopened");
            self.tx = None;
            self.last_reopen = Instant::now();
        }
        result
    }
}

/// Forwards `key` into `channel` until `stop` is requested.
pub(crate) fn run(
    session: &zenoh::Session,
    key: &str,
    channel: &str,
    local: Local,
    tracker: Tracker,
    stats: Arc<RouteStats>,
    stop: Arc<Stop>,
) -> Result<(), BridgeError> {
    let route = format!("zenoh:{key} -> {channel}");
    let Some(mut tx) = open_until_stopped(channel, "sender", &stop, Sink::open)? else { return Ok(()) };
    if let Some(wait) = local.wait {
        tx.set_wait_policy(wait);
    }
    let inbound = Arc::new(Mutex::new(Inbound {
        route: route.clone(),
        channel: channel.to_owned(),
        tx: Some(tx),
        last_reopen: Instant::now(),
        tracker,
        local,
        stats,
        stop: Arc::clone(&stop),
    }));
    let subscriber = {
        let inbound = Arc::clone(&inbound);
        session
            .declare_subscriber(key.to_owned())
            .callback(move |sample| {
                // A panic in an earlier sample leaves the state as consistent as the last
                // completed step: go on with it.
                inbound.lock().unwrap_or_else(PoisonError::into_inner).on_sample(&sample);
            })
            .wait()
            .map_err(|e| BridgeError::Zenoh(format!("{route}: declare the subscriber: {e}")))?
    };
    info!(route = %route, "forwarding");
    while !stop.requested() {
        thread::sleep(Duration::from_millis(20));
    }
    subscriber.undeclare().wait().map_err(|e| BridgeError::Zenoh(format!("{route}: undeclare the subscriber: {e}")))?;
    info!(route = %route, "stopped");
    Ok(())
}
