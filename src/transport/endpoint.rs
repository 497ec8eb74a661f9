//! Endpoint strings: which transport, and where.

use std::path::PathBuf;

use crate::{error::AttachError, segment::validate_name};

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

    /// The Unix socket `auto:NAME` falls back to: `$XDG_RUNTIME_DIR/ferry.NAME.sock`, or
    /// `/tmp/ferry.NAME.sock` without a runtime directory.
    pub(crate) fn auto_socket(name: &str) -> PathBuf {
        let dir = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        dir.join(format!("ferry.{name}.sock"))
    }
}
