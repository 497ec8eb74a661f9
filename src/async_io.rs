//! async/await over the handles' fds, for tokio (the `tokio` feature): [`AsyncReceiver`],
//! [`AsyncSender`] and [`AsyncSubscriber`].
//!
//! Each wraps a [`Receiver`], [`Sender`] or [`Subscriber`] in tokio's `AsyncFd` on its
//! pollable fd (the shared-memory doorbell, or the stream's epoll; a subscriber's own
//! seat bell). A wait drains the fd and re-arms the
//! doorbell, looks at the channel once more, and only then yields to the reactor, which
//! wakes the task when the other side rings (`signal::doorbell`). A busy channel is
//! served without touching the reactor or the kernel.
//!
//! Cancellation: every `async fn` here takes a message (or a slot) only in the poll that
//! returns it, after its last await point; a future dropped while it waits has taken
//! nothing, so nothing is lost and no slot leaks.

use std::{
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};

use tokio::io::{unix::AsyncFd, Interest};

use crate::{
    broadcast::{Subscriber, SubscriberError, SubscriberGuard},
    channel::{Loan, Receiver, RecvGuard, Sender},
    error::{RecvError, SendError},
};

/// Polls until `prepare_wait` (which drains and re-arms the handle's doorbell, taking
/// nothing) says the handle may proceed; between looks the task waits for the reactor to
/// report the fd readable. `false` if the reactor failed.
fn poll_prepared<T: std::os::fd::AsRawFd>(
    fd: &mut AsyncFd<T>,
    cx: &mut Context<'_>,
    mut prepare_wait: impl FnMut(&mut T) -> bool,
) -> Poll<bool> {
    loop {
        if prepare_wait(fd.get_mut()) {
            return Poll::Ready(true);
        }
        // The fd is drained and armed: the next ring is an edge the reactor reports.
        match ready!(fd.poll_read_ready(cx)) {
            Ok(mut guard) => guard.clear_ready(),
            Err(_) => return Poll::Ready(false),
        }
    }
}

/// A [`Receiver`] for async code: `recv().await`, and a [`Stream`](futures_core::Stream)
/// of owned messages.
///
/// Must be made, used and dropped inside a tokio runtime with I/O enabled.
///
/// # Examples
///
/// ```
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// # runtime.block_on(async {
/// use ferry::{AsyncReceiver, Config};
///
/// let (mut tx, rx) = ferry::in_memory(&Config::new().slot_size(64).capacity(8))?;
/// let mut rx = AsyncReceiver::new(rx)?;
/// let sender = std::thread::spawn(move || tx.send(b"hello async"));
/// assert_eq!(&*rx.recv().await?, b"hello async");
/// sender.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncReceiver {
    fd: AsyncFd<Receiver>,
}

impl AsyncReceiver {
    /// Registers `receiver`'s fd with the current tokio runtime's reactor.
    ///
    /// # Errors
    ///
    /// The reactor's: no runtime, I/O not enabled, or registration failed.
    pub fn new(receiver: Receiver) -> io::Result<Self> {
        // SAFETY: the receiver owns its fd (the doorbell's reading end, or its epoll
        // instance) from creation to drop and never replaces it, so it stays open and
        // `as_raw_fd` returns the same one while the `AsyncFd` holds the receiver.
        let fd = unsafe { AsyncFd::register_with_interest(receiver, Interest::READABLE) };
        Ok(Self { fd: fd.map_err(|e| e.into_parts().1)? })
    }

    /// The receiver.
    pub fn get_ref(&self) -> &Receiver {
        self.fd.get_ref()
    }

    /// The receiver, for its synchronous calls (the `try_` ones fit an async task).
    pub fn get_mut(&mut self) -> &mut Receiver {
        self.fd.get_mut()
    }

    /// Deregisters and returns the receiver.
    pub fn into_inner(self) -> Receiver {
        self.fd.into_inner()
    }

