//! Transports: where a channel's messages travel, named by an endpoint string
//! (`endpoint.rs`), created and opened per side with the `auto:` fallback (`open.rs`).
//!
//! - `shm:NAME` (or plain `NAME`): a ring in shared memory (`shm.rs`, the fast path;
//!   `shm_bytes.rs` for a channel sized in bytes, messages of any size);
//! - `unix:PATH`: a Unix domain stream socket with length-prefixed frames (`unix.rs`);
//! - `fifo:PATH`: a named pipe with length-prefixed frames (`fifo.rs`);
//! - `auto:NAME`: shared memory when it can be used, else a Unix socket named after
//!   `NAME` in a directory only this user can write to; the reason for a fallback is
//!   kept for the caller.
//!
//! The broadcast pattern has a transport of its own, in shared memory only
//! (`broadcast.rs`).
//!
//! The two stream transports share their framing (`framing.rs`), their sending end with
//! its loan buffer, and the file that describes an endpoint (`stream.rs`). Every
//! transport offers the same calls with the same blocking, try and timeout semantics, and
//! gives up with a [`Stop`](stop::Stop) (`stop.rs`); the API reaches them through one
//! private enum per side (`sender.rs`, `receiver.rs`). Each handle has one pollable fd:
//! a shared-memory handle's doorbell (`signal::bell`), a stream handle's descriptors
//! behind one epoll instance (`pollable.rs`).

pub(crate) mod broadcast;
pub(crate) mod broadcast_bell;
pub(crate) mod endpoint;
pub(crate) mod fifo;
pub(crate) mod framing;
pub(crate) mod open;
pub(crate) mod pollable;
pub(crate) mod receiver;
pub(crate) mod sender;
pub(crate) mod shm;
pub(crate) mod shm_bytes;
pub(crate) mod stop;
pub(crate) mod stream;
pub(crate) mod unix;
