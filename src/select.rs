//! Waiting on many channels and file descriptors at once: [`Select`].
//!
//! A `Select` holds receivers, senders (any transport), broadcast subscribers and
//! publishers, and caller fds, and waits until one of them is ready: a receiver or
//! subscriber has a message (or its senders or publishers have gone), a sender or
//! publisher has room (or its receivers have gone), a caller fd is readable. It arms each
//! channel's doorbell, looks once more at the channels (a message may be there already),
//! and only then sleeps in one `poll` over every fd, as crossbeam's `Select` sleeps on
//! its channels' wakers. It never takes a message: it reports which are ready, and the
//! caller uses the `try_` calls on them.

use std::{
    io,
    os::fd::{AsFd, BorrowedFd},
    time::{Duration, Instant},
};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::{
    broadcast::{Publisher, Subscriber},
    channel::{Receiver, Sender},
};

std::thread_local! {
    /// Where this thread's next report starts: a rotation shared by every `Select` of the
    /// thread, so that fairness holds for a caller that builds a new one for each wait
    /// (as it must, to use the `&mut` receive calls between waits).
    static START: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Longest single sleep: the channels are looked at again this often, so that a wake-up
/// lost to a peer scribbling on the doorbell's words costs at most this long.
const SLICE: Duration = Duration::from_millis(100);

/// Waits on any mix of [`Receiver`]s, [`Sender`]s, [`Subscriber`]s, [`Publisher`]s and
/// file descriptors.
///
/// Add each with [`Select::recv`], [`Select::send`], [`Select::subscribe`],
/// [`Select::publish`] or [`Select::fd`] (each returns its index), then call [`Select::ready`] or [`Select::ready_timeout`], which return the
/// indices that are ready. A ready channel is worked with its `try_` calls until they
/// say `Empty` (or `Full`): that re-arms its doorbell for the next wait. Readiness can be
/// spurious (on an MPMC channel another receiver may have taken the message); the `try_`
/// call says so. Each wait on a thread starts its report one index further than the
/// last (a rotation kept per thread, so it holds across `Select`s built for each wait),
/// so that a caller that serves only the first ready index starves nobody.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferry::{Config, Select};
///
/// let config = Config::new().slot_size(64).capacity(4);
/// let (mut tx_a, mut rx_a) = ferry::in_memory(&config)?;
/// let (_tx_b, rx_b) = ferry::in_memory(&config)?;
/// tx_a.send(b"to a")?;
///
/// let mut select = Select::new();
/// let a = select.recv(&rx_a);
/// let b = select.recv(&rx_b);
/// let ready = select.ready_timeout(Duration::from_secs(5))?;
/// assert_eq!(ready, vec![a]);
/// assert!(!ready.contains(&b));
/// drop(select);
/// assert_eq!(&*rx_a.try_recv()?, b"to a");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Select<'a> {
    entries: Vec<Entry<'a>>,
}

enum Entry<'a> {
    Recv(&'a Receiver),
    Send(&'a Sender),
    Subscribe(&'a Subscriber),
    Publish(&'a Publisher),
    Fd(BorrowedFd<'a>),
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select").field("entries", &self.entries.len()).finish()
    }
}

impl<'a> Select<'a> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a receiver: ready when it has a message or its senders have gone. Returns
    /// its index.
    pub fn recv(&mut self, receiver: &'a Receiver) -> usize {
        self.push(Entry::Recv(receiver))
    }

    /// Adds a sender: ready when it has room or its receivers have gone. Returns its
    /// index.
    pub fn send(&mut self, sender: &'a Sender) -> usize {
        self.push(Entry::Send(sender))
    }

    /// Adds a broadcast subscriber: ready when a message (or a lag) is there for it, or
    /// its publishers have all gone. Returns its index.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferry::{Config, Publisher, Select, Start};
    ///
    /// let mut publisher = Publisher::in_memory(&Config::new().slot_size(64).capacity(4))?;
    /// let mut quiet = publisher.subscribe(Start::Live)?;
    /// let mut subscriber = publisher.subscribe(Start::Live)?;
    /// publisher.send(b"news")?;
    /// let _ = quiet.try_recv()?; // `quiet` read it already
    ///
    /// let mut select = Select::new();
    /// let q = select.subscribe(&quiet);
    /// let s = select.subscribe(&subscriber);
    /// assert_eq!(select.ready_timeout(Duration::from_secs(5))?, vec![s]);
    /// # let _ = q;
    /// drop(select);
    /// assert_eq!(&*subscriber.try_recv()?, b"news");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe(&mut self, subscriber: &'a Subscriber) -> usize {
        self.push(Entry::Subscribe(subscriber))
    }

    /// Adds a broadcast publisher: ready when a publish would find room (always, in
    /// overwrite mode). Returns its index.
    pub fn publish(&mut self, publisher: &'a Publisher) -> usize {
        self.push(Entry::Publish(publisher))
    }

    /// Adds a file descriptor: ready when it is readable (or hung up). Returns its index.
    pub fn fd(&mut self, fd: &'a impl AsFd) -> usize {
        self.push(Entry::Fd(fd.as_fd()))
    }

    fn push(&mut self, entry: Entry<'a>) -> usize {
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// Waits until at least one entry is ready; returns the ready indices.
    ///
    /// # Errors
    ///
    /// What `poll` reports other than an interruption (too many descriptors, no memory).
    pub fn ready(&mut self) -> io::Result<Vec<usize>> {
        self.wait(None)
    }

    /// Waits at most `timeout` until at least one entry is ready; returns the ready
    /// indices, none if the wait ran out.
    ///
    /// # Errors
    ///
    /// As for [`Select::ready`].
    pub fn ready_timeout(&mut self, timeout: Duration) -> io::Result<Vec<usize>> {
        self.wait(Some(Instant::now() + timeout))
    }

    fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Vec<usize>> {
        let count = self.entries.len();
        let start = START.with(|next| {
            let start = next.get();
            next.set(start.wrapping_add(1));
            if count == 0 {
                0
            } else {
                start % count
            }
        });
        loop {
            // Arm every doorbell and look: ready now, whatever the fds say.
            let mut ready: Vec<bool> = self
                .entries
                .iter()
                .map(|entry| match entry {
                    Entry::Recv(r) => r.ready_now(),
                    Entry::Send(s) => s.ready_now(),
                    Entry::Subscribe(s) => s.ready_now(),
                    Entry::Publish(p) => p.ready_now(),
                    Entry::Fd(_) => false,
                })
                .collect();
            let now = Instant::now();
            let slice = if ready.contains(&true) {
                Duration::ZERO
            } else {
                deadline.map_or(SLICE, |d| d.saturating_duration_since(now).min(SLICE))
            };
            let mut polled: Vec<PollFd<'_>> = self
                .entries
                .iter()
                .map(|entry| {
                    let fd = match entry {
                        Entry::Recv(r) => r.as_fd(),
                        Entry::Send(s) => s.as_fd(),
                        Entry::Subscribe(s) => s.as_fd(),
                        Entry::Publish(p) => p.as_fd(),
                        Entry::Fd(fd) => fd.as_fd(),
                    };
                    PollFd::from_borrowed_fd(fd, PollFlags::IN)
                })
                .collect();
            let timeout = Timespec::try_from(slice).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            match poll(&mut polled, Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            for (flag, fd) in ready.iter_mut().zip(&polled) {
                *flag |= !fd.revents().is_empty();
            }
            if ready.contains(&true) {
                return Ok((0..count).map(|i| (start + i) % count).filter(|&i| ready[i]).collect());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
        }
    }
}