    /// Waits until a receive would not say `Empty`. Takes nothing.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        poll_prepared(&mut self.fd, cx, Receiver::prepare_wait)
            .map(|ok| ok.then_some(()).ok_or(RecvError::Disconnected))
    }

    /// Waits for a message and returns a guard that reads it in place (dropping it frees
    /// the slot). Cancellation-safe: a future dropped before it completes took nothing.
    ///
    /// On an MPMC channel whose message another receiver took first, it waits again.
    ///
    /// # Errors
    ///
    /// [`RecvError::Disconnected`] once the senders have gone and every message was
    /// received (or if the reactor fails); [`RecvError::Corrupt`].
    pub async fn recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        loop {
            std::future::poll_fn(|cx| self.poll_ready(cx)).await?;
            let this: *mut Self = self;
            // SAFETY: `this` is `self`, borrowed for the rest of the call. The borrow the
            // receive takes is returned with the guard, or, on `Empty`, is over before the
            // loop uses `self` again: the conditional return that the borrow checker
            // (before Polonius) cannot see is sound.
            match unsafe { &mut *this }.fd.get_mut().try_recv() {
                // Another receiver of an MPMC channel took it: wait again.
                Err(RecvError::Empty) => {}
                other => return other,
            }
        }
    }

    /// Waits for a message and returns a copy of it. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As for [`AsyncReceiver::recv`].
    pub async fn recv_vec(&mut self) -> Result<Vec<u8>, RecvError> {
        std::future::poll_fn(|cx| self.poll_next_vec(cx)).await
    }

    /// One poll of "the next message, copied out": the whole of a receive that is
    /// ready, or a registration for the next ring.
    fn poll_next_vec(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, RecvError>> {
        loop {
            ready!(self.poll_ready(cx))?;
            match self.fd.get_mut().try_recv() {
                Ok(guard) => return Poll::Ready(Ok(guard.to_vec())),
                // Spurious (another MPMC receiver was faster): wait again.
                Err(RecvError::Empty) => {}
                Err(other) => return Poll::Ready(Err(other)),
            }
        }
    }
}

/// The received messages, copied out, until the senders have gone (the stream then
/// ends). A `Corrupt` channel yields its error and ends.
impl futures_core::Stream for AsyncReceiver {
    type Item = Result<Vec<u8>, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.get_mut().poll_next_vec(cx)) {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(RecvError::Disconnected) => Poll::Ready(None),
            Err(other) => Poll::Ready(Some(Err(other))),
        }
    }
}

/// A [`Sender`] for async code: `send(..).await` and `loan().await`.
///
/// Must be made, used and dropped inside a tokio runtime with I/O enabled.
///
/// # Examples
///
/// ```
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// # runtime.block_on(async {
/// use ferry::{AsyncSender, Config};
///
/// let (tx, mut rx) = ferry::in_memory(&Config::new().slot_size(64).capacity(1))?;
/// let mut tx = AsyncSender::new(tx)?;
/// tx.send(b"fills the ring").await?;
/// // The ring is full: the next send waits until a receiver (here a thread) frees it.
/// let receiver = std::thread::spawn(move || {
///     let first = rx.recv().map(|m| m.to_vec());
///     let second = rx.recv().map(|m| m.to_vec());
///     (first, second)
/// });
/// tx.send(b"sent once there is room").await?;
/// let (first, second) = receiver.join().unwrap();
/// assert_eq!(first?, b"fills the ring");
/// assert_eq!(second?, b"sent once there is room");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncSender {
    fd: AsyncFd<Sender>,
}

impl AsyncSender {
    /// Registers `sender`'s fd with the current tokio runtime's reactor.
    ///
    /// # Errors
    ///
    /// The reactor's: no runtime, I/O not enabled, or registration failed.
    pub fn new(sender: Sender) -> io::Result<Self> {
        // SAFETY: as for `AsyncReceiver::new`: the sender's fd is its own for its life.
        let fd = unsafe { AsyncFd::register_with_interest(sender, Interest::READABLE) };
        Ok(Self { fd: fd.map_err(|e| e.into_parts().1)? })
    }

    /// The sender.
    pub fn get_ref(&self) -> &Sender {
        self.fd.get_ref()
    }

    /// The sender, for its synchronous calls.
    pub fn get_mut(&mut self) -> &mut Sender {
        self.fd.get_mut()
    }

    /// Deregisters and returns the sender.
    pub fn into_inner(self) -> Sender {
        self.fd.into_inner()
    }

    /// Waits until a send would find room (or the receivers gone). Takes nothing.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A failed reactor: the send itself reports what it finds.
        poll_prepared(&mut self.fd, cx, Sender::prepare_wait).map(drop)
    }

    /// Waits for room and sends a copy of `message`. Cancellation-safe: a future
    /// dropped before it completes sent nothing.
    ///
    /// # Errors
    ///
    /// As for [`Sender::try_send`], except `Full`, which it waits out.
    pub async fn send(&mut self, message: &[u8]) -> Result<(), SendError> {
        loop {
            std::future::poll_fn(|cx| self.poll_room(cx)).await;
            match self.fd.get_mut().try_send(message) {
                Err(SendError::Full(_)) => {}
                other => return other,
            }
        }
    }

    /// Waits for room and lends a slot to write in place (zero-copy), committed by
    /// [`Loan::commit`]. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As for [`Sender::try_loan`], except `Full`, which it waits out.
    pub async fn loan(&mut self) -> Result<Loan<'_>, SendError<()>> {
        loop {
            std::future::poll_fn(|cx| self.poll_room(cx)).await;
            if !matches!(self.fd.get_mut().try_loan(), Err(SendError::Full(()))) {
                break;
            }
        }
        // Room was there a moment ago; a competing MPMC sender may have taken it.
        self.fd.get_mut().loan()
    }
}

