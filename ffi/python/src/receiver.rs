//! `ferry.Receiver`, the receiving end of a queue; it reads messages in place through
//! `ferry.RecvGuard`s (`guard.rs`).

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::RecvError;
use pyo3::{
    exceptions::{PyStopIteration, PyValueError},
    prelude::*,
    types::{PyByteArray, PyBytes, PyList},
};

use crate::{
    buffer::Borrowed,
    config::Config,
    errors,
    guard::{ReadsInPlace, RecvGuard},
    handle,
    lender::Lender,
    open,
    wait::{self, Patience},
};

type Inner = Lender<ferry::Receiver, ferry::RecvGuard<'static>>;

/// The receiving end of a channel.
///
/// `Receiver.create(endpoint, config)` makes the channel (`"NAME"` or `"shm:NAME"`,
/// `"unix:PATH"`, `"fifo:PATH"`, `"auto:NAME"`); `Receiver.open(endpoint)` attaches to an
/// MPMC channel another process made. `recv()` returns the next message as `bytes`
/// (copying the message, not the slot); `recv_guard()` reads it in place. Every receive
/// has a blocking form, a `try_` form that never waits (`ferry.Empty`), and a `timeout=`
/// in seconds (`ferry.Timeout`); once every sender has gone and the channel is drained,
/// receives raise `ferry.Disconnected` and iteration (`for message in receiver`) ends.
/// A `with` block closes the receiver. One thread uses a receiver at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Receiver {
    inner: Mutex<Inner>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Messages a shared-memory ring of slots holds at once; 0 on a channel sized in bytes, on sockets and pipes.
    capacity: usize,
    /// Bytes of a shared-memory channel sized in bytes; 0 elsewhere.
    capacity_bytes: usize,
    /// Why `auto:` fell back from shared memory, if it did.
    fallback: Option<String>,
}

const WHAT: &str = "receiver";
const LENT_TO: &str = "RecvGuard (a message read in place)";

impl Receiver {
    pub(crate) fn wrap(receiver: ferry::Receiver) -> Self {
        Self {
            slot_size: receiver.slot_size(),
            capacity: receiver.capacity(),
            capacity_bytes: receiver.capacity_bytes(),
            fallback: receiver.fallback_reason().map(str::to_owned),
            inner: Mutex::new(Lender::new(receiver)),
        }
    }

    /// Locks the handle for one call; another thread waiting in a call holds it.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, Inner>> {
        handle::lock(py, &self.inner, WHAT)
    }

    /// Runs `f` on the receiver, unless it is closed or a guard holds it.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Receiver) -> PyResult<R>) -> PyResult<R> {
        let mut inner = self.lock(py)?;
        let receiver = inner.get().map_err(|refusal| errors::refused(py, refusal, WHAT, LENT_TO))?;
        f(receiver)
    }

    /// [`ReadsInPlace::finish_guard`] with the handle already locked: drops the guard
    /// Python held (its slot goes back to the senders), and frees the receiver if
    /// `close` waited for it.
    fn hand_back(inner: &mut Inner) {
        drop(inner.take());
        inner.free_if_closing();
    }
}

/// The copy receive's fast path: a message waiting now, copied into `bytes` (only its
/// own bytes, not the slot's).
fn copy_out<'py>(py: Python<'py>, receiver: &mut ferry::Receiver) -> Result<Bound<'py, PyBytes>, RecvError> {
    receiver.try_recv().map(|guard| PyBytes::new(py, &guard))
}

/// Copies the messages waiting now into `messages`, until it holds `max`, through one
/// batch (its slots go back together when it ends); returns why it stopped early
/// (`Empty` when it did not).
fn copy_batch<'py>(
    py: Python<'py>,
    receiver: &mut ferry::Receiver,
    messages: &mut Vec<Bound<'py, PyBytes>>,
    max: usize,
) -> RecvError {
    let mut batch = receiver.batch();
    while messages.len() < max {
        match batch.try_recv() {
            Ok(guard) => messages.push(PyBytes::new(py, &guard)),
            Err(e) => return e,
        }
    }
    RecvError::Empty
}

#[pymethods]
impl Receiver {
    /// Creates the channel `endpoint` and attaches to it as its receiver; the name is
    /// removed when the receiver is closed. `config` defaults to `ferry.Config()`.
    #[staticmethod]
    #[pyo3(signature = (endpoint, config = None))]
    fn create(py: Python<'_>, endpoint: &str, config: Option<&Bound<'_, Config>>) -> PyResult<Self> {
        let config = Config::or_default(py, config)?;
        ferry::Receiver::create(endpoint, &config).map(Self::wrap).map_err(|e| errors::attach(py, e))
    }

