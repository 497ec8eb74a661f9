//! Channel names and the shared-memory object names they map to.

use crate::error::AttachError;

/// Longest channel name: the object name `ferry.NAME` must fit in `NAME_MAX` (255).
pub const MAX_NAME_LEN: usize = 200;
/// Prefix of every segment's file name in `/dev/shm`, so ferry's segments are easy to
/// find.
pub(crate) const FILE_PREFIX: &str = "ferry.";

/// The file name, in `/dev/shm`, of the channel `name`'s segment (`name` checked by
/// [`validate_name`]).
pub(crate) fn file_name(name: &str) -> String {
    format!("{FILE_PREFIX}{name}")
}

/// Checks that `name` can name a channel: 1 to `MAX_NAME_LEN` of `[A-Za-z0-9._-]`, not
/// starting with a dot.
pub(crate) fn validate_name(name: &str) -> Result<(), AttachError> {
    let invalid = |reason| Err(AttachError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 200 bytes");
    }
    if name.starts_with('.') {
        return invalid("it starts with a dot");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return invalid("only ASCII letters, digits, `.`, `_` and `-` are allowed");
    }
    Ok(())
}
