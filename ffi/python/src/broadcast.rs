//! `ferry.Publisher` and `ferry.Subscriber`: the broadcast channel, where every
//! subscriber receives every message published after it joined.
//!
//! `publish` copies a bytes-like object into the ring; `loan()` lends room to write a
//! message in place (a `ferry.Loan`, `loan.rs`), a whole slot or, with `size=n`, exactly
//! `n` bytes: on a channel sized in bytes (`Config(capacity_bytes=...)`) a message takes
//! only the room it needs. `recv` returns a validated copy of the next message as
//! `bytes` (in overwrite mode a message overwritten while it was copied raises
//! `ferry.Lagged`, never arrives torn). `recv_guard` reads it in place (a
//! `ferry.RecvGuard`, `guard.rs`), in block mode only: in overwrite mode a publisher may
//! overwrite a message under its reader, and an exported buffer could change under a
//! numpy array with no way to tell it. In block mode nothing is overwritten before every
//! live subscriber has moved past it.

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::{Policy, PublishError, Start, SubscriberError};
use pyo3::{exceptions::PyStopIteration, prelude::*, types::PyBytes};

use crate::{
    buffer::{self, Borrowed},
    config::Config,
    errors,
    guard::{ReadsInPlace, RecvGuard},
    handle,
    lender::Lender,
    loan::{Lends, Loan},
    open,
    wait::{self, Patience},
};

type PublisherInner = Lender<ferry::Publisher, ferry::PublishLoan<'static>>;
type SubscriberInner = Lender<ferry::Subscriber, ferry::SubscriberGuard<'static>>;

const PUBLISHER: &str = "publisher";
const PUBLISHER_LENT_TO: &str = "Loan (room lent for writing)";
const SUBSCRIBER: &str = "subscriber";
const SUBSCRIBER_LENT_TO: &str = "RecvGuard (a message read in place)";

/// Where a new subscriber starts: the live stream, or the last `history` messages first.
fn start(py: Python<'_>, history: i64) -> PyResult<Start> {
    match usize::try_from(history) {
        Ok(0) => Ok(Start::Live),
        Ok(n) => Ok(Start::History(n)),
        Err(_) => {
            Err(errors::raise(py, "InvalidConfig", format!("history must be a number of messages >= 0, not {history}")))
        }
    }
}

/// The publishing end of a broadcast channel.
///
/// `Publisher.create(endpoint, config)` makes the channel (`"NAME"` or `"shm:NAME"`; the
/// config's `policy`, `history` and `subscribers` apply; with `capacity_bytes` it is
/// sized in bytes); `Publisher.open(endpoint)` attaches one more publisher.
/// `publish(data)` copies a bytes-like object to every subscriber; `loan()` lends room to
/// write a message in place (`size=n`: exactly `n` bytes). In block mode both wait
/// while the slowest subscriber holds the room back (the `try_` forms raise
/// `ferry.Full`, `timeout=` raises `ferry.Timeout`); in overwrite mode they never wait.
/// A `with` block closes the publisher. One thread uses a publisher at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Publisher {
    inner: Mutex<PublisherInner>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Slots in the ring; 0 on a channel sized in bytes.
    capacity: usize,
    /// Bytes of a channel sized in bytes; 0 on a ring of slots.
    capacity_bytes: usize,
}

impl Publisher {
    fn wrap(publisher: ferry::Publisher) -> Self {
        Self {
            slot_size: publisher.slot_size(),
            capacity: publisher.capacity(),
            capacity_bytes: publisher.capacity_bytes(),
            inner: Mutex::new(Lender::new(publisher)),
        }
    }

