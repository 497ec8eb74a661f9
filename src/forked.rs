//! Handles copied into a forked child.
//!
//! A child made by `fork` starts with a copy of every handle its parent held. When it
//! drops them (a child that returns instead of calling `exec` or `_exit`), the copies
//! must not act for the parent's handles, which live on: give up a role or a seat the
//! parent still holds, publish or release from a stale copy of a position, remove a file
//! or a segment name the parent's handle owns, shut the parent's socket down or say its
//! goodbye. Each handle whose drop acts on something shared records the process that
//! made it ([`MadeBy`]); dropped in another, it only closes its descriptors and unmaps
//! its memory.

/// The process that made a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MadeBy(u32);

impl MadeBy {
    /// This process.
    pub(crate) fn this_process() -> Self {
        Self(std::process::id())
    }

    /// Whether the handle is a forked child's copy: this is not the process that made it
    /// (one system call, `getpid`; for drops, not for message paths).
    pub(crate) fn is_forked_copy(self) -> bool {
        std::process::id() != self.0
    }
}
