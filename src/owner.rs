//! Whose objects an open accepts.
//!
//! A channel belongs to a uid. Whatever is found under a channel's name (a segment, a
//! socket, a FIFO, a description file) could have been put there by another user of the
//! machine, to receive the messages meant for the channel or to feed it forged ones. So
//! an open accepts only objects owned by the caller's effective uid, or by a uid the
//! caller allows explicitly ([`OpenOptions::allow_owner`](crate::OpenOptions::allow_owner)),
//! or, where the caller opts out, by anyone.

use crate::error::AttachError;

/// The owners an open accepts: the caller's effective uid, plus these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Owners {
    /// Other uids the caller trusts.
    others: Vec<u32>,
    /// The caller accepts any owner.
    any: bool,
}

impl Owners {
    /// Also accepts objects owned by `uid`.
    pub(crate) fn allow(&mut self, uid: u32) {
        if !self.others.contains(&uid) {
            self.others.push(uid);
        }
    }

    /// Accepts objects of any owner.
    pub(crate) fn allow_any(&mut self) {
        self.any = true;
    }

    /// Checks that `owner`, the uid that owns what was opened as `name`, is accepted.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotOwned`] naming the owner and how to accept it.
    pub(crate) fn check(&self, name: &str, owner: u32) -> Result<(), AttachError> {
        let me = rustix::process::geteuid().as_raw();
        if self.any || owner == me || self.others.contains(&owner) {
            return Ok(());
        }
        Err(AttachError::NotOwned { name: name.to_owned(), owner, me })
    }
}
