//! `ferry_config`: the shape of a new channel, versioned by its `size` field so later
//! versions can add fields without breaking programs built against this header.

use std::{
    mem::{offset_of, size_of},
    ptr,
};

use ferry::{Config, Policy, RingKind, Signaling};

use crate::{
    boundary::{self, Out},
    status::{ferry_status, ferry_status::*, Failure},
};

/// The ring kind of a channel (`ferry_config.kind`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ferry_kind {
    /// One sender and one receiver (the default).
    FERRY_KIND_SPSC = 1,
    /// Any number of senders and receivers, in any processes; each message goes to one
    /// receiver.
    FERRY_KIND_MPMC = 2,
    /// Any number of publishers and subscribers; every message goes to every subscriber
    /// (made by `ferry_publisher_create`, whatever `kind` its `ferry_config` says).
    FERRY_KIND_BROADCAST = 3,
}

/// What a broadcast channel does about a subscriber a whole ring behind
/// (`ferry_broadcast_config.policy`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ferry_policy {
    /// A publisher waits for the slowest live subscriber (the default).
    FERRY_POLICY_BLOCK = 1,
    /// A publisher never waits; a subscriber that fell behind gets `FERRY_ERR_LAGGED`.
    FERRY_POLICY_OVERWRITE = 2,
}

/// How the blocked side of a channel sleeps (`ferry_config.signaling`).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ferry_signaling {
    /// futex wait/wake on a word in the segment (Linux; the default).
    FERRY_SIGNALING_FUTEX = 1,
    /// A process-shared POSIX semaphore in the segment.
    FERRY_SIGNALING_SEMAPHORE = 2,
}

/// The shape of a new channel, chosen by its creator.
///
/// Always start from `ferry_config_init`, which sets `size` and the defaults, then
/// change the fields you need:
///
///     ferry_config cfg;
///     ferry_config_init(&cfg);
///     cfg.slot_size = 256;
///
/// `size` versions the struct: a later ferry.h may add fields at the end. The library
/// reads `size` bytes; fields it does not know must be zero (their default), so a
/// setting it cannot honour is refused rather than ignored.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ferry_config {
    /// `sizeof(ferry_config)` as the caller was compiled; set by `ferry_config_init`.
    pub size: usize,
    /// A `ferry_kind` value: `FERRY_KIND_SPSC` (default) or `FERRY_KIND_MPMC`.
    pub kind: u32,
    /// A `ferry_signaling` value: `FERRY_SIGNALING_FUTEX` (default) or
    /// `FERRY_SIGNALING_SEMAPHORE`.
    pub signaling: u32,
    /// The largest message in bytes, 1 to `FERRY_MAX_SLOT_SIZE` (default 1024).
    pub slot_size: usize,
    /// How many messages a shared-memory ring holds at once: 1 to `FERRY_MAX_CAPACITY`,
    /// any number for a queue, a power of two for a broadcast channel (default 256).
    /// Sockets and FIFOs ignore it.
    pub capacity: usize,
    /// Permission bits of the shared-memory object, socket or FIFO, applied whatever the
    /// umask (default 0600).
    pub mode: u32,
    /// 0 (the default): the ring has `capacity` slots of `slot_size` bytes. Otherwise
    /// the channel is sized in bytes: its ring holds this many bytes of messages of any
    /// size from 0 to `slot_size` (the largest message, then up to 1 GiB), each taking
    /// what it needs (loan one with `ferry_loan_bytes`, or `ferry_publisher_loan_bytes`
    /// on a broadcast channel); `capacity` is ignored. A power of two, at least two of
    /// the largest messages' records: 2 x (16 + `slot_size`) rounded up to a power of
    /// two. Any kind: SPSC, MPMC (a loan keeps the size it was taken with until
    /// received) or broadcast (`ferry_publisher_create`), which then blocks and keeps no
    /// history (`FERRY_POLICY_BLOCK`, `history` 0 in its `ferry_broadcast_config`).
    pub capacity_bytes: usize,
}

