//! A bridge between local ferry channels and [Zenoh] key expressions, so a producer on one
//! host and a consumer on another each talk to a local channel with unchanged code
//! (feature `bridge`; the `ferry bridge` command).
//!
//! ferry has no network protocol of its own: the bridge is a Zenoh peer (no router needed)
//! that forwards
//!
//! - a local channel to a key expression ([`Route::ToZenoh`]): it is one of the channel's
//!   receivers (a subscriber, on a broadcast channel), reads each message in place and
//!   publishes it;
//! - a key expression into a local channel ([`Route::FromZenoh`]): it is one of the
//!   channel's senders (a publisher, on a broadcast channel) and writes each sample
//!   straight into a loan.
//!
//! One message is one sample, so message boundaries are kept; Zenoh delivers each
//! publisher's samples in order (reliable, in-order links), so each publisher's order is
//! kept.
//!
//! # Counting what is lost
//!
//! Each published sample carries a 20-byte stamp as its Zenoh attachment: a tag, the
//! publishing bridge's session id (random, new at each start) and the message's number on
//! the route in that session. The payload is the message alone. A receiving bridge keeps,
//! per publishing session, the next number it expects: a higher number means the messages
//! in between were lost (counted, logged with their range), a lower one is a duplicate
//! (dropped, counted). It keeps these positions in a small mapped file per route (see
//! [`StateDir`]), so a receiving bridge that is killed and restarted counts the messages
//! published while it was down. Samples from plain Zenoh publishers carry no stamp and are
//! delivered unchecked.
//!
//! # Faults
//!
//! A killed bridge is a dead peer to its local channel like any other (its receiver or
//! sender role is freed and can be taken again); the local processes keep running. The
//! Zenoh side reconnects to `--connect` endpoints, retrying every 0.25 s to 2 s, while the
//! far side is away. What happens to messages meanwhile is the [`Policy`].
//!
//! # Examples
//!
//! ```no_run
//! use ferry::bridge::{Bridge, Options, Route};
//!
//! let options = Options {
//!     routes: vec![Route::new("shm:camera", "zenoh:robot/camera")?],
//!     connect: vec![String::from("tcp/192.0.2.10:7447")],
//!     ..Options::default()
//! };
//! let bridge = Bridge::start(&options)?;
//! // ... later:
//! for (route, counters) in bridge.stats() {
//!     println!("{route}: {} forwarded", counters.forwarded);
//! }
//! bridge.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [Zenoh]: https://zenoh.io

mod cursor;
mod ends;
mod inbound;
mod options;
mod outbound;
mod sequence;
mod session;
mod shutdown;
mod stamp;
mod stats;

use std::{
    fmt, io,
    sync::Arc,
    thread::{self, JoinHandle},
    time::Duration,
};

pub use options::{Options, Policy, Route, StateDir, USAGE};
use stats::RouteStats;
pub use stats::Snapshot;
use tracing::{error, info, warn};
use zenoh::Wait;

use crate::{
    sync::{AtomicU32, Ordering::Relaxed},
    AttachError,
};

/// Why a bridge could not start or a route failed.
///
/// # Examples
///
/// ```
/// use ferry::bridge::{Bridge, BridgeError, Options};
///
/// let options = Options { config: Some("/nonexistent/zenoh.json5".into()), ..Options::default() };
/// let error = Bridge::start(&options).unwrap_err();
/// assert!(matches!(error, BridgeError::Zenoh(_)), "{error}");
/// assert!(error.to_string().contains("/nonexistent/zenoh.json5"));
/// ```
#[derive(Debug)]
pub enum BridgeError {
    /// Zenoh refused the configuration, could not open the session or declare an entity.
    Zenoh(String),
    /// A local channel could not be opened (other than "not there yet", which is waited
    /// out).
    Channel {
        /// The channel's endpoint.
        endpoint: String,
        /// Why.
        source: AttachError,
    },
    /// The route's position file (see [`StateDir`]) could not be used.
    State(io::Error),
    /// A route stopped on an error of its local channel.
    Route {
        /// The route, in words.
        route: String,
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zenoh(e) => write!(f, "zenoh: {e}"),
            Self::Channel { endpoint, source } => write!(f, "channel `{endpoint}`: {source}"),
            Self::State(e) => write!(f, "route state: {e} (or pass --no-state)"),
            Self::Route { route, reason } => write!(f, "route {route}: {reason}"),
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Channel { source, .. } => Some(source),
            Self::State(e) => Some(e),
            Self::Zenoh(_) | Self::Route { .. } => None,
        }
    }
}

/// How a route treats its local channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Local {
    /// Wait or drop when the other side cannot take a message.
    pub(crate) policy: Policy,
    /// How to wait on the channel; its default if `None`.
    pub(crate) wait: Option<crate::WaitPolicy>,
}