    /// Opens the existing MPMC channel `endpoint` as one more receiver. With `config`,
    /// fails (`ferry.Incompatible`) unless the channel has that shape. With `timeout`
    /// (seconds), waits that long for the channel to be created (`ferry.Timeout`).
    #[staticmethod]
    #[pyo3(signature = (endpoint, config = None, *, timeout = None))]
    fn open(
        py: Python<'_>,
        endpoint: &str,
        config: Option<&Bound<'_, Config>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let config = config.map(|config| config.get().to_ferry());
        open::within(py, endpoint, timeout, || match &config {
            Some(config) => ferry::Receiver::open_expecting(endpoint, config),
            None => ferry::Receiver::open(endpoint),
        })
        .map(Self::wrap)
    }

    /// Attaches another receiver to the same MPMC channel.
    fn try_clone(&self, py: Python<'_>) -> PyResult<Self> {
        self.with(py, |receiver| receiver.try_clone().map(Self::wrap).map_err(|e| errors::attach(py, e)))
    }

    /// Waits for the next message (at most `timeout` seconds; `None`: forever) and
    /// returns a copy of it. Raises `Timeout`, `Disconnected`, `Corrupt`.
    #[pyo3(signature = (timeout = None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let patience = Patience::from_timeout(timeout)?;
        self.recv_bytes(py, patience)
    }

    /// The receiver's pollable file descriptor, for `select`, `selectors` or asyncio's
    /// `add_reader`: readable when a message arrives or every sender has gone. Once it
    /// is readable, receive with the `try_` calls until `Empty` (that re-arms it) before
    /// waiting on it again; do so once before the first wait too. It stays the same
    /// until `close()`. Raises while a `RecvGuard` is held.
    fn fileno(&self, py: Python<'_>) -> PyResult<c_int> {
        self.with(py, |receiver| Ok(std::os::fd::AsRawFd::as_raw_fd(receiver)))
    }

    /// Returns a copy of the next message if one is waiting now; raises `Empty` if not.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.recv_bytes(py, Patience::Try)
    }

    /// Waits for the next message and copies it into `buffer` (a writable bytes-like
    /// object), returning its length. Raises `BufferTooSmall` (the message stays in the
    /// channel; the exception's `needed` is its length), `Timeout`, `Disconnected`.
    #[pyo3(signature = (buffer, timeout = None))]
    fn recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<usize> {
        let patience = Patience::from_timeout(timeout)?;
        self.recv_into_with(py, buffer, patience)
    }

    /// Copies the next message into `buffer` if one is waiting now; raises `Empty` if not.
    fn try_recv_into(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.recv_into_with(py, buffer, Patience::Try)
    }

    /// Waits for the next message (at most `timeout` seconds; `None`: forever), then
    /// takes every message waiting, up to `max_messages`, and returns copies of them in
    /// a list (never empty). The slots of one call go back to the senders together (on
    /// a shared-memory SPSC ring, with one store and at most one wake-up), as Rust's
    /// `Receiver::batch` does. Raises `Timeout`, `Disconnected` (only when no message is
    /// taken), `Corrupt`; an error after the first message ends the list, and the next
    /// call reports it.
    #[pyo3(signature = (max_messages, timeout = None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let patience = Patience::from_timeout(timeout)?;
        self.recv_many_with(py, max_messages, patience)
    }

    /// Copies of the messages waiting now, up to `max_messages`, as `recv_many` takes
    /// them; raises `Empty` if none is waiting.
    fn try_recv_many<'py>(&self, py: Python<'py>, max_messages: usize) -> PyResult<Bound<'py, PyList>> {
        self.recv_many_with(py, max_messages, Patience::Try)
    }

    /// Waits for the next message and returns a `RecvGuard` that reads it in place;
    /// releasing the guard (leaving its `with` block) hands the slot back. Until then,
    /// other calls on this receiver raise `Busy`.
    #[pyo3(signature = (timeout = None))]
    fn recv_guard(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<RecvGuard> {
        let patience = Patience::from_timeout(timeout)?;
        Self::guard_with(slf, patience)
    }

    /// Returns a `RecvGuard` on the next message if one is waiting now; raises `Empty` if not.
    fn try_recv_guard(slf: &Bound<'_, Self>) -> PyResult<RecvGuard> {
        Self::guard_with(slf, Patience::Try)
    }

    /// Messages waiting in a shared-memory ring (a snapshot, as `queue.Queue.qsize`;
    /// always 0 on sockets and pipes, which cannot tell: use `try_recv` there).
    fn qsize(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |receiver| Ok(receiver.len()))
    }

    /// Whether no message is waiting (see `qsize`).
    fn empty(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |receiver| Ok(receiver.is_empty()))
    }

    /// Whether the ring is full (always false on sockets and pipes).
    fn full(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |receiver| Ok(receiver.is_full()))
    }

    /// Whether every sender has gone. Messages they sent may still be waiting: receive
    /// until `Disconnected`. Consumes nothing.
    fn is_disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |receiver| Ok(receiver.is_disconnected()))
    }

    /// An iterator over the messages waiting now (copies, as `recv()`): it ends when the
    /// channel is empty or disconnected, without waiting.
    fn try_iter(slf: &Bound<'_, Self>) -> TryIter {
        TryIter { receiver: slf.clone().unbind() }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Iterates over the messages read in place: each `RecvGuard` is released when the
    /// next one is asked for (so one call per message, as `for message in receiver`
    /// costs), and the iteration ends at disconnection. A memoryview or array of the
    /// previous message still alive then raises `BufferError`, and the next call tries
    /// to release it again.
    fn guards(slf: &Bound<'_, Self>) -> Guards {
        Guards { receiver: slf.clone().unbind(), previous: None }
    }

    /// The next message (`recv()`); the iteration ends once the senders have gone and
    /// every message they sent has been received.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.recv_bytes(py, Patience::Forever) {
            Err(e) if e.is_instance(py, errors::class(py, "Disconnected")?.as_any()) => {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }

    /// The largest message, in bytes.
    #[getter]
    fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// How many messages a shared-memory ring of slots holds at once; 0 on a channel
    /// sized in bytes (see `capacity_bytes`), on sockets and pipes.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes of a shared-memory channel sized in bytes (`Config(capacity_bytes=...)`);
    /// 0 on a ring of slots, on sockets and pipes.
    #[getter]
    fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Why an `auto:` endpoint fell back from shared memory to a Unix socket, if it did.
    #[getter]
    fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(!self.lock(py)?.is_open())
    }

    /// Detaches from the channel (the creator's close also removes its name). If a
    /// guard is still held, the receiver goes when the guard is released. Closing twice
    /// does nothing; other calls on a closed receiver raise `Closed`.
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

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = match self.inner.try_lock() {
            Ok(inner) if !inner.is_open() => "closed",
            Ok(inner) if inner.is_lent() => "guard held",
            Ok(_) => "open",
            Err(_) => "in use",
        };
        let _ = py;
        format!("<ferry.Receiver slot_size={} capacity={} {state}>", self.slot_size, self.capacity)
    }
}

