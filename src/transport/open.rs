//! Creating and opening a channel, per endpoint and per side, and the `auto:` fallback:
//! shared memory when it can be used, else a Unix socket named after the channel.
//!
//! - A receiver creates every kind of endpoint. `auto:NAME` falls back to the socket only
//!   if shared memory cannot be used here at all (no `/dev/shm`, no kernel support,
//!   `FERRY_DISABLE_SHM=1`); a refusal (permission denied, a name taken or squatted, no
//!   space) is an error, never a fallback.
//! - A sender opens every kind. `auto:NAME` falls back to the socket if shared memory
//!   cannot be used or there is no segment of that name; if neither is there, the
//!   shared-memory error says more.
//! - The `auto:` socket lives in a directory only this user can write to
//!   (`endpoint::auto_socket`), so no other user can have prepared it.
//! - A sender creates only shared memory, and a receiver opens only shared memory: a
//!   socket or a FIFO has one receiver, its creator.

use std::sync::Arc;
#[cfg(not(ferry_loom))]
use std::time::{Duration, Instant};

#[cfg(not(ferry_loom))]
use crate::transport::{
    endpoint::Endpoint,
    fifo::{self, FifoReceiver},
    unix::{self, UnixReceiver},
};
use crate::{
    config::Config,
    error::AttachError,
    liveness,
    owner::Owners,
    segment::{Segment, Shared},
    signal::bell::{BellFds, BellFiles, BellSide},
    transport::{
        receiver::RecvVia,
        sender::SendVia,
        shm::{refuse_broadcast, Bell, ShmReceiver, ShmSender},
        shm_bytes::{BytesReceiver, BytesSender},
    },
};

/// Why `auto:` fell back from shared memory to a Unix socket, if it did.
pub(crate) type Fallback = Option<String>;

/// A channel inside this process, on heap memory: its sender and its receiver.
pub(crate) fn in_memory(config: &Config) -> Result<(SendVia, RecvVia), AttachError> {
    config.validate()?;
    let segment = Shared::new(Segment::heap(config.geometry(), liveness::me())?);
    let (tx_bell, rx_bell) = BellFds::pipes().map_err(|source| AttachError::Io {
        op: "make the doorbell pipes of",
        name: String::from("(in memory)"),
        source,
    })?;
    let tx = sender_on(segment.clone(), Bell::new(tx_bell, None))?;
    let rx = receiver_on(segment, Bell::new(rx_bell, None))?;
    Ok((tx, rx))
}

/// A sender attached to `segment` with the doorbell `bell`: on its slot ring, or its
/// byte ring.
fn sender_on(segment: Shared, bell: Bell) -> Result<SendVia, AttachError> {
    Ok(if segment.geometry().kind.is_bytes() {
        SendVia::ShmBytes(BytesSender::attach(segment, bell)?)
    } else {
        SendVia::Shm(ShmSender::attach(segment, bell)?)
    })
}

/// A receiver attached to `segment` with the doorbell `bell`: on its slot ring, or its
/// byte ring.
fn receiver_on(segment: Shared, bell: Bell) -> Result<RecvVia, AttachError> {
    Ok(if segment.geometry().kind.is_bytes() {
        RecvVia::ShmBytes(BytesReceiver::attach(segment, bell)?)
    } else {
        RecvVia::Shm(ShmReceiver::attach(segment, bell)?)
    })
}

/// A segment this process attaches to, and its doorbell files if it created them.
#[cfg(not(ferry_loom))]
struct Attached {
    name: String,
    segment: Shared,
    files: Option<Arc<BellFiles>>,
    owners: Owners,
}

#[cfg(not(ferry_loom))]
impl Attached {
    /// The doorbell for a handle on `side`.
    fn bell(&self, side: BellSide) -> Result<Bell, AttachError> {
        refuse_broadcast(&self.segment)?;
        let recorded = recorded_bells(&self.segment, &self.name)?;
        let fds = crate::signal::bell::open_files(&self.name, side, &self.owners, recorded)?;
        Ok(Bell::new(fds, self.files.clone()))
    }

