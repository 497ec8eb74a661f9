//! `ferry.Publisher` and `ferry.Subscriber`: the broadcast channel, where every
//! subscriber receives every message published after it joined.
//!
//! Both copy: `publish` copies a bytes-like object into the ring, `recv` returns a
//! validated copy of the next message as `bytes` (in overwrite mode a message
//! overwritten while it was copied raises `ferry.Lagged`, never arrives torn). Reading in
//! place, as `Receiver.recv_guard` does for queues, is not offered here: a broadcast
//! slot may be overwritten under a reader in overwrite mode, so an exported buffer could
//! change under a numpy array with no way to tell it.

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::{PublishError, Start, SubscriberError};
use pyo3::{exceptions::PyStopIteration, prelude::*, types::PyBytes};

use crate::{
    buffer::{self, Borrowed},
    config::Config,
    errors, handle, open,
    wait::{self, Patience},
};

/// Locks `inner` for one call: `Busy` while another thread is in a call on it, `Closed`
/// once closed.
fn lock<'a, T>(py: Python<'_>, inner: &'a Mutex<Option<T>>, what: &'static str) -> PyResult<MutexGuard<'a, Option<T>>> {
    let guard = handle::lock(py, inner, what)?;
    if guard.is_none() {
        return Err(errors::raise(py, "Closed", format!("the {what} is closed")));
    }
    Ok(guard)
}

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

/// Whether the handle in `inner` was closed.
fn is_closed<T>(py: Python<'_>, inner: &Mutex<Option<T>>, what: &'static str) -> PyResult<bool> {
    Ok(handle::lock(py, inner, what)?.is_none())
}

/// Drops the handle in `inner` (once; closing again does nothing).
fn close<T>(py: Python<'_>, inner: &Mutex<Option<T>>, what: &'static str) -> PyResult<()> {
    let handle = handle::lock(py, inner, what)?.take();
    drop(handle);
    Ok(())
}

/// The publishing end of a broadcast channel.
///
/// `Publisher.create(endpoint, config)` makes the channel (`"NAME"` or `"shm:NAME"`; the
/// config's `policy`, `history` and `subscribers` apply); `Publisher.open(endpoint)`
/// attaches one more publisher. `publish(data)` copies a bytes-like object to every
/// subscriber: in block mode it waits while the slowest subscriber is a whole ring
/// behind (`try_publish` raises `ferry.Full`, `timeout=` raises `ferry.Timeout`); in
/// overwrite mode it never waits. A `with` block closes the publisher. One thread uses a
/// publisher at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Publisher {
    inner: Mutex<Option<ferry::Publisher>>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Slots in the ring.
    capacity: usize,
}

impl Publisher {
    fn wrap(publisher: ferry::Publisher) -> Self {
        Self { slot_size: publisher.slot_size(), capacity: publisher.capacity(), inner: Mutex::new(Some(publisher)) }
    }

    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Publisher) -> PyResult<R>) -> PyResult<R> {
        let mut inner = lock(py, &self.inner, "publisher")?;
        f(inner.as_mut().expect("`lock` refuses a closed publisher"))
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
}

#[pymethods]
impl Publisher {
    /// Creates the broadcast channel `endpoint` and attaches to it as a publisher; the
    /// name is removed when this publisher is closed. `config` defaults to
    /// `ferry.Config()` (its `kind` is ignored: the channel is a broadcast one).
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

    /// The pollable file descriptor, for `selectors`, `select.poll` or asyncio's
    /// `add_reader`: in block mode it turns readable when a full ring gets room. Once it
    /// is readable, publish with `try_publish` until `Full` (that re-arms it) before
    /// waiting on it again. In overwrite mode a publish never waits and nothing rings it.
    /// It stays the same until `close()`.
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

    /// Slots in the ring.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        is_closed(py, &self.inner, "publisher")
    }

    /// Detaches from the channel (subscribers see `Disconnected` once every publisher
    /// has gone and they have read what they can see). Closing twice does nothing; other
    /// calls raise `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close(py, &self.inner, "publisher")
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
            Ok(inner) if inner.is_none() => "closed",
            Ok(_) => "open",
            Err(_) => "in use",
        };
        format!("<ferry.Publisher slot_size={} capacity={} {state}>", self.slot_size, self.capacity)
    }
}

/// The subscribing end of a broadcast channel: every message published after it
/// joined, in each publisher's order.
///
/// `Subscriber.open(endpoint)` attaches to a channel a publisher created (`timeout=`
/// waits for it to be created; `history=k` starts with the last `k` messages it kept);
/// `Publisher.subscribe()` attaches one in the same process. `recv()` returns a copy of
/// the next message as `bytes`; `try_recv()` never waits (`ferry.Empty`); `timeout=` in
/// seconds (`ferry.Timeout`). In overwrite mode a subscriber that fell a whole ring
/// behind gets `ferry.Lagged` (its `missed` says how many messages it lost) and then
/// continues from the oldest message the channel still holds. Once every publisher has
/// gone and it has read what it can see, receives raise `ferry.Disconnected` and
/// iteration (`for message in subscriber`) ends. One thread uses a subscriber at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Subscriber {
    inner: Mutex<Option<ferry::Subscriber>>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Slots in the ring.
    capacity: usize,
}

impl Subscriber {
    fn wrap(subscriber: ferry::Subscriber) -> Self {
        let (slot_size, capacity) = (subscriber.slot_size(), subscriber.capacity());
        Self { slot_size, capacity, inner: Mutex::new(Some(subscriber)) }
    }

    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Subscriber) -> PyResult<R>) -> PyResult<R> {
        let mut inner = lock(py, &self.inner, "subscriber")?;
        f(inner.as_mut().expect("`lock` refuses a closed subscriber"))
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
    /// overwrite mode it may exceed the capacity: the excess is lost).
    fn pending(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |subscriber| Ok(subscriber.pending()))
    }

    /// The largest message, in bytes.
    #[getter]
    fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Slots in the ring.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        is_closed(py, &self.inner, "subscriber")
    }

    /// Detaches from the channel; a block-mode publisher stops waiting for it. Closing
    /// twice does nothing; other calls raise `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        close(py, &self.inner, "subscriber")
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
            Ok(inner) if inner.is_none() => "closed",
            Ok(_) => "open",
            Err(_) => "in use",
        };
        format!("<ferry.Subscriber slot_size={} capacity={} {state}>", self.slot_size, self.capacity)
    }
}
