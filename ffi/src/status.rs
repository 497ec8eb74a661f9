//! Status codes: what every call returns, `ferry_strerror`, and the mapping from ferry's
//! Rust errors.
//!
//! The numbers are part of the ABI: a code keeps its number forever, a retired code's
//! number is never given to another meaning, and new codes take new numbers.

use std::{any::Any, ffi::CStr, os::raw::c_char};

use ferry::{AttachError, PublishError, RecvError, SendError, SubscriberError};

use crate::boundary;

/// What a call did: `FERRY_OK` (0) or a negative error code.
///
/// Every ferry function that can fail returns a `ferry_status`. The numbers are stable:
/// a code keeps its number in every later version and a number is never reused.
/// `ferry_strerror(code)` names a code; `ferry_last_error_message()` says more about the
/// last failure on the calling thread.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ferry_status {
    /// Success.
    FERRY_OK = 0,
    /// A pointer the call needs was NULL (a handle, an out-parameter, an endpoint, or a
    /// buffer with a nonzero length).
    FERRY_ERR_NULL_ARGUMENT = -1,
    /// An argument is malformed (for example a `ferry_config` whose `size` field was not
    /// set by `ferry_config_init`).
    FERRY_ERR_INVALID_ARGUMENT = -2,
    /// The pointer is a live ferry handle of another type (a receiver passed as a sender,
    /// or the reverse).
    FERRY_ERR_BAD_HANDLE = -3,
    /// The handle was closed with `ferry_sender_close` / `ferry_receiver_close`; only
    /// `_free` may be called on it now.
    FERRY_ERR_CLOSED = -4,
    /// The call does not fit the handle's state: a loan or an acquired message is
    /// outstanding (commit, cancel or release it first), or there is none to commit,
    /// cancel or release.
    FERRY_ERR_STATE = -5,
    /// ferry panicked inside the call (a bug in ferry; please report it). The panic was
    /// stopped at the boundary; the handle may be unusable and should be freed.
    FERRY_ERR_PANIC = -6,
    /// The channel is full (from a `try` call); nothing was sent.
    FERRY_ERR_FULL = -10,
    /// The channel is empty (from a `try` call).
    FERRY_ERR_EMPTY = -11,
    /// The timeout passed before the call could complete; nothing was sent or consumed
    /// (or, from `ferry_*_open_timeout`, the channel was not created in time).
    FERRY_ERR_TIMEOUT = -12,
    /// The peer has gone: a send or a sender's clone finds no receiver, or a receive (or
    /// a receiver's clone) finds the channel empty and every sender gone.
    FERRY_ERR_DISCONNECTED = -13,
    /// The message is larger than the channel's slot size; nothing was sent.
    FERRY_ERR_TOO_LARGE = -14,
    /// The caller's buffer is smaller than the message; the message stays in the channel
    /// and the length out-parameter holds its size.
    FERRY_ERR_BUFFER_TOO_SMALL = -15,
    /// The channel's shared state is inconsistent: the peer is broken or hostile.
    FERRY_ERR_CORRUPT = -16,
    /// A message is not the size of the type it was read as (typed receives; not returned
    /// by the byte-oriented calls of this version).
    FERRY_ERR_WRONG_SIZE = -17,
    /// A broadcast subscriber (overwrite mode) fell behind: messages were overwritten
    /// before it read them, or while it read the one it was reading (a failed
    /// `ferry_subscriber_validate`). The length out-parameter holds how many positions it
    /// missed: each lost message, and any position a publisher gave up without one (a
    /// loan dropped uncommitted). The next receive returns the oldest message still held.
    FERRY_ERR_LAGGED = -18,
    /// The channel name is not valid: empty, longer than 200 bytes, starting with a dot,
    /// or holding a byte other than ASCII letters, digits, `.`, `_` and `-`.
    FERRY_ERR_INVALID_NAME = -20,
    /// The configuration cannot describe a channel (slot size, capacity, kind or
    /// signaling out of range).
    FERRY_ERR_INVALID_CONFIG = -21,
    /// The endpoint string is not `NAME`, `shm:NAME`, `unix:PATH`, `fifo:PATH` or
    /// `auto:NAME`, or is not UTF-8.
    FERRY_ERR_INVALID_ENDPOINT = -22,
    /// The transport cannot do what was asked (a sender creating a socket or FIFO, a
    /// second receiver on a socket, a second sender on a FIFO).
    FERRY_ERR_UNSUPPORTED = -23,
    /// `create` found a channel of that name already there.
    FERRY_ERR_ALREADY_EXISTS = -24,
    /// `open` found no channel of that name (has its creator started?).
    FERRY_ERR_NOT_FOUND = -25,
    /// The operating system refused access to the channel.
    FERRY_ERR_PERMISSION_DENIED = -26,
    /// The shared-memory object is not a ferry segment.
    FERRY_ERR_BAD_MAGIC = -27,
    /// The segment was written by another layout version of ferry.
    FERRY_ERR_VERSION_MISMATCH = -28,
    /// The segment's header fails its checksum or describes an impossible ring.
    FERRY_ERR_CORRUPT_HEADER = -29,
    /// The channel's shape is not the one `_open_expecting` asked for.
    FERRY_ERR_GEOMETRY_MISMATCH = -30,
    /// The segment's size does not match the size its header describes.
    FERRY_ERR_SIZE_MISMATCH = -31,
    /// The channel's creator did not finish initialising it in time (it may have died).
    FERRY_ERR_NOT_INITIALISED = -32,
    /// The role (sender or receiver of an SPSC channel) is held by a live process.
    FERRY_ERR_ROLE_TAKEN = -33,
    /// Another operating-system error; the last-error message says which.
    FERRY_ERR_IO = -34,
    /// Attaching failed in a way this version of the library has no code for; the
    /// last-error message says how.
    FERRY_ERR_ATTACH = -35,
    /// What the channel's name leads to (segment, socket, FIFO, description file) belongs
    /// to another user, who could have put it there to read or forge the messages.
    FERRY_ERR_NOT_OWNED = -36,
    /// What the channel's name leads to is not what ferry makes there (a symbolic link, a
    /// file of another kind): ferry neither follows nor replaces it.
    FERRY_ERR_UNEXPECTED_OBJECT = -37,
    /// There is not room in shared memory (`/dev/shm`) for the channel; nothing was left
    /// behind.
    FERRY_ERR_NO_SPACE = -38,
}

