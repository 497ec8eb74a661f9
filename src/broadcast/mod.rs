//! The broadcast pattern: [`Publisher`] and [`Subscriber`] (one side per file), every
//! message to every subscriber, written once into a shared-memory ring and read there in
//! place by each subscriber at its own cursor.
//!
//! A sibling of the queue pattern in `channel/`: the same idiom (zero-copy loans and
//! in-place guards, copy helpers, blocking / `try_` / `_timeout` forms), over the
//! broadcast transport (`transport::broadcast`) and ring (`ring::broadcast`, where the
//! algorithm and both slow-subscriber policies are described).

mod error;
mod publisher;
mod subscriber;

pub use self::{
    error::{PublishError, SubscriberError},
    publisher::{PublishLoan, Publisher},
    subscriber::{Start, Subscriber, SubscriberGuard},
};