/// The broadcast part of a new broadcast channel's shape (`ferry_publisher_create`),
/// beside the `ferry_config` that gives its slot size, capacity, signaling and mode.
///
/// Start from `ferry_broadcast_config_init`, then change the fields you need; `size`
/// versions the struct as `ferry_config`'s does.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ferry_broadcast_config {
    /// `sizeof(ferry_broadcast_config)`; set by `ferry_broadcast_config_init`.
    pub size: usize,
    /// A `ferry_policy` value (default `FERRY_POLICY_BLOCK`).
    pub policy: u32,
    /// How many of the latest messages are kept for late joiners (at most half the
    /// capacity; default 0).
    pub history: usize,
    /// How many subscribers may be attached at once (default 128).
    pub subscribers: usize,
}

impl ferry_broadcast_config {
    fn defaults() -> Self {
        let rust = Config::new();
        Self {
            size: size_of::<Self>(),
            policy: ferry_policy::FERRY_POLICY_BLOCK as u32,
            history: rust.get_history(),
            subscribers: rust.get_subscribers(),
        }
    }

    /// The broadcast channel `cfg` and `bcfg` describe together (each NULL for its
    /// defaults); `cfg->kind` is ignored.
    ///
    /// # Safety
    ///
    /// `cfg` is NULL or points to `cfg->size` readable bytes; `bcfg` is NULL or points to
    /// `bcfg->size` readable bytes.
    pub(crate) unsafe fn read(cfg: *const ferry_config, bcfg: *const Self) -> Result<Config, Failure> {
        // SAFETY: the caller's contract.
        let (shape, broadcast) = unsafe { (ferry_config::read_struct(cfg)?, Self::read_struct(bcfg)?) };
        let policy = match broadcast.policy {
            p if p == ferry_policy::FERRY_POLICY_BLOCK as u32 => Policy::Block,
            p if p == ferry_policy::FERRY_POLICY_OVERWRITE as u32 => Policy::Overwrite,
            other => {
                return Err(Failure::new(
                    FERRY_ERR_INVALID_CONFIG,
                    format!(
                        "ferry_broadcast_config.policy is {other}: use FERRY_POLICY_BLOCK or FERRY_POLICY_OVERWRITE"
                    ),
                ))
            }
        };
        let config = shape.to_rust()?.kind(RingKind::Broadcast);
        // ferry refuses this too; said here in the fields C sets.
        if shape.capacity_bytes != 0 && (policy == Policy::Overwrite || broadcast.history != 0) {
            return Err(Failure::new(
                FERRY_ERR_INVALID_CONFIG,
                format!(
                    "a broadcast channel sized in bytes (ferry_config.capacity_bytes {}) blocks and keeps no \
                     history, but ferry_broadcast_config asks for {} and history {}: use FERRY_POLICY_BLOCK and \
                     history 0, or size the channel in slots (capacity_bytes 0)",
                    shape.capacity_bytes,
                    if policy == Policy::Overwrite { "FERRY_POLICY_OVERWRITE" } else { "FERRY_POLICY_BLOCK" },
                    broadcast.history,
                ),
            ));
        }
        Ok(config.policy(policy).history(broadcast.history).subscribers(broadcast.subscribers))
    }

    /// Reads the caller's struct (NULL: the defaults), whose `size` must be this one's.
    ///
    /// # Safety
    ///
    /// `cfg` is NULL or points to `cfg->size` readable bytes.
    unsafe fn read_struct(cfg: *const Self) -> Result<Self, Failure> {
        if cfg.is_null() {
            return Ok(Self::defaults());
        }
        // SAFETY: `cfg` points to at least a `size` field (caller's contract).
        let size = unsafe { ptr::addr_of!((*cfg).size).read_unaligned() };
        if size != size_of::<Self>() {
            return Err(Failure::new(
                FERRY_ERR_INVALID_ARGUMENT,
                format!(
                    "ferry_broadcast_config.size is {size}, not {}: initialise it with ferry_broadcast_config_init",
                    size_of::<Self>()
                ),
            ));
        }
        // SAFETY: `size` readable bytes, which is the whole struct.
        Ok(unsafe { cfg.read_unaligned() })
    }
}