use ferry_status::*;

impl ferry_status {
    /// Every status, for `ferry_strerror`. (`tests/c_abi.rs` checks that every code in
    /// the header has a description, so this list cannot fall behind the enum.)
    pub(crate) const ALL: [ferry_status; 35] = [
        FERRY_OK,
        FERRY_ERR_NULL_ARGUMENT,
        FERRY_ERR_INVALID_ARGUMENT,
        FERRY_ERR_BAD_HANDLE,
        FERRY_ERR_CLOSED,
        FERRY_ERR_STATE,
        FERRY_ERR_PANIC,
        FERRY_ERR_FULL,
        FERRY_ERR_EMPTY,
        FERRY_ERR_TIMEOUT,
        FERRY_ERR_DISCONNECTED,
        FERRY_ERR_TOO_LARGE,
        FERRY_ERR_BUFFER_TOO_SMALL,
        FERRY_ERR_CORRUPT,
        FERRY_ERR_WRONG_SIZE,
        FERRY_ERR_LAGGED,
        FERRY_ERR_INVALID_NAME,
        FERRY_ERR_INVALID_CONFIG,
        FERRY_ERR_INVALID_ENDPOINT,
        FERRY_ERR_UNSUPPORTED,
        FERRY_ERR_ALREADY_EXISTS,
        FERRY_ERR_NOT_FOUND,
        FERRY_ERR_PERMISSION_DENIED,
        FERRY_ERR_BAD_MAGIC,
        FERRY_ERR_VERSION_MISMATCH,
        FERRY_ERR_CORRUPT_HEADER,
        FERRY_ERR_GEOMETRY_MISMATCH,
        FERRY_ERR_SIZE_MISMATCH,
        FERRY_ERR_NOT_INITIALISED,
        FERRY_ERR_ROLE_TAKEN,
        FERRY_ERR_IO,
        FERRY_ERR_ATTACH,
        FERRY_ERR_NOT_OWNED,
        FERRY_ERR_UNEXPECTED_OBJECT,
        FERRY_ERR_NO_SPACE,
    ];