    /// Locks the handle for one call; another thread waiting in a call holds it.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, PublisherInner>> {
        handle::lock(py, &self.inner, PUBLISHER)
    }

    /// Runs `f` on the publisher, unless it is closed or a loan holds it.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Publisher) -> PyResult<R>) -> PyResult<R> {
        let mut inner = self.lock(py)?;
        let publisher = inner.get().map_err(|refusal| errors::refused(py, refusal, PUBLISHER, PUBLISHER_LENT_TO))?;
        f(publisher)
    }

    fn publish_with(&self, py: Python<'_>, data: &Bound<'_, PyAny>, patience: Patience) -> PyResult<()> {
        self.with(py, |publisher| {
            let first = buffer::with_bytes(data, |bytes| match publisher.try_send(bytes) {
                Err(PublishError::Full) if patience != Patience::Try => Ok(Some(bytes.to_vec())),
                other => other.map(|()| None).map_err(|e| errors::publish(py, e)),
            })?;
            // Full: wait without the GIL, with a copy of the message (the caller's
            // buffer is not ours to read while other threads run).
            let Some(message) = first else { return Ok(()) };
            wait::in_slices(
                py,
                patience,
                |e| *e == PublishError::Timeout,
                |slice| publisher.send_timeout(&message, slice),
            )?
            .map_err(|e| errors::publish(py, e))
        })
    }

    /// Lends `size` bytes (`None`: a whole slot, the largest message) as `patience` allows.
    fn loan_with(slf: &Bound<'_, Self>, patience: Patience, size: Option<usize>) -> PyResult<Loan> {
        let py = slf.py();
        let mut inner = slf.get().lock(py)?;
        let lent = inner.lend(|mut lending| {
            // SAFETY: the first reference made from `lending`.
            let publisher = unsafe { lending.try_once() };
            let first = match size {
                None => publisher.try_loan(),
                Some(n) => publisher.try_loan_bytes(n),
            };
            match first {
                Err(PublishError::Full) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::publish(py, e)),
            }
            let waited = wait::in_slices(
                py,
                patience,
                |e| *e == PublishError::Timeout,
                |slice| {
                    // SAFETY: the try before this one returned an error, which borrows
                    // nothing: no reference made earlier from `lending` is alive.
                    let publisher = unsafe { lending.try_once() };
                    match size {
                        None => publisher.loan_timeout(slice),
                        Some(n) => publisher.loan_bytes_timeout(n, slice),
                    }
                },
            )?;
            waited.map_err(|e| errors::publish(py, e))
        });
        match lent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(refusal) => return Err(errors::refused(py, refusal, PUBLISHER, PUBLISHER_LENT_TO)),
        }
        Ok(Loan::new(slf, inner.lent().expect("lend kept the loan")))
    }
}

impl Lends for Publisher {
    fn finish_loan(&self, len: Option<usize>) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(loan) = inner.take() {
            match len {
                Some(len) => loan.commit(len),
                None => drop(loan),
            }
        }
        inner.free_if_closing();
    }
}

#[pymethods]
impl Publisher {
    /// Creates the broadcast channel `endpoint` and attaches to it as a publisher; the
    /// name is removed when this publisher is closed. `config` defaults to
    /// `ferry.Config()` (its `kind` is ignored: the channel is a broadcast one). With
    /// `capacity_bytes`, the ring is that many bytes and carries messages of any size up
    /// to `slot_size`; such a channel blocks and keeps no history (`policy="overwrite"`
    /// or `history` raise `ferry.InvalidConfig`).
    #[staticmethod]
    #[pyo3(signature = (endpoint, config = None))]
    fn create(py: Python<'_>, endpoint: &str, config: Option<&Bound<'_, Config>>) -> PyResult<Self> {
        let config = Config::or_default(py, config)?;
        ferry::Publisher::create(endpoint, &config).map(Self::wrap).map_err(|e| errors::attach(py, e))
    }

    /// Opens the existing broadcast channel `endpoint` as one more publisher. With
    /// `timeout` (seconds), waits that long for the channel to be created
    /// (`ferry.Timeout`).
    #[staticmethod]
    #[pyo3(signature = (endpoint, *, timeout = None))]
    fn open(py: Python<'_>, endpoint: &str, timeout: Option<f64>) -> PyResult<Self> {
        open::within(py, endpoint, timeout, || ferry::Publisher::open(endpoint)).map(Self::wrap)
    }