    fn sender(self) -> Result<SendVia, AttachError> {
        let bell = self.bell(BellSide::Sender)?;
        sender_on(self.segment, bell)
    }

    fn receiver(self) -> Result<RecvVia, AttachError> {
        let bell = self.bell(BellSide::Receiver)?;
        receiver_on(self.segment, bell)
    }
}

/// Creates the named segment, reclaiming a stale one of that name, and its doorbells.
#[cfg(not(ferry_loom))]
fn create_segment(name: &str, config: &Config) -> Result<Attached, AttachError> {
    config.validate()?;
    let segment = Segment::create(name, config.geometry(), config.get_mode(), liveness::me(), liveness::is_stale)?;
    let files = crate::signal::bell::create_files(name, config.get_mode())?;
    segment.header().record_bells(files.inodes());
    Ok(Attached {
        name: name.to_owned(),
        segment: Shared::new(segment),
        files: Some(Arc::new(files)),
        owners: Owners::default(),
    })
}

/// How long an opener waits for the creator to record the doorbells in the header.
#[cfg(not(ferry_loom))]
const RECORD_TIMEOUT: Duration = Duration::from_secs(2);

/// The doorbells' inode numbers as the creator of `segment` recorded them, waiting a
/// bounded time for it to do so.
#[cfg(not(ferry_loom))]
pub(crate) fn recorded_bells(segment: &Segment, name: &str) -> Result<[u64; 2], AttachError> {
    let deadline = Instant::now() + RECORD_TIMEOUT;
    loop {
        if let Some(recorded) = segment.header().bells() {
            return Ok(recorded);
        }
        if Instant::now() >= deadline {
            return Err(AttachError::NotInitialised { name: name.to_owned() });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Opens the named segment, checking its geometry against `expected`'s.
#[cfg(not(ferry_loom))]
fn open_segment(name: &str, expected: Option<&Config>, owners: &Owners) -> Result<Attached, AttachError> {
    let segment = Shared::new(Segment::open(name, expected.map(Config::geometry), owners)?);
    Ok(Attached { name: name.to_owned(), segment, files: None, owners: owners.clone() })
}

/// Creates the shared-memory channel `endpoint` (`NAME`, `shm:NAME` or `auto:NAME`) and
/// attaches a sender to it.
#[cfg(not(ferry_loom))]
pub(crate) fn create_sender(endpoint: &str, config: &Config) -> Result<SendVia, AttachError> {
    match Endpoint::parse(endpoint)? {
        Endpoint::Shm(name) | Endpoint::Auto(name) => create_segment(&name, config)?.sender(),
        Endpoint::Unix(_) | Endpoint::Fifo(_) => Err(AttachError::Unsupported {
            endpoint: endpoint.to_owned(),
            what: "creating a socket or pipe endpoint from the sender: its receiver creates it",
        }),
    }
}

/// Opens the existing channel `endpoint` as a sender; with `expected`, its geometry must
/// be that configuration's (on a socket or pipe, its slot size).
#[cfg(not(ferry_loom))]
pub(crate) fn open_sender(
    endpoint: &str,
    expected: Option<&Config>,
    owners: &Owners,
) -> Result<(SendVia, Fallback), AttachError> {
    let shm = |name: &str| -> Result<SendVia, AttachError> { open_segment(name, expected, owners)?.sender() };
    let unix = |path: &std::path::Path| unix::open_sender(path, owners).map(SendVia::Unix);
    let (via, fallback) = match Endpoint::parse(endpoint)? {
        Endpoint::Shm(name) => (shm(&name)?, None),
        Endpoint::Unix(path) => (unix(&path)?, None),
        Endpoint::Fifo(path) => (fifo::open_sender(&path, owners).map(SendVia::Fifo)?, None),
        Endpoint::Auto(name) => match shm(&name) {
            Ok(via) => (via, None),
            // No segment: its receiver may have fallen back (it may see no shared memory
            // where this process does).
            Err(shm_error) if unavailable(&shm_error) || matches!(shm_error, AttachError::NotFound { .. }) => {
                match Endpoint::auto_socket(&name).and_then(|path| unix(&path)) {
                    Ok(via) => (via, Some(shm_error.to_string())),
                    // Neither is there: the shared-memory error says more.
                    Err(AttachError::NotFound { .. }) => return Err(shm_error),
                    Err(socket_error) => return Err(socket_error),
                }
            }
            // A segment is there but refused (another user's, a link, a mismatch):
            // not a reason to talk to something else.
            Err(shm_error) => return Err(shm_error),
        },
    };
    // On a socket or pipe the receiver's slot size is the whole geometry.
    if let Some(config) = expected.filter(|_| via.is_stream()) {
        if via.slot_size() != config.get_slot_size() {
            return Err(AttachError::GeometryMismatch {
                name: endpoint.to_owned(),
                expected: format!("stream of messages up to {} B", config.get_slot_size()),
                found: format!("stream of messages up to {} B", via.slot_size()),
            });
        }
    }
    Ok((via, fallback))
}

/// Creates the channel `endpoint` (a segment, a listening Unix socket or a FIFO) and
/// attaches a receiver to it.
#[cfg(not(ferry_loom))]
pub(crate) fn create_receiver(endpoint: &str, config: &Config) -> Result<(RecvVia, Fallback), AttachError> {
    let shm = |name: &str| -> Result<RecvVia, AttachError> { create_segment(name, config)?.receiver() };
    config.validate()?;
    let (slot_size, mode) = (config.get_slot_size(), config.get_mode());
    let unix = |path: &std::path::Path| UnixReceiver::create(path, slot_size, mode);
    Ok(match Endpoint::parse(endpoint)? {
        Endpoint::Shm(name) => (shm(&name)?, None),
        Endpoint::Unix(path) => (RecvVia::Unix(unix(&path)?), None),
        Endpoint::Fifo(path) => (RecvVia::Fifo(FifoReceiver::create(&path, slot_size, mode)?), None),
        Endpoint::Auto(name) => match shm(&name) {
            Ok(via) => (via, None),
            Err(shm_error) if unavailable(&shm_error) => {
                (RecvVia::Unix(unix(&Endpoint::auto_socket(&name)?)?), Some(shm_error.to_string()))
            }
            // A refusal (permission, a name taken or squatted, no space) is not a reason
            // to fall back: it would hide the problem, and maybe hand the channel to
            // whoever caused it.
            Err(shm_error) => return Err(shm_error),
        },
    })
}

/// Opens the existing shared-memory channel `endpoint` as a receiver; with `expected`,
/// its geometry must be that configuration's.
#[cfg(not(ferry_loom))]
pub(crate) fn open_receiver(
    endpoint: &str,
    expected: Option<&Config>,
    owners: &Owners,
) -> Result<RecvVia, AttachError> {
    match Endpoint::parse(endpoint)? {
        Endpoint::Shm(name) | Endpoint::Auto(name) => open_segment(&name, expected, owners)?.receiver(),
        Endpoint::Unix(_) | Endpoint::Fifo(_) => Err(AttachError::Unsupported {
            endpoint: endpoint.to_owned(),
            what: "a second receiver on a socket or pipe: its one receiver is the one that created it",
        }),
    }
}

/// Whether `error` says shared memory cannot be used here at all (no `/dev/shm`, no
/// support in the kernel, `FERRY_DISABLE_SHM=1`): the only reasons `auto:` falls back.
#[cfg(not(ferry_loom))]
fn unavailable(error: &AttachError) -> bool {
    match error {
        AttachError::Unsupported { .. } => true,
        AttachError::Io { source, .. } => {
            matches!(source.raw_os_error(), Some(libc::ENOSYS | libc::EOPNOTSUPP | libc::ENODEV))
        }
        _ => false,
    }
}

/// Removes the named shared-memory channel's segment (`NAME` or `shm:NAME`).
#[cfg(not(ferry_loom))]
pub(crate) fn unlink(name: &str) -> Result<(), AttachError> {
    let name = name.strip_prefix("shm:").unwrap_or(name);
    crate::segment::unlink(name)?;
    crate::signal::bell::remove_files(name);
    crate::signal::seat_bell::remove_seat_files(name);
    Ok(())
}
