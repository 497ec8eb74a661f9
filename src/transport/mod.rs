//! Transports: where a channel's messages travel, named by an endpoint string.
//!
//! - `shm:NAME` (or plain `NAME`): a ring in shared memory (`shm.rs`, the fast path);
//! - `unix:PATH`: a Unix domain stream socket with length-prefixed frames (`unix.rs`);
//! - `fifo:PATH`: a named pipe with length-prefixed frames (`fifo.rs`);
//! - `auto:NAME`: shared memory when it can be used, else a Unix socket named after
//!   `NAME` in the runtime directory; the reason for a fallback is kept for the caller.
//!
//! Every transport offers the same calls with the same blocking, try and timeout
//! semantics; `channel.rs` dispatches over them with a private enum.

pub(crate) mod fifo;
pub(crate) mod framing;
pub(crate) mod shm;
pub(crate) mod unix;

use std::{
    fs, io,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{error::AttachError, signal::wait::GaveUp};

/// A parsed endpoint string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Shm(String),
    Unix(PathBuf),
    Fifo(PathBuf),
    Auto(String),
}

impl Endpoint {
    /// Parses `shm:NAME`, `unix:PATH`, `fifo:PATH`, `auto:NAME`, or a bare `NAME` (shm).
    pub(crate) fn parse(endpoint: &str) -> Result<Self, AttachError> {
        let invalid = |reason| AttachError::InvalidEndpoint { endpoint: endpoint.to_owned(), reason };
        let (scheme, rest) = match endpoint.split_once(':') {
            Some((scheme, rest)) => (scheme, rest),
            None => ("shm", endpoint),
        };
        let path = |rest: &str| {
            if rest.is_empty() {
                Err(invalid("the path is empty"))
            } else if rest.as_bytes().contains(&0) {
                Err(invalid("the path contains a NUL byte"))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        match scheme {
            "shm" => {
                crate::segment::validate_name(rest)?;
                Ok(Self::Shm(rest.to_owned()))
            }
            "auto" => {
                crate::segment::validate_name(rest)?;
                Ok(Self::Auto(rest.to_owned()))
            }
            "unix" => path(rest).map(Self::Unix),
            "fifo" => path(rest).map(Self::Fifo),
            _ => Err(invalid("unknown transport: use shm:, unix:, fifo: or auto:")),
        }
    }

    /// The Unix socket `auto:NAME` falls back to: `$XDG_RUNTIME_DIR/ferry.NAME.sock`, or
    /// `/tmp/ferry.NAME.sock` without a runtime directory.
    pub(crate) fn auto_socket(name: &str) -> PathBuf {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        dir.join(format!("ferry.{name}.sock"))
    }
}

/// How long a dropped sender waits for the stream to take the rest of its last frame.
pub(crate) const FINISH_FRAME: Duration = Duration::from_secs(1);

/// Why a call that may wait gave up.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Not possible now (from a `try_` call).
    WouldBlock,
    /// The wait ran out.
    Timeout,
    /// The peer has gone (or its connection failed and is unusable).
    Gone,
    /// The shared state or the stream is inconsistent.
    Corrupt(&'static str),
    /// The next message is this long and the caller refused it; it stays.
    Refused(usize),
}

impl From<GaveUp> for Stop {
    fn from(gave_up: GaveUp) -> Self {
        match gave_up {
            GaveUp::WouldBlock => Self::WouldBlock,
            GaveUp::Timeout => Self::Timeout,
            GaveUp::Gone => Self::Gone,
        }
    }
}

/// First word of a stream endpoint's description file, before the slot size.
const DESCRIPTION_MAGIC: &str = "ferry-stream-v1";

/// The file that describes the socket or FIFO at `path`: `PATH.ferry`.
fn description_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ferry");
    PathBuf::from(name)
}

/// Writes the description of the stream endpoint at `path` (its receiver's slot size),
/// which senders read on open, with the endpoint's mode.
pub(crate) fn describe(path: &Path, slot_size: usize, mode: u32) -> io::Result<()> {
    let description = description_path(path);
    let _ = fs::remove_file(&description);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&description)?;
    io::Write::write_all(&mut file, format!("{DESCRIPTION_MAGIC} {slot_size}\n").as_bytes())?;
    fs::set_permissions(&description, fs::Permissions::from_mode(mode))
}

/// Reads the slot size a stream endpoint's receiver described.
pub(crate) fn read_description(path: &Path) -> Result<usize, AttachError> {
    let name = path.display().to_string();
    let text = fs::read_to_string(description_path(path)).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => AttachError::NotFound { name: name.clone() },
        io::ErrorKind::PermissionDenied => AttachError::PermissionDenied { name: name.clone() },
        _ => AttachError::Io { op: "read the description of", name: name.clone(), source: e },
    })?;
    let corrupt = || AttachError::CorruptHeader { name: name.clone(), reason: "its description file is not ferry's" };
    let (magic, size) = text.trim_end().split_once(' ').ok_or_else(corrupt)?;
    if magic != DESCRIPTION_MAGIC {
        return Err(corrupt());
    }
    size.parse::<usize>().ok().filter(|&s| (1..=crate::MAX_SLOT_SIZE).contains(&s)).ok_or_else(corrupt)
}

/// Removes a stream endpoint's description file.
pub(crate) fn remove_description(path: &Path) {
    let _ = fs::remove_file(description_path(path));
}