    /// Attaches a subscriber to this channel: it receives what is published from now
    /// on, after the last `history` messages already published (at most the channel's
    /// `history`).
    #[pyo3(signature = (*, history = 0))]
    fn subscribe(&self, py: Python<'_>, history: i64) -> PyResult<Subscriber> {
        let start = start(py, history)?;
        self.with(py, |publisher| publisher.subscribe(start).map(Subscriber::wrap).map_err(|e| errors::attach(py, e)))
    }

    /// Copies `data` (a bytes-like object) to every subscriber, waiting (block mode)
    /// while the slowest is a whole ring behind: at most `timeout` seconds (`None`:
    /// forever). Raises `TooLarge`, `Timeout`, `Corrupt`.
    #[pyo3(signature = (data, timeout = None))]
    fn publish(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let patience = Patience::from_timeout(timeout)?;
        self.publish_with(py, data, patience)
    }

    /// Publishes `data` if there is room now; raises `Full` if not.
    fn try_publish(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.publish_with(py, data, Patience::Try)
    }

    /// Lends room to write a message into, waiting (block mode) while the slowest
    /// subscriber holds it back: at most `timeout` seconds (`None`: forever).
    /// `loan.commit(n)` publishes its first `n` bytes to every subscriber; leaving its
    /// `with` block without a commit publishes nothing. Until then, other calls on this
    /// publisher raise `Busy`, and later messages (of any publisher) wait behind it:
    /// hold it only while writing. Without `size` it lends a whole slot (the largest
    /// message); with `size`, exactly that many bytes (at most the largest message), and
    /// on a channel sized in bytes the message then takes only that room. Raises
    /// `TooLarge`, `Timeout`, `Corrupt`.
    #[pyo3(signature = (timeout = None, *, size = None))]
    fn loan(slf: &Bound<'_, Self>, timeout: Option<f64>, size: Option<usize>) -> PyResult<Loan> {
        let patience = Patience::from_timeout(timeout)?;
        Self::loan_with(slf, patience, size)
    }

    /// Lends a whole slot (or `size` bytes) if there is room now; raises `Full` if not.
    #[pyo3(signature = (*, size = None))]
    fn try_loan(slf: &Bound<'_, Self>, size: Option<usize>) -> PyResult<Loan> {
        Self::loan_with(slf, Patience::Try, size)
    }

    /// The pollable file descriptor, for `selectors`, `select.poll` or asyncio's
    /// `add_reader`: in block mode it turns readable when a full ring gets room. Once it
    /// is readable, publish with `try_publish` until `Full` (that re-arms it) before
    /// waiting on it again. In overwrite mode a publish never waits and nothing rings it.
    /// It stays the same until `close()`. Raises while a `Loan` is held.
    fn fileno(&self, py: Python<'_>) -> PyResult<c_int> {
        self.with(py, |publisher| Ok(std::os::fd::AsRawFd::as_raw_fd(publisher)))
    }

    /// Subscribers attached now (a snapshot).
    fn subscriber_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |publisher| Ok(publisher.subscriber_count()))
    }

    /// The largest message, in bytes.
    #[getter]
    fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Slots in the ring; 0 on a channel sized in bytes (see `capacity_bytes`).
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes of a channel sized in bytes (`Config(capacity_bytes=...)`); 0 on a
    /// ring of slots.
    #[getter]
    fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(!self.lock(py)?.is_open())
    }

    /// Detaches from the channel (subscribers see `Disconnected` once every publisher
    /// has gone and they have read what they can see). If a loan is still held, the
    /// publisher goes when the loan is finished. Closing twice does nothing; other calls
    /// raise `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.lock(py)?.close();
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _type: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = match self.inner.try_lock() {
            Ok(inner) if !inner.is_open() => "closed",
            Ok(inner) if inner.is_lent() => "loan held",
            Ok(_) => "open",
            Err(_) => "in use",
        };
        format!("<ferry.Publisher slot_size={} {} {state}>", self.slot_size, size(self.capacity, self.capacity_bytes))
    }
}