/// Fills `*cfg` with the broadcast defaults (block mode, no history, 128 subscriber
/// seats) and sets `cfg->size`.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT` if `cfg` is NULL.
///
/// # Safety
///
/// `cfg` is NULL or points to writable memory for a `ferry_broadcast_config`.
#[no_mangle]
pub unsafe extern "C" fn ferry_broadcast_config_init(cfg: *mut ferry_broadcast_config) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable for a ferry_broadcast_config (caller's contract).
        let mut out = unsafe { Out::new(cfg, "cfg") }?;
        out.set(ferry_broadcast_config::defaults());
        Ok(())
    })
}

/// The largest slot size, in bytes.
pub const FERRY_MAX_SLOT_SIZE: usize = 1 << 30;
/// The largest number of slots.
pub const FERRY_MAX_CAPACITY: usize = 1 << 24;
/// The shared-memory layout version this header describes; compare it with
/// `ferry_layout_version()` to check the library speaks it too.
pub const FERRY_LAYOUT_VERSION: u32 = 8;

// The header's constants are ferry's; a change there must regenerate ferry.h.
const _: () = assert!(FERRY_MAX_SLOT_SIZE == ferry::MAX_SLOT_SIZE);
const _: () = assert!(FERRY_MAX_CAPACITY == ferry::MAX_CAPACITY);
const _: () = assert!(FERRY_LAYOUT_VERSION == ferry::LAYOUT_VERSION);

/// The smallest `size` this library accepts: the first version of the struct.
const SIZE_V1: usize = offset_of!(ferry_config, mode) + size_of::<u32>();
/// A larger `size` is not a `ferry_config` at all (was `ferry_config_init` called?).
const SIZE_LIMIT: usize = 4096;

impl ferry_config {
    fn defaults() -> Self {
        let rust = Config::new();
        Self {
            size: size_of::<Self>(),
            kind: ferry_kind::FERRY_KIND_SPSC as u32,
            signaling: ferry_signaling::FERRY_SIGNALING_FUTEX as u32,
            slot_size: rust.get_slot_size(),
            capacity: rust.get_capacity(),
            mode: 0o600,
            capacity_bytes: 0,
        }
    }

    /// Reads the caller's config, whose `size` says how much of it there is.
    ///
    /// # Safety
    ///
    /// `cfg` is NULL or points to `cfg->size` readable bytes.
    pub(crate) unsafe fn read(cfg: *const ferry_config) -> Result<Config, Failure> {
        if cfg.is_null() {
            return Ok(Config::new());
        }
        // SAFETY: the caller's contract.
        unsafe { Self::read_struct(cfg) }?.to_rust()
    }