    /// A short, static description of the code.
    pub(crate) fn describe(self) -> &'static CStr {
        match self {
            FERRY_OK => c"success",
            FERRY_ERR_NULL_ARGUMENT => c"a required pointer argument was NULL",
            FERRY_ERR_INVALID_ARGUMENT => c"an argument is malformed",
            FERRY_ERR_BAD_HANDLE => c"the handle is not of the type the function takes",
            FERRY_ERR_CLOSED => c"the handle has been closed",
            FERRY_ERR_STATE => c"the call does not fit the handle's loan or acquired-message state",
            FERRY_ERR_PANIC => c"ferry panicked inside the call (a bug in ferry)",
            FERRY_ERR_FULL => c"the channel is full",
            FERRY_ERR_EMPTY => c"the channel is empty",
            FERRY_ERR_TIMEOUT => c"the timeout passed",
            FERRY_ERR_DISCONNECTED => c"the peer has gone",
            FERRY_ERR_TOO_LARGE => c"the message is larger than a slot",
            FERRY_ERR_BUFFER_TOO_SMALL => c"the buffer is smaller than the message",
            FERRY_ERR_CORRUPT => c"the channel's shared state is corrupt",
            FERRY_ERR_WRONG_SIZE => c"the message is not the size of the type",
            FERRY_ERR_LAGGED => c"the subscriber fell behind and missed messages",
            FERRY_ERR_INVALID_NAME => c"invalid channel name",
            FERRY_ERR_INVALID_CONFIG => c"invalid channel configuration",
            FERRY_ERR_INVALID_ENDPOINT => c"invalid endpoint string",
            FERRY_ERR_UNSUPPORTED => c"the transport does not support this",
            FERRY_ERR_ALREADY_EXISTS => c"the channel already exists",
            FERRY_ERR_NOT_FOUND => c"no such channel",
            FERRY_ERR_PERMISSION_DENIED => c"permission denied",
            FERRY_ERR_BAD_MAGIC => c"not a ferry segment",
            FERRY_ERR_VERSION_MISMATCH => c"the segment has another ferry layout version",
            FERRY_ERR_CORRUPT_HEADER => c"the segment header is corrupt",
            FERRY_ERR_GEOMETRY_MISMATCH => c"the channel's shape is not the one expected",
            FERRY_ERR_SIZE_MISMATCH => c"the segment's size does not match its header",
            FERRY_ERR_NOT_INITIALISED => c"the channel was not initialised in time",
            FERRY_ERR_ROLE_TAKEN => c"the role is held by a live process",
            FERRY_ERR_IO => c"operating-system error",
            FERRY_ERR_ATTACH => c"attaching to the channel failed",
            FERRY_ERR_NOT_OWNED => c"the channel's object belongs to another user",
            FERRY_ERR_UNEXPECTED_OBJECT => c"the channel's name leads to something ferry did not make",
            FERRY_ERR_NO_SPACE => c"not enough shared memory for the channel",
        }
    }
}

/// Returns a static, NUL-terminated English description of `code`, for any `code`:
/// unknown codes get "unknown ferry status code". The string is never freed and never
/// NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn ferry_strerror(code: i32) -> *const c_char {
    boundary::value(c"unknown ferry status code (ferry panicked)".as_ptr(), || {
        ferry_status::ALL
            .iter()
            .find(|status| **status as i32 == code)
            .map_or(c"unknown ferry status code", |status| status.describe())
            .as_ptr()
    })
}