/// The subscribing end of a broadcast channel: every message published after it
/// joined, in each publisher's order.
///
/// `Subscriber.open(endpoint)` attaches to a channel a publisher created (`timeout=`
/// waits for it to be created; `history=k` starts with the last `k` messages it kept);
/// `Publisher.subscribe()` attaches one in the same process. `recv()` returns a copy of
/// the next message as `bytes`; `recv_guard()` reads it in place (block mode only);
/// `try_recv()` never waits (`ferry.Empty`); `timeout=` in seconds (`ferry.Timeout`). In
/// overwrite mode a subscriber that fell a whole ring behind gets `ferry.Lagged` (its
/// `missed` counts the positions it lost: each message, and any a publisher gave up
/// without one) and then continues from the oldest message
/// the channel still holds. Once every publisher has gone and it has read what it can
/// see, receives raise `ferry.Disconnected` and iteration (`for message in subscriber`)
/// ends. One thread uses a subscriber at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Subscriber {
    inner: Mutex<SubscriberInner>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Slots in the ring; 0 on a channel sized in bytes.
    capacity: usize,
    /// Bytes of a channel sized in bytes; 0 on a ring of slots.
    capacity_bytes: usize,
    /// Whether the channel is in overwrite mode, where messages are not read in place.
    overwrite: bool,
}

impl Subscriber {
    fn wrap(subscriber: ferry::Subscriber) -> Self {
        Self {
            slot_size: subscriber.slot_size(),
            capacity: subscriber.capacity(),
            capacity_bytes: subscriber.capacity_bytes(),
            overwrite: subscriber.policy() == Policy::Overwrite,
            inner: Mutex::new(Lender::new(subscriber)),
        }
    }

    /// Locks the handle for one call; another thread waiting in a call holds it.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, SubscriberInner>> {
        handle::lock(py, &self.inner, SUBSCRIBER)
    }

    /// Runs `f` on the subscriber, unless it is closed or a guard holds it.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Subscriber) -> PyResult<R>) -> PyResult<R> {
        let mut inner = self.lock(py)?;
        let subscriber = inner.get().map_err(|refusal| errors::refused(py, refusal, SUBSCRIBER, SUBSCRIBER_LENT_TO))?;
        f(subscriber)
    }

    /// Copies the next message into `buf` as `patience` allows.
    fn copy_into(
        py: Python<'_>,
        subscriber: &mut ferry::Subscriber,
        buf: &mut [u8],
        patience: Patience,
    ) -> PyResult<usize> {
        match subscriber.try_recv_into(buf) {
            Err(SubscriberError::Empty) if patience != Patience::Try => {}
            other => return other.map_err(|e| errors::subscribe(py, e)),
        }
        // Nothing yet: wait without the GIL.
        wait::in_slices(py, patience, is_timeout, |slice| subscriber.recv_into_timeout(buf, slice))?
            .map_err(|e| errors::subscribe(py, e))
    }

    fn recv_bytes<'py>(&self, py: Python<'py>, patience: Patience) -> PyResult<Bound<'py, PyBytes>> {
        self.with(py, |subscriber| {
            // A message there now is copied once, from the ring into `bytes`, then
            // validated (overwrite mode: a copy the publisher overwrote is `Lagged`).
            match subscriber.try_recv() {
                Ok(mut guard) => {
                    let bytes = PyBytes::new(py, &guard);
                    guard.validate().map_err(|e| errors::subscribe(py, e))?;
                    return Ok(bytes);
                }
                Err(SubscriberError::Empty) if patience != Patience::Try => {}
                Err(e) => return Err(errors::subscribe(py, e)),
            }
            // Nothing yet: wait without the GIL; what arrives is copied out there (the
            // message's bytes only), validated, then made `bytes` with the GIL.
            let message = wait::in_slices(py, patience, is_timeout, |slice| {
                let mut guard = subscriber.recv_timeout(slice)?;
                let message = guard.to_vec();
                guard.validate().map(|()| message)
            })?;
            message.map(|message| PyBytes::new(py, &message)).map_err(|e| errors::subscribe(py, e))
        })
    }

    fn recv_into_with(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, patience: Patience) -> PyResult<usize> {
        let mut buffer = Borrowed::new(buffer, true)?;
        // Written without the GIL, as `socket.recv_into` does: the export keeps the
        // buffer alive and its size fixed meanwhile.
        self.with(py, |subscriber| Self::copy_into(py, subscriber, buffer.as_mut_slice(), patience))
    }

    /// Receives the next message into the borrow the handle keeps, as `patience` allows,
    /// and returns the guard that reads it in place.
    fn guard_with(slf: &Bound<'_, Self>, patience: Patience) -> PyResult<RecvGuard> {
        let py = slf.py();
        let this = slf.get();
        if this.overwrite {
            return Err(errors::raise(
                py,
                "Unsupported",
                "an overwrite-mode channel's messages are not read in place (a publisher may overwrite one under \
                 its reader): use recv() or recv_into(), which check what they copied",
            ));
        }
        let mut inner = this.lock(py)?;
        let lent = inner.lend(|mut lending| {
            // SAFETY: the first reference made from `lending`.
            match unsafe { lending.try_once() }.try_recv() {
                Err(SubscriberError::Empty) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::subscribe(py, e)),
            }
            let waited = wait::in_slices(py, patience, is_timeout, |slice| {
                // SAFETY: the try before this one returned an error, which borrows
                // nothing: no reference made earlier from `lending` is alive.
                unsafe { lending.try_once() }.recv_timeout(slice)
            })?;
            waited.map_err(|e| errors::subscribe(py, e))
        });
        match lent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(refusal) => return Err(errors::refused(py, refusal, SUBSCRIBER, SUBSCRIBER_LENT_TO)),
        }
        // Block mode: no publisher writes the message before this subscriber moves past
        // it, so it needs no validation (and may be exported as a buffer).
        Ok(RecvGuard::new(slf, inner.lent().expect("lend kept the guard")))
    }
}