impl Receiver {
    fn recv_bytes<'py>(&self, py: Python<'py>, patience: Patience) -> PyResult<Bound<'py, PyBytes>> {
        self.with(py, |receiver| {
            match copy_out(py, receiver) {
                Err(RecvError::Empty) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::recv(py, e)),
            }
            // Nothing yet: wait without the GIL. What arrives is copied into a vector
            // there (the message's bytes only), then into `bytes` with the GIL.
            let message = wait::in_slices(py, patience, is_timeout, |slice| {
                receiver.recv_timeout(slice).map(|guard| guard.to_vec())
            })?;
            message.map(|message| PyBytes::new(py, &message)).map_err(|e| errors::recv(py, e))
        })
    }

    fn recv_many_with<'py>(
        &self,
        py: Python<'py>,
        max_messages: usize,
        patience: Patience,
    ) -> PyResult<Bound<'py, PyList>> {
        if max_messages == 0 {
            return Err(PyValueError::new_err("max_messages must be at least 1"));
        }
        self.with(py, |receiver| {
            let mut messages = Vec::new();
            let stop = copy_batch(py, receiver, &mut messages, max_messages);
            if messages.is_empty() {
                match stop {
                    RecvError::Empty if patience != Patience::Try => {}
                    other => return Err(errors::recv(py, other)),
                }
                // Nothing yet: wait without the GIL for one, as `recv` does, then take
                // what arrived with it.
                let first = wait::in_slices(py, patience, is_timeout, |slice| {
                    receiver.recv_timeout(slice).map(|guard| guard.to_vec())
                })?
                .map_err(|e| errors::recv(py, e))?;
                messages.push(PyBytes::new(py, &first));
                copy_batch(py, receiver, &mut messages, max_messages);
            }
            PyList::new(py, messages)
        })
    }

    fn recv_into_with(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, patience: Patience) -> PyResult<usize> {
        // A `bytearray` with a message waiting: written with the GIL held, without
        // exporting its buffer (an export and its release cost more than the copy).
        if let Ok(array) = buffer.cast_exact::<PyByteArray>() {
            let first = self.with(py, |receiver| {
                // SAFETY: the GIL is held and no Python code runs while the slice lives
                // (the receive runs none), so the bytearray is neither resized nor freed.
                Ok(receiver.try_recv_into(unsafe { array.as_bytes_mut() }))
            })?;
            match first {
                Err(RecvError::Empty) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::recv(py, e)),
            }
        }
        let mut buffer = Borrowed::new(buffer, true)?;
        self.with(py, |receiver| {
            let buf = buffer.as_mut_slice();
            match receiver.try_recv_into(buf) {
                Err(RecvError::Empty) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::recv(py, e)),
            }
            // Written without the GIL, as `socket.recv_into` does: the export keeps the
            // buffer alive and its size fixed meanwhile.
            wait::in_slices(py, patience, is_timeout, |slice| receiver.recv_into_timeout(buf, slice))?
                .map_err(|e| errors::recv(py, e))
        })
    }

    fn guard_with(slf: &Bound<'_, Self>, patience: Patience) -> PyResult<RecvGuard> {
        let mut inner = slf.get().lock(slf.py())?;
        Self::lend_guard(slf, &mut inner, patience)
    }

    /// `Guards.__next__`: hands `previous`'s slot back (unless it was released already)
    /// and lends the next message, forever patient, under one lock of the handle.
    fn next_guard(slf: &Bound<'_, Self>, previous: Option<&RecvGuard>) -> PyResult<RecvGuard> {
        let mut inner = slf.get().lock(slf.py())?;
        if let Some(previous) = previous {
            if previous.mark_released()? {
                Self::hand_back(&mut inner);
            }
        }
        Self::lend_guard(slf, &mut inner, Patience::Forever)
    }

    /// Receives the next message into the borrow `inner` keeps, as `patience` allows, and
    /// returns the guard that reads it.
    fn lend_guard(slf: &Bound<'_, Self>, inner: &mut Inner, patience: Patience) -> PyResult<RecvGuard> {
        let py = slf.py();
        let lent = inner.lend(|mut lending| {
            // SAFETY: the first reference made from `lending`.
            match unsafe { lending.try_once() }.try_recv() {
                Err(RecvError::Empty) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::recv(py, e)),
            }
            let waited = wait::in_slices(py, patience, is_timeout, |slice| {
                // SAFETY: the try before this one returned an error, which borrows
                // nothing: no reference made earlier from `lending` is alive.
                unsafe { lending.try_once() }.recv_timeout(slice)
            })?;
            waited.map_err(|e| errors::recv(py, e))
        });
        match lent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(refusal) => return Err(errors::refused(py, refusal, WHAT, LENT_TO)),
        }
        Ok(RecvGuard::new(slf, inner.lent().expect("lend kept the guard")))
    }
}

