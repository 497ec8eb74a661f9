//! A route from a local channel to a Zenoh key expression: the bridge is one of the
//! channel's receivers (or, on a broadcast channel, one of its subscribers) and publishes
//! each message as it lies in the slot.
//!
//! Each message is read in place (a [`RecvGuard`](crate::RecvGuard)) and its bytes handed
//! to Zenoh, which copies them once into its own buffer (Zenoh's shared-memory transport,
//! which could avoid that copy, is not used: it only helps when both ends are on one
//! host); the slot is released once Zenoh has the bytes. Each sample carries a stamp
//! (session and sequence number) as its attachment.
//!
//! Backpressure: under [`Policy::Block`] the publisher uses Zenoh's blocking congestion
//! control, and while no remote subscriber matches the key expression the route stops
//! reading, so the channel fills and its producer waits. Under [`Policy::Drop`] the route
//! keeps reading: a message with no subscriber to take it, or that Zenoh drops for
//! congestion, is counted (and still numbered, so the far side sees the gap).

use std::{sync::Arc, thread, time::Duration};

use tracing::{debug, info, trace, warn};
use zenoh::{qos::CongestionControl, Wait};

use super::{
    ends::{Next, Source},
    open_until_stopped,
    options::Policy,
    stamp::Stamp,
    stats::{Count, RouteStats},
    BridgeError, Local, Stop,
};
use crate::sync::{AtomicU32, Ordering::Relaxed};

/// How long one wait for a message lasts before the route looks at the stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// How often a held route (no subscriber, no sender) looks again.
const IDLE: Duration = Duration::from_millis(5);

/// Forwards `channel` to `key` until `stop` is requested.
pub(crate) fn run(
    session: &zenoh::Session,
    channel: &str,
    key: &str,
    local: Local,
    stamp_session: u64,
    stats: &RouteStats,
    stop: &Stop,
) -> Result<(), BridgeError> {
    let route = format!("{channel} -> zenoh:{key}");
    let Some(mut rx) = open_until_stopped(channel, "receiver", stop, Source::open)? else { return Ok(()) };
    if let Some(wait) = local.wait {
        rx.set_wait_policy(wait);
    }
    let policy = local.policy;
    let congestion = match policy {
        Policy::Block => CongestionControl::Block,
        Policy::Drop => CongestionControl::Drop,
    };
    let publisher = session
        .declare_publisher(key.to_owned())
        .congestion_control(congestion)
        .wait()
        .map_err(|e| BridgeError::Zenoh(format!("{route}: declare the publisher: {e}")))?;
    let matching_now = publisher.matching_status().wait().map(|s| s.matching()).unwrap_or(false);
    let matching = Arc::new(AtomicU32::new(u32::from(matching_now)));
    let listener = {
        let matching = Arc::clone(&matching);
        publisher
            .matching_listener()
            .callback(move |status| {
                // SYNC: Relaxed; a hint read by the route's loop, which publishes nothing
                // through it (a stale read only delays the route by one poll).
                matching.store(u32::from(status.matching()), Relaxed);
            })
            .wait()
            .map_err(|e| BridgeError::Zenoh(format!("{route}: declare the matching listener: {e}")))?
    };
    info!(route = %route, "forwarding");

    let mut seq = 0u64;
    let mut sender_gone = false;
    // Whether the route has no remote subscriber (as last logged).
    let mut held = false;
    while !stop.requested() {
        // SYNC: Relaxed; see the store in the matching listener.
        let subscribed = matching.load(Relaxed) != 0;
        if subscribed == held {
            held = !subscribed;
            match (held, policy) {
                (true, Policy::Block) => {
                    info!(route = %route, "no remote subscriber: holding the channel until one appears")
                }
                (true, Policy::Drop) => {
                    info!(route = %route, "no remote subscriber: dropping messages until one appears (--drop)")
                }
                (false, _) => info!(route = %route, "a remote subscriber is there: forwarding"),
            }
        }
        if held && policy == Policy::Block {
            thread::sleep(IDLE);
            continue;
        }
        let stamp = Stamp { session: stamp_session, seq };
        let forward = |message: &[u8]| {
            let len = message.len();
            if !subscribed {
                stats.count(Count::DroppedUnrouted);
                debug!(route = %route, seq = stamp.seq, len, "dropped: no remote subscriber");
                return;
            }
            match publisher.put(message).attachment(stamp.encode()).wait() {
                Ok(()) => {
                    stats.forwarded(len);
                    trace!(route = %route, seq = stamp.seq, len, "forwarded");
                }
                Err(e) => {
                    stats.count(Count::DroppedUnrouted);
                    warn!(route = %route, seq = stamp.seq, len, error = %e, "dropped: Zenoh refused the publication");
                }
            }
        };
        match rx.next(POLL, forward) {
            Ok(Next::Message(())) => seq += 1,
            Ok(Next::Timeout) => continue,
            Ok(Next::Gone) => {
                if !sender_gone {
                    info!(route = %route, "the channel's senders have gone: waiting for another");
                    sender_gone = true;
                }
                thread::sleep(IDLE);
                continue;
            }
            Ok(Next::Lagged(missed)) => {
                // Numbered all the same, so the far side counts them lost too.
                seq += missed;
                warn!(route = %route, missed, "lost: the broadcast channel's publisher overwrote them before they were read");
            }
            Err(reason) => return Err(BridgeError::Route { route, reason: format!("receive: {reason}") }),
        }
        if sender_gone {
            info!(route = %route, "a sender is back");
            sender_gone = false;
        }
    }
    drop(listener);
    info!(route = %route, "stopped");
    Ok(())
}