impl ReadsInPlace for Subscriber {
    fn finish_guard(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Dropping the guard moves the subscriber past the message.
        drop(inner.take());
        inner.free_if_closing();
    }
}

fn is_timeout(e: &SubscriberError) -> bool {
    *e == SubscriberError::Timeout
}

#[pymethods]
impl Subscriber {
    /// Opens the broadcast channel `endpoint` as a subscriber, starting with the last
    /// `history` messages it kept (0: the live stream only). With `timeout` (seconds),
    /// waits that long for the channel to be created (`ferry.Timeout`).
    #[staticmethod]
    #[pyo3(signature = (endpoint, *, history = 0, timeout = None))]
    fn open(py: Python<'_>, endpoint: &str, history: i64, timeout: Option<f64>) -> PyResult<Self> {
        let start = start(py, history)?;
        open::within(py, endpoint, timeout, || ferry::Subscriber::open(endpoint, start)).map(Self::wrap)
    }

    /// Creates the broadcast channel `endpoint` from the subscribing side (publishers
    /// open it), and attaches to it; the name is removed when this subscriber is closed.
    #[staticmethod]
    #[pyo3(signature = (endpoint, config = None))]
    fn create(py: Python<'_>, endpoint: &str, config: Option<&Bound<'_, Config>>) -> PyResult<Self> {
        let config = Config::or_default(py, config)?;
        ferry::Subscriber::create(endpoint, &config, Start::Live).map(Self::wrap).map_err(|e| errors::attach(py, e))
    }