    /// The caller's config as this library's struct (NULL: the defaults): the fields
    /// its `size` covers, the defaults after them.
    ///
    /// # Safety
    ///
    /// `cfg` is NULL or points to `cfg->size` readable bytes.
    unsafe fn read_struct(cfg: *const ferry_config) -> Result<Self, Failure> {
        if cfg.is_null() {
            return Ok(Self::defaults());
        }
        // SAFETY: `cfg` points to at least a `size` field (caller's contract).
        let size = unsafe { ptr::addr_of!((*cfg).size).read_unaligned() };
        if !(SIZE_V1..=SIZE_LIMIT).contains(&size) {
            return Err(Failure::new(
                FERRY_ERR_INVALID_ARGUMENT,
                format!(
                    "ferry_config.size is {size}, not a size this library knows \
                     ({SIZE_V1} to {SIZE_LIMIT}): initialise the config with ferry_config_init"
                ),
            ));
        }
        let mut local = Self::defaults();
        let known = size.min(size_of::<Self>());
        // SAFETY: the caller's config holds `size >= known` readable bytes; `local` is a
        // `repr(C)` struct of integers (any bytes are valid, padding included) at least
        // `known` bytes long; the two do not overlap.
        unsafe { ptr::copy_nonoverlapping(cfg.cast::<u8>(), ptr::addr_of_mut!(local).cast::<u8>(), known) };
        if size > known {
            // A newer header's fields: accepted only at their zero (= default) values,
            // so a setting this library cannot honour is never silently dropped.
            // SAFETY: the caller's config holds `size` readable bytes.
            let newer = unsafe { std::slice::from_raw_parts(cfg.cast::<u8>().add(known), size - known) };
            if newer.iter().any(|&b| b != 0) {
                return Err(Failure::new(
                    FERRY_ERR_INVALID_ARGUMENT,
                    format!(
                        "ferry_config comes from a newer ferry.h ({size} bytes, this library knows {known}) \
                         and sets fields this library does not have"
                    ),
                ));
            }
        }
        Ok(local)
    }

    fn to_rust(self) -> Result<Config, Failure> {
        let kind = match self.kind {
            k if k == ferry_kind::FERRY_KIND_SPSC as u32 => RingKind::Spsc,
            k if k == ferry_kind::FERRY_KIND_MPMC as u32 => RingKind::Mpmc,
            k if k == ferry_kind::FERRY_KIND_BROADCAST as u32 => RingKind::Broadcast,
            other => {
                return Err(Failure::new(
                    FERRY_ERR_INVALID_CONFIG,
                    format!(
                        "ferry_config.kind is {other}: use FERRY_KIND_SPSC, FERRY_KIND_MPMC or FERRY_KIND_BROADCAST"
                    ),
                ))
            }
        };

        let signaling = match self.signaling {
            s if s == ferry_signaling::FERRY_SIGNALING_FUTEX as u32 => Signaling::Futex,
            s if s == ferry_signaling::FERRY_SIGNALING_SEMAPHORE as u32 => Signaling::Semaphore,
            other => {
                return Err(Failure::new(
                    FERRY_ERR_INVALID_CONFIG,
                    format!(
                        "ferry_config.signaling is {other}: use FERRY_SIGNALING_FUTEX or FERRY_SIGNALING_SEMAPHORE"
                    ),
                ))
            }
        };
        let config = Config::new().kind(kind).signaling(signaling).slot_size(self.slot_size).mode(self.mode);
        Ok(match self.capacity_bytes {
            0 => config.capacity(self.capacity),
            bytes => config.capacity_bytes(bytes),
        })
    }
}