impl ReadsInPlace for Receiver {
    fn finish_guard(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::hand_back(&mut inner);
    }
}

/// The iterator `Receiver.guards()` returns.
#[pyclass(module = "ferry")]
pub(crate) struct Guards {
    receiver: Py<Receiver>,
    /// The guard handed out last, released before the next is made.
    previous: Option<Py<RecvGuard>>,
}

#[pymethods]
impl Guards {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<RecvGuard>> {
        let next = Receiver::next_guard(self.receiver.bind(py), self.previous.as_ref().map(Py::get));
        // A previous guard still exported (`BufferError`) stays the one to release.
        if self.previous.as_ref().is_some_and(|previous| previous.get().released()) {
            self.previous = None;
        }
        match next {
            Ok(guard) => {
                let guard = Py::new(py, guard)?;
                self.previous = Some(guard.clone_ref(py));
                Ok(guard)
            }
            Err(e) if e.is_instance(py, errors::class(py, "Disconnected")?.as_any()) => {
                Err(PyStopIteration::new_err(()))
            }
            Err(e) => Err(e),
        }
    }
}

/// The iterator `Receiver.try_iter()` returns.
#[pyclass(module = "ferry")]
pub(crate) struct TryIter {
    receiver: Py<Receiver>,
}

#[pymethods]
impl TryIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.receiver.bind(py).get().recv_bytes(py, Patience::Try) {
            Err(e)
                if e.is_instance(py, errors::class(py, "Empty")?.as_any())
                    || e.is_instance(py, errors::class(py, "Disconnected")?.as_any()) =>
            {
                Err(PyStopIteration::new_err(()))
            }
            other => other,
        }
    }
}

fn is_timeout(e: &RecvError) -> bool {
    *e == RecvError::Timeout
}
