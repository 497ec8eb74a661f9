//! The C ABI of ferry: `libferry.so` / `libferry.a` and the generated `include/ferry.h`.
//!
//! Every function returns a `ferry_status` (0 = `FERRY_OK`, negative = an error whose
//! number never changes) and writes its results through out-parameters; every object
//! has a create/free pair, and `_free` accepts NULL. No Rust panic crosses the boundary
//! (`boundary.rs`); NULL pointers are a status, not a crash. `ferry_strerror` names a
//! code and `ferry_last_error_message` explains the calling thread's last failure.
//!
//! The zero-copy calls are exposed too: `ferry_loan` → write → `ferry_commit`, and
//! `ferry_recv_acquire` → read in place → `ferry_recv_release`, so a C program pays no
//! copy. `sender.rs` explains how a loan is kept across calls soundly.
//!
//! The header is generated from these doc comments by a pinned cbindgen
//! (`ffi/cbindgen.toml`) and checked in; CI regenerates it and fails if it differs.
//!
//! | file | what |
//! | --- | --- |
//! | `status.rs` | `ferry_status`, `ferry_strerror`, the mapping from ferry's errors |
//! | `last_error.rs` | the per-thread `ferry_last_error_message` |
//! | `boundary.rs` | the panic boundary and the checked conversion of C arguments |
//! | `lender.rs` | an endpoint and the one loan or acquired message C holds of it |
//! | `endpoint.rs` | the handle both ends share, and the calls both have: create/open/clone/close/free, sizes, wait policy |
//! | `config.rs` | `ferry_config` (versioned by its `size`), kinds, signaling |
//! | `sender.rs` | `ferry_sender`: its `extern "C"` functions; send, loan/commit |
//! | `receiver.rs` | `ferry_receiver`: its `extern "C"` functions; receive, acquire/release |
//! | `publisher.rs` | `ferry_publisher`: a broadcast channel's publishing end; publish, loan/commit |
//! | `subscriber.rs` | `ferry_subscriber`: its subscribing end; receive, acquire/validate/release |
//! | `fd.rs` | `ferry_receiver_fd`, `ferry_sender_fd`, `ferry_subscriber_fd`, `ferry_publisher_fd`: the pollable fds, for event loops |
//! | `channel.rs` | `ferry_in_memory`, `ferry_unlink` |
//! | `wait.rs` | blocking, `try` and timeout forms; wait policies |
//! | `version.rs` | `ferry_version`, `ferry_layout_version` |

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// cbindgen writes the header in the order the modules are declared here, hence one
// module per group (rustfmt sorts the modules within a group).

// What every call returns, and the detail of the last failure.
mod status;

mod last_error;

// A new channel's shape.
mod config;

// The two ends.
mod sender;

mod receiver;

// The broadcast pattern's two ends.
mod publisher;

mod subscriber;

// Event loops: each end's pollable fd.
mod fd;

// Whole channels, and versions.
mod channel;

mod version;

// Private: the panic boundary and argument checks; what both ends' handles share;
// lending an endpoint; blocking forms.
mod boundary;
mod endpoint;
mod lender;
mod wait;