/// The flag that asks every route to finish.
#[derive(Debug)]
pub(crate) struct Stop(AtomicU32);

impl Stop {
    /// A flag not yet raised.
    pub(crate) fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// Asks the routes to finish.
    pub(crate) fn request(&self) {
        // SYNC: Relaxed; a flag the routes poll, publishing no other data (the threads are
        // joined, which orders everything else).
        self.0.store(1, Relaxed);
    }

    /// Whether a stop has been asked for.
    pub(crate) fn requested(&self) -> bool {
        // SYNC: Relaxed; see `request`.
        self.0.load(Relaxed) != 0
    }
}

/// Opens `endpoint` with `open`, waiting (and logging once) while it is not there yet or
/// its `role` is still held by a process on its way out. `None` if stopped first.
pub(crate) fn open_until_stopped<T>(
    endpoint: &str,
    role: &str,
    stop: &Stop,
    open: impl Fn(&str) -> Result<T, AttachError>,
) -> Result<Option<T>, BridgeError> {
    let mut told = false;
    loop {
        if stop.requested() {
            return Ok(None);
        }
        let wait = match open(endpoint) {
            Ok(handle) => return Ok(Some(handle)),
            Err(e @ (AttachError::NotFound { .. } | AttachError::NotInitialised { .. })) => e,
            Err(e @ AttachError::RoleTaken { .. }) => e,
            Err(AttachError::Io { source, .. })
                if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) =>
            {
                AttachError::Io { op: "open", name: endpoint.to_owned(), source }
            }
            Err(source) => return Err(BridgeError::Channel { endpoint: endpoint.to_owned(), source }),
        };
        if !told {
            info!(channel = endpoint, reason = %wait, "waiting to open the channel as its {role}");
            told = true;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// One running route.
struct RunningRoute {
    route: Route,
    stats: Arc<RouteStats>,
    thread: JoinHandle<Result<(), BridgeError>>,
}

/// A running bridge: one Zenoh session, one thread per route.
///
/// # Examples
///
/// One bridge, two routes: channel `out` to a key expression, and that key expression
/// into channel `in` (Zenoh delivers a session's own samples to it; across hosts, each
/// side runs one of the routes).
///
/// ```
/// use std::time::Duration;
/// use ferry::bridge::{Bridge, Options, Route, StateDir};
/// use ferry::{Config, Receiver, Sender};
///
/// # let id = std::process::id();
/// # let (out, inbox) = (format!("shm:doc-bridge-out-{id}"), format!("shm:doc-bridge-in-{id}"));
/// let mut producer = Sender::create(&out, &Config::new())?; // the bridge is its receiver
/// let mut consumer = Receiver::create(&inbox, &Config::new())?; // the bridge is its sender
/// # let key = format!("zenoh:doc/bridge/{id}");
/// let options = Options {
///     routes: vec![Route::new(&out, &key)?, Route::new(&key, &inbox)?],
///     state: StateDir::Memory,
///     ..Options::default()
/// };
/// let bridge = Bridge::start(&options)?;
/// producer.send(b"across")?;
/// assert_eq!(&*consumer.recv_timeout(Duration::from_secs(10))?, b"across");
/// bridge.stop()?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct Bridge {
    session: zenoh::Session,
    stop: Arc<Stop>,
    routes: Vec<RunningRoute>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("zid", &self.session.zid())
            .field("routes", &self.routes.iter().map(|r| &r.route).collect::<Vec<_>>())
            .finish()
    }
}