    /// Waits for the next message (at most `timeout` seconds; `None`: forever) and
    /// returns a copy of it. Raises `Timeout`, `Lagged`, `Disconnected`, `Corrupt`.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let patience = Patience::from_timeout(timeout)?;
        self.recv_bytes(py, patience)
    }

    /// Returns a copy of the next message if one is there now; raises `Empty` if not.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.recv_bytes(py, Patience::Try)
    }

    /// The pollable file descriptor, for `selectors`, `select.poll` or asyncio's
    /// `add_reader`: it turns readable when a message (or a lag) is there for this
    /// subscriber, or every publisher has gone. Each subscriber has its own, so every
    /// subscriber waiting on its fd hears every message. Once it is readable, receive
    /// with the `try_` calls until `Empty` (that re-arms it) before waiting on it again;
    /// do so once before the first wait too. It stays the same until `close()`.
    fn fileno(&self, py: Python<'_>) -> PyResult<c_int> {
        self.with(py, |subscriber| Ok(std::os::fd::AsRawFd::as_raw_fd(subscriber)))
    }

    /// Waits for the next message and copies it into `buffer` (a writable bytes-like
    /// object), returning its length. Raises `BufferTooSmall` (the message stays; the
    /// exception's `needed` is its length), `Timeout`, `Lagged`, `Disconnected`.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<usize> {
        let patience = Patience::from_timeout(timeout)?;
        self.recv_into_with(py, buffer, patience)
    }

    /// Copies the next message into `buffer` if one is there now; raises `Empty` if not.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.recv_into_with(py, buffer, Patience::Try)
    }

    /// Waits for the next message (at most `timeout` seconds; `None`: forever) and
    /// returns a `RecvGuard` that reads it in place, without a copy (`memoryview`,
    /// `numpy.frombuffer`); releasing the guard (leaving its `with` block) moves this
    /// subscriber past it. Until then, other calls on this subscriber raise `Busy`, and
    /// in block mode publishers wait for it once the ring is full: hold it only while
    /// reading. Raises `Unsupported` in overwrite mode (use `recv` or `recv_into`),
    /// `Timeout`, `Disconnected`, `Corrupt`.
    #[pyo3(signature = (timeout = None))]
    fn recv_guard(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<RecvGuard> {
        let patience = Patience::from_timeout(timeout)?;
        Self::guard_with(slf, patience)
    }

    /// Returns a `RecvGuard` on the next message if one is there now; raises `Empty` if
    /// not.
    fn try_recv_guard(slf: &Bound<'_, Self>) -> PyResult<RecvGuard> {
        Self::guard_with(slf, Patience::Try)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next message (`recv()`); the iteration ends once every publisher has gone and
    /// this subscriber has read what it can see. `Lagged` is raised, not skipped.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.recv_bytes(py, Patience::Forever) {
            Err(e) if e.is_instance(py, errors::class(py, "Disconnected")?.as_any()) => {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }

    /// Messages published that this subscriber has not read yet (a snapshot; in
    /// overwrite mode it may exceed the capacity: the excess is lost). On a channel
    /// sized in bytes, the bytes of the records it has not read yet, headers included.
    fn pending(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |subscriber| Ok(subscriber.pending()))
    }

    /// The largest message, in bytes.
    #[getter]
    fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Slots in the ring; 0 on a channel sized in bytes (see `capacity_bytes`).
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes of a channel sized in bytes (`Config(capacity_bytes=...)`); 0 on a
    /// ring of slots.
    #[getter]
    fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(!self.lock(py)?.is_open())
    }

    /// Detaches from the channel; a block-mode publisher stops waiting for it. If a
    /// guard is still held, the subscriber goes when the guard is released. Closing
    /// twice does nothing; other calls raise `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.lock(py)?.close();
        Ok(())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _type: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = match self.inner.try_lock() {
            Ok(inner) if !inner.is_open() => "closed",
            Ok(inner) if inner.is_lent() => "guard held",
            Ok(_) => "open",
            Err(_) => "in use",
        };
        format!("<ferry.Subscriber slot_size={} {} {state}>", self.slot_size, size(self.capacity, self.capacity_bytes))
    }
}

/// The ring's size for a `repr`: `capacity=N` slots, or `capacity_bytes=N`.
fn size(capacity: usize, capacity_bytes: usize) -> String {
    match capacity_bytes {
        0 => format!("capacity={capacity}"),
        bytes => format!("capacity_bytes={bytes}"),
    }
}