/// A failed call: its status and the detail for `ferry_last_error_message`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: ferry_status,
    pub(crate) detail: Detail,
    /// For `FERRY_ERR_LAGGED`: how many positions were missed.
    lagged: Option<usize>,
}

/// The last-error text of a failure. Hot-path failures (`FULL`, `EMPTY`, `TIMEOUT`)
/// carry a static string, so a polling loop does not allocate.
#[derive(Debug)]
pub(crate) enum Detail {
    Static(&'static CStr),
    Owned(String),
}

impl Failure {
    /// A failure whose detail is a fixed sentence.
    pub(crate) fn fixed(status: ferry_status, detail: &'static CStr) -> Self {
        Self { status, detail: Detail::Static(detail), lagged: None }
    }

    /// A failure with a formatted detail.
    pub(crate) fn new(status: ferry_status, detail: impl Into<String>) -> Self {
        Self { status, detail: Detail::Owned(detail.into()), lagged: None }
    }

    /// How many positions a `FERRY_ERR_LAGGED` failure says were missed.
    pub(crate) fn lagged(&self) -> Option<usize> {
        self.lagged
    }

    /// A panic caught at the boundary.
    pub(crate) fn panic(payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        Self::new(FERRY_ERR_PANIC, format!("ferry panicked (a bug in ferry; please report it): {what}"))
    }
}

impl From<AttachError> for Failure {
    fn from(error: AttachError) -> Self {
        let status = match &error {
            AttachError::InvalidName { .. } => FERRY_ERR_INVALID_NAME,
            AttachError::InvalidConfig(_) => FERRY_ERR_INVALID_CONFIG,
            AttachError::InvalidEndpoint { .. } => FERRY_ERR_INVALID_ENDPOINT,
            AttachError::Unsupported { .. } => FERRY_ERR_UNSUPPORTED,
            AttachError::AlreadyExists { .. } => FERRY_ERR_ALREADY_EXISTS,
            AttachError::NotFound { .. } => FERRY_ERR_NOT_FOUND,
            AttachError::PermissionDenied { .. } => FERRY_ERR_PERMISSION_DENIED,
            AttachError::BadMagic { .. } => FERRY_ERR_BAD_MAGIC,
            AttachError::VersionMismatch { .. } => FERRY_ERR_VERSION_MISMATCH,
            AttachError::CorruptHeader { .. } => FERRY_ERR_CORRUPT_HEADER,
            AttachError::GeometryMismatch { .. } => FERRY_ERR_GEOMETRY_MISMATCH,
            AttachError::SizeMismatch { .. } => FERRY_ERR_SIZE_MISMATCH,
            AttachError::NotInitialised { .. } => FERRY_ERR_NOT_INITIALISED,
            AttachError::RoleTaken { .. } => FERRY_ERR_ROLE_TAKEN,
            AttachError::Io { .. } => FERRY_ERR_IO,
            AttachError::Timeout { .. } => FERRY_ERR_TIMEOUT,
            AttachError::Disconnected { .. } => FERRY_ERR_DISCONNECTED,
            AttachError::NotOwned { .. } => FERRY_ERR_NOT_OWNED,
            AttachError::Unexpected { .. } => FERRY_ERR_UNEXPECTED_OBJECT,
            AttachError::NoSpace { .. } => FERRY_ERR_NO_SPACE,
            // `AttachError` is non-exhaustive: a variant added later gets a new code
            // here; until then it is reported with its message.
            _ => FERRY_ERR_ATTACH,
        };
        Self::new(status, in_c(&error))
    }
}

/// Phrases of the core's messages that name Rust items, and what C calls them. A test
/// below provokes each message, so a change of wording in the core is caught.
const RUST_TO_C: [(&str, &str); 5] = [
    ("(Policy::Overwrite and history need slots)", "(FERRY_POLICY_OVERWRITE and a history need slots)"),
    ("capacity >= 2 x (16 + max_message)", "capacity_bytes >= 2 x (16 + slot_size)"),
    ("(use Publisher or Subscriber)", "(use ferry_publisher_open or ferry_subscriber_open)"),
    ("(open it with Sender or Receiver)", "(open it with ferry_sender_open or ferry_receiver_open)"),
    ("(Config::subscribers sets how many)", "(ferry_broadcast_config.subscribers sets how many)"),
];

/// The core's message for `error`, with each remedy that names a Rust call
/// (`ferry::unlink(...)`, `Publisher`) naming the C function or field instead: C users
/// read these.
fn in_c(error: &AttachError) -> String {
    match error {
        AttachError::AlreadyExists { name } => {
            format!("channel `{name}` already exists: open it instead, or remove it with ferry_unlink({name:?})")
        }
        AttachError::BadMagic { name, found } => {
            format!("`{name}` is not a ferry segment (magic {found:#018x}): remove it with ferry_unlink({name:?})")
        }
        AttachError::VersionMismatch { name, found, expected } => format!(
            "channel `{name}` was created by ferry layout v{found}, this is v{expected}: \
             remove it with ferry_unlink({name:?}) and create it again"
        ),
        // The C API opens only this user's channels: no `allow_owner` to point to.
        AttachError::NotOwned { name, owner, me } => format!(
            "`{name}` belongs to uid {owner}, not to this user (uid {me}): refusing to use it, since another \
             user's object under a channel's name could be a squatter"
        ),
        other => RUST_TO_C.iter().fold(other.to_string(), |message, (rust, c)| message.replace(rust, c)),
    }
}

impl<T> From<SendError<T>> for Failure {
    fn from(error: SendError<T>) -> Self {
        match error {
            SendError::Full(_) => Self::fixed(FERRY_ERR_FULL, c"the channel is full"),
            SendError::Timeout(_) => Self::fixed(FERRY_ERR_TIMEOUT, c"timed out waiting for room in the channel"),
            SendError::Disconnected(_) => Self::fixed(FERRY_ERR_DISCONNECTED, c"the receiver has gone"),
            error @ SendError::TooLarge { .. } => Self::new(FERRY_ERR_TOO_LARGE, error.to_string()),
            error @ SendError::Corrupt { .. } => Self::new(FERRY_ERR_CORRUPT, error.to_string()),
        }
    }
}

impl From<RecvError> for Failure {
    fn from(error: RecvError) -> Self {
        match error {
            RecvError::Empty => Self::fixed(FERRY_ERR_EMPTY, c"the channel is empty"),
            RecvError::Timeout => Self::fixed(FERRY_ERR_TIMEOUT, c"timed out waiting for a message"),
            RecvError::Disconnected => {
                Self::fixed(FERRY_ERR_DISCONNECTED, c"the channel is empty and the sender has gone")
            }
            error @ RecvError::BufferTooSmall { .. } => Self::new(FERRY_ERR_BUFFER_TOO_SMALL, error.to_string()),
            error @ RecvError::WrongSize { .. } => Self::new(FERRY_ERR_WRONG_SIZE, error.to_string()),
            error @ RecvError::Corrupt { .. } => Self::new(FERRY_ERR_CORRUPT, error.to_string()),
        }
    }
}

impl From<PublishError> for Failure {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::Full => Self::fixed(FERRY_ERR_FULL, c"the broadcast ring is full (block mode)"),
            PublishError::Timeout => {
                Self::fixed(FERRY_ERR_TIMEOUT, c"timed out waiting for the slowest subscriber to make room")
            }
            error @ PublishError::TooLarge { .. } => Self::new(FERRY_ERR_TOO_LARGE, error.to_string()),
            error @ PublishError::Corrupt { .. } => Self::new(FERRY_ERR_CORRUPT, error.to_string()),
        }
    }
}