/// A broadcast [`Subscriber`] for async code: `recv().await`, and a
/// [`Stream`](futures_core::Stream) of owned messages in which a lag is an item
/// (`Err(Lagged(n))`) and the stream goes on.
///
/// Must be made, used and dropped inside a tokio runtime with I/O enabled. Its fd is
/// the subscriber's own doorbell (one per subscriber seat), so every subscriber of a
/// channel is woken by every publication.
///
/// # Examples
///
/// ```
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// # runtime.block_on(async {
/// use ferry::{AsyncSubscriber, Config, Publisher, Start};
///
/// let mut publisher = Publisher::in_memory(&Config::new().slot_size(64).capacity(8))?;
/// let mut news = AsyncSubscriber::new(publisher.subscribe(Start::Live)?)?;
/// let thread = std::thread::spawn(move || publisher.send(b"hello subscribers"));
/// assert_eq!(&*news.recv().await?, b"hello subscribers");
/// thread.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncSubscriber {
    fd: AsyncFd<Subscriber>,
}

impl AsyncSubscriber {
    /// Registers `subscriber`'s fd with the current tokio runtime's reactor.
    ///
    /// # Errors
    ///
    /// The reactor's: no runtime, I/O not enabled, or registration failed.
    pub fn new(subscriber: Subscriber) -> io::Result<Self> {
        // SAFETY: the subscriber owns its fd (an epoll instance over its seat's bell and
        // the publishers' departure bell) from its first use to its drop and never
        // replaces it, so `as_raw_fd` returns the same open fd while the `AsyncFd` holds it.
        let fd = unsafe { AsyncFd::register_with_interest(subscriber, Interest::READABLE) };
        Ok(Self { fd: fd.map_err(|e| e.into_parts().1)? })
    }

    /// The subscriber.
    pub fn get_ref(&self) -> &Subscriber {
        self.fd.get_ref()
    }

    /// The subscriber, for its synchronous calls (the `try_` ones fit an async task).
    pub fn get_mut(&mut self) -> &mut Subscriber {
        self.fd.get_mut()
    }

    /// Deregisters and returns the subscriber.
    pub fn into_inner(self) -> Subscriber {
        self.fd.into_inner()
    }

    /// Waits until a receive would not say `Empty`. Takes nothing.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SubscriberError>> {
        poll_prepared(&mut self.fd, cx, Subscriber::prepare_wait)
            .map(|ok| ok.then_some(()).ok_or(SubscriberError::Disconnected))
    }

    /// Waits for the next message and returns a guard that reads it in place (see
    /// [`Subscriber::recv`]). Cancellation-safe: a future dropped before it completes
    /// took nothing.
    ///
    /// # Errors
    ///
    /// As for [`Subscriber::try_recv`], except `Empty`, which it waits out.
    pub async fn recv(&mut self) -> Result<SubscriberGuard<'_>, SubscriberError> {
        loop {
            std::future::poll_fn(|cx| self.poll_ready(cx)).await?;
            let this: *mut Self = self;
            // SAFETY: `this` is `self`, borrowed for the rest of the call. The borrow the
            // receive takes is returned with the guard, or, on `Empty`, is over before the
            // loop uses `self` again (the conditional return the borrow checker cannot
            // see before Polonius).
            match unsafe { &mut *this }.fd.get_mut().try_recv() {
                Err(SubscriberError::Empty) => {}
                other => return other,
            }
        }
    }

    /// Waits for the next message and returns a copy of it. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// As for [`AsyncSubscriber::recv`].
    pub async fn recv_vec(&mut self) -> Result<Vec<u8>, SubscriberError> {
        std::future::poll_fn(|cx| self.poll_next_vec(cx)).await
    }

    /// One poll of "the next message, copied out and validated".
    fn poll_next_vec(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, SubscriberError>> {
        loop {
            ready!(self.poll_ready(cx))?;
            let mut guard = match self.fd.get_mut().try_recv() {
                Ok(guard) => guard,
                Err(SubscriberError::Empty) => continue,
                Err(other) => return Poll::Ready(Err(other)),
            };
            let message = guard.to_vec();
            // In overwrite mode the copy may hold bytes of a later lap: only a copy that
            // validates is handed out.
            return Poll::Ready(guard.validate().map(|()| message));
        }
    }
}

/// The received messages, copied out, until the publishers have gone (the stream then
/// ends). A lag is an item, `Err(SubscriberError::Lagged(n))`, and the stream goes on; a
/// `Corrupt` channel yields its error and ends.
impl futures_core::Stream for AsyncSubscriber {
    type Item = Result<Vec<u8>, SubscriberError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.get_mut().poll_next_vec(cx)) {
            Err(SubscriberError::Disconnected) => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}