impl Bridge {
    /// Opens the Zenoh session and starts every route. A route whose channel does not
    /// exist yet waits for it.
    ///
    /// # Errors
    ///
    /// The Zenoh configuration is invalid or the session cannot open; a receiving route's
    /// position file cannot be used.
    pub fn start(options: &Options) -> Result<Self, BridgeError> {
        let stop = Arc::new(Stop::new());
        // The position files first: a second bridge on a route fails before it joins Zenoh.
        let inbound = options.routes.iter().any(|r| matches!(r, Route::FromZenoh { .. }));
        let state_dir = match &options.state {
            // Only routes into a channel keep positions.
            _ if !inbound => None,
            StateDir::Memory => None,
            StateDir::Default => Some(cursor::state_dir(None).map_err(BridgeError::State)?),
            StateDir::Dir(dir) => Some(cursor::state_dir(Some(dir)).map_err(BridgeError::State)?),
        };
        // Each inbound route gets its tracker (and its position file) now.
        let mut prepared = Vec::new();
        for route in &options.routes {
            let tracker = match (route, &state_dir) {
                (Route::ToZenoh { .. }, _) => None,
                (Route::FromZenoh { key, channel }, Some(dir)) => {
                    let path = cursor::file_for(dir, key, channel);
                    Some(sequence::Tracker::new(cursor::Cursor::open(&path).map_err(BridgeError::State)?))
                }
                (Route::FromZenoh { .. }, None) => Some(sequence::Tracker::new(cursor::Cursor::in_memory())),
            };
            prepared.push((route.clone(), tracker));
        }
        let session = session::open(options)?;
        let stamp_session = session::new_stamp_session();
        info!(
            zid = %session.zid(),
            stamp_session = %format_args!("{stamp_session:016x}"),
            listen = ?options.listen,
            connect = ?options.connect,
            scout = options.scout,
            "bridge up"
        );
        let mut routes = Vec::new();
        for (route, tracker) in prepared {
            let stats = Arc::new(RouteStats::default());
            let (thread_session, thread_stop) = (session.clone(), Arc::clone(&stop));
            let local = Local { policy: options.policy, wait: options.wait };
            let thread_stats = Arc::clone(&stats);
            let name = format!("ferry-bridge {}", route.channel());
            let thread = thread::Builder::new().name(name).spawn({
                let route = route.clone();
                move || match route {
                    Route::ToZenoh { channel, key } => outbound::run(
                        &thread_session,
                        &channel,
                        &key,
                        local,
                        stamp_session,
                        &thread_stats,
                        &thread_stop,
                    ),
                    Route::FromZenoh { key, channel } => {
                        let tracker = tracker.unwrap_or_else(|| sequence::Tracker::new(cursor::Cursor::in_memory()));
                        inbound::run(&thread_session, &key, &channel, local, tracker, thread_stats, thread_stop)
                    }
                }
            });
            let thread = match thread {
                Ok(thread) => thread,
                Err(e) => {
                    let bridge = Self { session, stop, routes };
                    let _ = bridge.stop();
                    return Err(BridgeError::Route {
                        route: route.to_string(),
                        reason: format!("start its thread: {e}"),
                    });
                }
            };
            routes.push(RunningRoute { route, stats, thread });
        }
        Ok(Self { session, stop, routes })
    }

    /// Each route and its counters now.
    pub fn stats(&self) -> Vec<(&Route, Snapshot)> {
        self.routes.iter().map(|r| (&r.route, r.stats.snapshot())).collect()
    }

    /// Whether a route has ended (on an error: [`Bridge::stop`] returns it).
    pub fn route_ended(&self) -> bool {
        self.routes.iter().any(|r| r.thread.is_finished())
    }

    /// Stops every route (each finishes the message in hand), then closes the session.
    ///
    /// # Errors
    ///
    /// The first error a route ended with.
    pub fn stop(self) -> Result<(), BridgeError> {
        self.stop.request();
        let mut first = None;
        for r in self.routes {
            let result = r.thread.join().unwrap_or_else(|_| {
                Err(BridgeError::Route { route: r.route.to_string(), reason: String::from("its thread panicked") })
            });
            if let Err(e) = result {
                error!(route = %r.route, error = %e, "route failed");
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.session.close().wait() {
            warn!(error = %e, "closing the Zenoh session");
        }
        first.map_or(Ok(()), Err)
    }
}

/// Runs a bridge until SIGINT or SIGTERM (or a route fails), printing each route's rate
/// and counters to stdout every `options.stats` and once more at the end. What `ferry
/// bridge` does.
///
/// # Errors
///
/// As [`Bridge::start`] and [`Bridge::stop`].
pub fn run(options: &Options) -> Result<(), BridgeError> {
    // Before Zenoh starts its threads, so that they inherit the mask.
    let blocked = shutdown::block().map_err(|e| BridgeError::Zenoh(format!("block SIGINT/SIGTERM: {e}")))?;
    let bridge = Bridge::start(options)?;
    shutdown::watch(blocked, Arc::clone(&bridge.stop))
        .map_err(|e| BridgeError::Zenoh(format!("start the signal thread: {e}")))?;
    let mut reporter =
        stats::Reporter::new(bridge.routes.iter().map(|r| (r.route.to_string(), Arc::clone(&r.stats))).collect());
    while !bridge.stop.requested() && !bridge.route_ended() {
        thread::sleep(Duration::from_millis(10));
        if options.stats.is_some_and(|every| reporter.since() >= every) {
            reporter.print("");
        }
    }
    // The routes finish the message in hand before the final counts.
    let result = bridge.stop();
    if options.stats.is_some() {
        reporter.print(" (final)");
    }
    result
}

/// Sends the bridge's logs to stderr: `RUST_LOG` if set, else `info` for ferry and
/// `warn` for everything else (Zenoh included).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ferry=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}
