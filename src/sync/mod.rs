//! The one facade over atomics, interior mutability, the futex and thread hints.
//!
//! Every other module takes its atomics, `UnsafeCell`, futex wait/wake and spin/yield
//! hints from here, so the same ring, signal and segment code compiles against `std`
//! normally and against [loom] under `--cfg ferry_loom` (a project-specific cfg, so
//! dependencies that react to the bare `loom` cfg do not change).
//!
//! # The rule
//!
//! Exactly one *world* is compiled, and each world is one file exporting the same names:
//!
//! - `std.rs`: std's atomics (newtyped, see below), a `std::cell::UnsafeCell`
//!   wrapper with loom's `with`/`with_mut` API, the real (shared, not private) futex via
//!   `rustix`, and std's yield and spin hints.
//! - `loom.rs`: loom's atomics and `UnsafeCell`, a model of the futex, loom's yield and
//!   spin (scheduling points), and the selection of a deliberate breakage ([`Mutation`]).
//!
//! Nothing outside this folder names loom, std's atomics, fences or `UnsafeCell`. For the
//! std ones the tool holds the rule: `clippy.toml` bans them (`disallowed-types`,
//! `disallowed-methods`), so code that bypassed the facade, and with it loom's view of
//! every access, fails `cargo clippy`; the rare exception (a test's own counter) says
//! why in its `#[allow(clippy::disallowed_types, reason = ...)]`. The std
//! world wraps std's atomics in `#[repr(transparent)]` newtypes for that reason: the ban
//! matches the type itself, so a plain re-export would ban the facade's own atomics too.
//!
//! Loom's atomics cannot live in a mapping shared with another process; under loom the
//! rings run on heap memory through exactly the same code, and named segments are
//! compiled out.
//!
//! [loom]: https://docs.rs/loom

#[cfg_attr(not(ferry_loom), path = "std.rs")]
#[cfg_attr(ferry_loom, path = "loom.rs")]
mod world;

/// The loom suite's switch, public through `ferry::loom_hooks`.
#[cfg(ferry_loom)]
pub use world::set_mutation;
pub(crate) use world::*;

/// Deliberate breakages, one per model in the loom suite, that the suite expects loom to
/// report: the proof that each model can fail. Each names the operation it weakens.
///
/// Only the loom world can select one (`set_mutation`); in the std world [`mutated`] is
/// always `false`, so [`weaken`] is the identity and compiles away.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[cfg_attr(not(ferry_loom), allow(dead_code, reason = "only the loom suite selects `None` and `NotifyLoad`"))]
pub enum Mutation {
    /// No breakage.
    None = 0,
    /// The SPSC producer publishes a slot's sequence with Relaxed instead of Release.
    SpscPublish,
    /// The SPSC consumer releases `head` with Relaxed instead of Release.
    SpscRelease,
    /// The MPMC producer publishes a slot's sequence with Relaxed instead of Release.
    MpmcPublish,
    /// The waker reads the waiter count without the light barrier before the load.
    NotifyLoad,
    /// The creator publishes the segment's magic with Relaxed instead of Release.
    InitMagic,
    /// An MPMC handle claims a position (its CAS on tail or head) with Relaxed instead of
    /// Release, so a recoverer may see the position claimed but not the announcement.
    MpmcClaim,
    /// A broadcast subscriber moves its cursor past a slot with Relaxed instead of
    /// Release, so a blocking publisher may overwrite a slot still being read.
    BroadcastCursor,
    /// A broadcast subscriber in overwrite mode re-checks a slot's sequence without the
    /// Acquire fence after its read, so it may accept bytes of the next lap.
    BroadcastValidate,
    /// A joining broadcast subscriber reads the tail without the SeqCst fence after it
    /// announces its cursor, so a publisher may overwrite where it starts.
    BroadcastJoin,
    /// The byte ring's producer publishes a record's commit word with Relaxed instead of
    /// Release.
    BytesPublish,
    /// The byte ring's consumer releases `head` with Relaxed instead of Release.
    BytesRelease,
    /// A handle re-arming the fd doorbell raises the flag without the heavy barrier after
    /// it, so a waker may miss it while the handle's re-check misses the message.
    DoorbellArm,
    /// An MPMC receiver's `try_recv` reports a copy send in progress at the head as an
    /// empty ring instead of waiting (bounded) for its write.
    MpmcWriteWait,
    /// An MPMC byte ring's producer takes its claiming turn (the CAS on `tail`) with
    /// Relaxed instead of AcqRel, so it may not see the last claimer's stamped headers.
    BytesMpmcClaim,
    /// An MPMC byte ring's producer publishes a record with Relaxed instead of Release.
    BytesMpmcPublish,
    /// An MPMC byte ring's consumer releases a record with Relaxed instead of Release.
    BytesMpmcRelease,
}

/// `order`, or `Relaxed` while the loom suite has selected `mutation`.
#[inline(always)]
pub(crate) fn weaken(order: Ordering, mutation: Mutation) -> Ordering {
    if mutated(mutation) {
        Ordering::Relaxed
    } else {
        order
    }
}