impl From<SubscriberError> for Failure {
    fn from(error: SubscriberError) -> Self {
        match error {
            SubscriberError::Empty => Self::fixed(FERRY_ERR_EMPTY, c"no new message"),
            SubscriberError::Timeout => Self::fixed(FERRY_ERR_TIMEOUT, c"timed out waiting for a message"),
            SubscriberError::Disconnected => {
                Self::fixed(FERRY_ERR_DISCONNECTED, c"every publisher has gone and every message was read")
            }
            error @ SubscriberError::Lagged(missed) => Self {
                lagged: Some(usize::try_from(missed).unwrap_or(usize::MAX)),
                ..Self::new(FERRY_ERR_LAGGED, error.to_string())
            },
            error @ SubscriberError::BufferTooSmall { .. } => Self::new(FERRY_ERR_BUFFER_TOO_SMALL, error.to_string()),
            error @ SubscriberError::Corrupt { .. } => Self::new(FERRY_ERR_CORRUPT, error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, io};

    use super::*;

    #[test]
    fn codes_are_unique_and_described() {
        let codes: HashSet<i32> = ferry_status::ALL.iter().map(|s| *s as i32).collect();
        assert_eq!(codes.len(), ferry_status::ALL.len(), "a code is listed twice");
        let texts: HashSet<&CStr> = ferry_status::ALL.iter().map(|s| s.describe()).collect();
        assert_eq!(texts.len(), ferry_status::ALL.len(), "two codes share a description");
        for status in ferry_status::ALL {
            // SAFETY: ferry_strerror returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(ferry_strerror(status as i32)) };
            assert_eq!(text, status.describe());
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(ferry_strerror(-9999)) };
        assert_eq!(unknown, c"unknown ferry status code");
    }

    /// Every `AttachError` variant has a code of its own.
    #[test]
    fn every_attach_error_has_its_own_code() {
        let name = || String::from("n");
        let errors = [
            AttachError::InvalidName { name: name(), reason: "r" },
            AttachError::InvalidConfig("r"),
            AttachError::InvalidEndpoint { endpoint: name(), reason: "r" },
            AttachError::Unsupported { endpoint: name(), what: "w" },
            AttachError::AlreadyExists { name: name() },
            AttachError::NotFound { name: name() },
            AttachError::PermissionDenied { name: name() },
            AttachError::BadMagic { name: name(), found: 1 },
            AttachError::VersionMismatch { name: name(), found: 1, expected: 2 },
            AttachError::CorruptHeader { name: name(), reason: "r" },
            AttachError::GeometryMismatch { name: name(), expected: name(), found: name() },
            AttachError::SizeMismatch { name: name(), expected: 1, actual: 2 },
            AttachError::NotInitialised { name: name() },
            AttachError::RoleTaken { name: name(), role: "sender", pid: 1 },
            AttachError::Io { op: "opening", name: name(), source: io::Error::other("x") },
            AttachError::NotOwned { name: name(), owner: 1000, me: 0 },
            AttachError::Unexpected { name: name(), found: String::from("a symbolic link"), expected: "a segment" },
            AttachError::NoSpace { name: name(), needed: 2, free: Some(1) },
        ];
        let count = errors.len();
        let codes: HashSet<ferry_status> = errors
            .into_iter()
            .map(|e| {
                let message = in_c(&e);
                let failure = Failure::from(e);
                assert!(matches!(&failure.detail, Detail::Owned(m) if *m == message));
                // C users read these: no remedy may name a Rust path.
                assert!(!message.contains("::"), "a Rust path in a C message: {message}");
                failure.status
            })
            .collect();
        assert_eq!(codes.len(), count);
        assert!(!codes.contains(&FERRY_ERR_ATTACH) && !codes.contains(&FERRY_OK));
    }

    /// The remedies name `ferry_unlink`, where the core's messages name `ferry::unlink`.
    #[test]
    fn remedies_name_the_c_function() {
        let name = || String::from("chan");
        for error in [
            AttachError::AlreadyExists { name: name() },
            AttachError::BadMagic { name: name(), found: 7 },
            AttachError::VersionMismatch { name: name(), found: 1, expected: 2 },
        ] {
            let Detail::Owned(message) = Failure::from(error).detail else { panic!("an owned detail") };
            assert!(message.contains("ferry_unlink(\"chan\")"), "{message}");
        }
    }

    /// The core's own messages, provoked, name C's calls and fields (`RUST_TO_C`).
    #[test]
    fn core_messages_are_reworded_for_c() {
        use ferry::{Config, Policy, Publisher, RingKind, Start};

        let message = |error: AttachError| match Failure::from(error).detail {
            Detail::Owned(message) => message,
            Detail::Static(message) => message.to_string_lossy().into_owned(),
        };
        let broadcast = Config::new().kind(RingKind::Broadcast);
        let bytes = broadcast.capacity_bytes(4096).max_message(100);
        let seats = broadcast.subscribers(1);
        let publisher = Publisher::in_memory(&seats).expect("a broadcast channel");
        let _subscriber = publisher.subscribe(Start::Live).expect("the one seat");
        for (error, c) in [
            (Publisher::in_memory(&bytes.policy(Policy::Overwrite)).err(), "FERRY_POLICY_OVERWRITE"),
            (Publisher::in_memory(&bytes.max_message(3000)).err(), "capacity_bytes >= 2 x (16 + slot_size)"),
            (ferry::in_memory(&broadcast).err(), "ferry_publisher_open or ferry_subscriber_open"),
            (publisher.subscribe(Start::Live).err(), "ferry_broadcast_config.subscribers"),
        ] {
            let message = message(error.expect("refused"));
            assert!(message.contains(c), "{message}");
            assert!(!message.contains("::") && !message.contains("Publisher"), "a Rust name in a C message: {message}");
        }
    }

    /// A queue opened as a broadcast end (shared memory: not under Miri).
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_queue_opened_as_a_publisher_names_the_queue_calls() {
        let name = format!("ffi-status-queue-{}", std::process::id());
        let _receiver = ferry::Receiver::create(&name, &ferry::Config::new()).expect("a queue");
        let error = ferry::Publisher::open(&name).expect_err("refused");
        let Detail::Owned(message) = Failure::from(error).detail else { panic!("an owned detail") };
        assert!(message.contains("ferry_sender_open or ferry_receiver_open"), "{message}");
    }

    #[test]
    fn send_and_recv_errors_map_to_their_codes() {
        let send = |e: SendError<()>| Failure::from(e).status;
        assert_eq!(send(SendError::Full(())), FERRY_ERR_FULL);
        assert_eq!(send(SendError::Timeout(())), FERRY_ERR_TIMEOUT);
        assert_eq!(send(SendError::Disconnected(())), FERRY_ERR_DISCONNECTED);
        assert_eq!(send(SendError::TooLarge { message: (), len: 2, max: 1 }), FERRY_ERR_TOO_LARGE);
        assert_eq!(send(SendError::Corrupt { message: (), reason: "r" }), FERRY_ERR_CORRUPT);
        let recv = |e: RecvError| Failure::from(e).status;
        assert_eq!(recv(RecvError::Empty), FERRY_ERR_EMPTY);
        assert_eq!(recv(RecvError::Timeout), FERRY_ERR_TIMEOUT);
        assert_eq!(recv(RecvError::Disconnected), FERRY_ERR_DISCONNECTED);
        assert_eq!(recv(RecvError::BufferTooSmall { needed: 9 }), FERRY_ERR_BUFFER_TOO_SMALL);
        assert_eq!(recv(RecvError::WrongSize { expected: 8, actual: 9 }), FERRY_ERR_WRONG_SIZE);
        assert_eq!(recv(RecvError::Corrupt { reason: "r" }), FERRY_ERR_CORRUPT);
    }
}