/// Fills `*cfg` with the defaults (an SPSC ring of 256 slots of 1024 bytes, futex
/// signaling, mode 0600) and sets `cfg->size` to `sizeof(ferry_config)`.
///
/// Errors: `FERRY_ERR_NULL_ARGUMENT` if `cfg` is NULL.
///
/// # Safety
///
/// `cfg` is NULL or points to writable memory for a `ferry_config`.
#[no_mangle]
pub unsafe extern "C" fn ferry_config_init(cfg: *mut ferry_config) -> ferry_status {
    boundary::status(|| {
        // SAFETY: NULL or writable for a ferry_config (caller's contract).
        let mut out = unsafe { Out::new(cfg, "cfg") }?;
        out.set(ferry_config::defaults());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> ferry_config {
        let mut cfg =
            ferry_config { size: 0, kind: 0, signaling: 0, slot_size: 0, capacity: 0, mode: 0, capacity_bytes: 0 };
        // SAFETY: a valid, writable config.
        assert_eq!(unsafe { ferry_config_init(&mut cfg) }, FERRY_OK);
        cfg
    }

    #[test]
    fn init_gives_the_rust_defaults() {
        let cfg = init();
        assert_eq!(cfg.size, size_of::<ferry_config>());
        // SAFETY: a valid config.
        let rust = unsafe { ferry_config::read(&cfg) }.unwrap();
        assert_eq!(rust, Config::new());
        // The defaults ferry_config_init's documentation states.
        assert_eq!((cfg.slot_size, cfg.capacity, cfg.mode), (1024, 256, 0o600));
    }

    #[test]
    fn size_versions_the_struct() {
        let mut cfg = init();
        cfg.size = 8;
        // SAFETY: a valid config (reads at most its own size).
        assert_eq!(unsafe { ferry_config::read(&cfg) }.unwrap_err().status, FERRY_ERR_INVALID_ARGUMENT);
        cfg.size = SIZE_V1;
        cfg.slot_size = 64;
        // SAFETY: as above.
        assert_eq!(unsafe { ferry_config::read(&cfg) }.unwrap().get_slot_size(), 64);

        // A newer caller's struct: zero extra fields are accepted, set ones refused.
        #[repr(C)]
        struct Newer {
            base: ferry_config,
            extra: u64,
        }
        let mut newer = Newer { base: init(), extra: 0 };
        newer.base.size = size_of::<Newer>();
        let whole = ptr::addr_of!(newer).cast::<ferry_config>();
        // SAFETY: `whole` points to all of `newer`, `size` readable bytes.
        assert!(unsafe { ferry_config::read(whole) }.is_ok());
        newer.extra = 1;
        let whole = ptr::addr_of!(newer).cast::<ferry_config>();
        // SAFETY: as above.
        assert_eq!(unsafe { ferry_config::read(whole) }.unwrap_err().status, FERRY_ERR_INVALID_ARGUMENT);
    }

    #[test]
    fn a_broadcast_channel_sized_in_bytes_blocks_and_keeps_no_history() {
        let mut cfg = init();
        cfg.slot_size = 100;
        cfg.capacity_bytes = 4096;
        let mut bcfg = ferry_broadcast_config::defaults();
        // SAFETY: valid configs.
        let read =
            |cfg: &ferry_config, bcfg: &ferry_broadcast_config| unsafe { ferry_broadcast_config::read(cfg, bcfg) };
        let expected = Config::new().kind(RingKind::Broadcast).capacity_bytes(4096).max_message(100);
        assert_eq!(read(&cfg, &bcfg).unwrap(), expected);
        // SAFETY: a valid config; NULL for the broadcast defaults.
        assert_eq!(unsafe { ferry_broadcast_config::read(&cfg, ptr::null()) }.unwrap(), expected);
        bcfg.policy = ferry_policy::FERRY_POLICY_OVERWRITE as u32;
        assert_eq!(read(&cfg, &bcfg).unwrap_err().status, FERRY_ERR_INVALID_CONFIG);
        bcfg.policy = ferry_policy::FERRY_POLICY_BLOCK as u32;
        bcfg.history = 1;
        assert_eq!(read(&cfg, &bcfg).unwrap_err().status, FERRY_ERR_INVALID_CONFIG);
        // The same shapes in slots are fine.
        cfg.capacity_bytes = 0;
        bcfg.policy = ferry_policy::FERRY_POLICY_OVERWRITE as u32;
        assert_eq!(read(&cfg, &bcfg).unwrap().get_policy(), Policy::Overwrite);
    }

    #[test]
    fn bad_kind_and_signaling_are_config_errors() {
        let mut cfg = init();
        cfg.kind = 7;
        // SAFETY: a valid config.
        assert_eq!(unsafe { ferry_config::read(&cfg) }.unwrap_err().status, FERRY_ERR_INVALID_CONFIG);
        let mut cfg = init();
        cfg.signaling = 0;
        // SAFETY: a valid config.
        assert_eq!(unsafe { ferry_config::read(&cfg) }.unwrap_err().status, FERRY_ERR_INVALID_CONFIG);
    }
}
