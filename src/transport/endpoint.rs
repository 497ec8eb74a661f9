//! Endpoint strings: which transport, and where.

use std::{
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::PathBuf,
};

use crate::{
    error::AttachError,
    segment::{object::kind_of, validate_name},
};

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
                validate_name(rest)?;
                Ok(Self::Shm(rest.to_owned()))
            }
            "auto" => {
                validate_name(rest)?;
                Ok(Self::Auto(rest.to_owned()))
            }
            "unix" => path(rest).map(Self::Unix),
            "fifo" => path(rest).map(Self::Fifo),
            _ => Err(invalid("unknown transport: use shm:, unix:, fifo: or auto:")),
        }
    }

    /// The Unix socket `auto:NAME` falls back to, `ferry.NAME.sock` in a directory no
    /// other user can have prepared ([`private_dir`]).
    pub(crate) fn auto_socket(name: &str) -> Result<PathBuf, AttachError> {
        Ok(private_dir()?.join(format!("ferry.{name}.sock")))
    }
}

/// A directory only this user can write to, for `auto:` sockets: `$XDG_RUNTIME_DIR` if it
/// is a directory (not a link) of this user that nobody else can write to, else
/// `/tmp/ferry-UID`, made with mode 0700 if missing and checked on every use: a directory
/// (not a link) of this user, with no permission for anyone else. In a sticky `/tmp`
/// nobody else can rename or remove it once it is checked.
fn private_dir() -> Result<PathBuf, AttachError> {
    let me = rustix::process::geteuid().as_raw();
    let private = |meta: &std::fs::Metadata, others: u32| {
        meta.file_type().is_dir() && meta.uid() == me && meta.mode() & others == 0
    };
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_absolute()) {
        if std::fs::symlink_metadata(&dir).is_ok_and(|meta| private(&meta, 0o022)) {
            return Ok(dir);
        }
    }
    let dir = PathBuf::from(format!("/tmp/ferry-{me}"));
    let name = dir.display().to_string();
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(AttachError::Io { op: "make the private directory", name, source: e }),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| AttachError::Io {
        op: "inspect",
        name: name.clone(),
        source: e,
    })?;
    if private(&meta, 0o077) {
        return Ok(dir);
    }
    let found = if !meta.file_type().is_dir() {
        kind_of(meta.mode()).to_owned()
    } else if meta.uid() != me {
        format!("a directory of uid {}", meta.uid())
    } else {
        format!("a directory with mode {:04o}", meta.mode() & 0o7777)
    };
    Err(AttachError::Unexpected { name, found, expected: "a directory of this user's, mode 0700" })
}
