//! `ferry.Receiver`, and `ferry.RecvGuard`, a message read in place.
//!
//! A guard is a read-only buffer over the slot (`memoryview(guard)`,
//! `numpy.frombuffer(guard)`, `struct.unpack_from(fmt, guard)` read the shared memory
//! itself). Python cannot revoke an exported buffer (a numpy array keeps the raw
//! pointer), so a guard counts its exports and refuses to release the slot while one is
//! alive: `release()` (and leaving its `with` block) raises `BufferError` until every
//! memoryview and array made from it is released or deleted. A guard collected by the
//! garbage collector has no exports left (each holds a reference to it), so its slot is
//! released then. The receiver is closed only once its guard is released: the mapping
//! outlives every view of it.

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::RecvError;
use pyo3::{
    exceptions::{PyBufferError, PyIndexError, PyStopIteration, PyTypeError},
    ffi,
    prelude::*,
    types::{PyBytes, PySlice},
};

use crate::{
    buffer::{self, Borrowed},
    config::Config,
    errors, handle,
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
    /// Slots of a shared-memory ring; 0 on sockets and pipes.
    capacity: usize,
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

    /// Drops the guard Python held (its slot goes back to the senders), and frees the
    /// receiver if `close` waited for it. Called with the GIL held, when no other call
    /// can be waiting on this receiver (none can start while a guard is lent).
    fn finish_guard(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(inner.take());
        inner.free_if_closing();
    }
}

/// The copy receive's fast path: a message waiting now, copied into `bytes` (only its
/// own bytes, not the slot's).
fn copy_out<'py>(py: Python<'py>, receiver: &mut ferry::Receiver) -> Result<Bound<'py, PyBytes>, RecvError> {
    receiver.try_recv().map(|guard| PyBytes::new(py, &guard))
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
    /// previous message still alive then raises `BufferError`.
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

    /// The number of slots of a shared-memory ring; 0 on sockets and pipes.
    #[getter]
    fn capacity(&self) -> usize {
        self.capacity
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

    fn recv_into_with(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>, patience: Patience) -> PyResult<usize> {
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
        let py = slf.py();
        let this = slf.get();
        let mut inner = this.lock(py)?;
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
        let guard = inner.lent().expect("lend kept the guard");
        let (ptr, len) = (guard.as_ptr() as usize, guard.len());
        Ok(RecvGuard { receiver: slf.clone().unbind(), ptr, len, exports: 0, released: false })
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
        if let Some(previous) = self.previous.take() {
            previous.bind(py).borrow_mut().release(py)?;
        }
        let receiver = self.receiver.bind(py);
        match Receiver::guard_with(receiver, Patience::Forever) {
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

/// A message read in place: a read-only buffer over its slot, until released.
///
/// `with receiver.recv_guard() as message:` binds the guard itself: `bytes(message)`,
/// `message[i]`, `message[a:b]` (copies), `len(message)`, and, without a copy,
/// `memoryview(message)`, `numpy.frombuffer(message, dtype)`,
/// `struct.unpack_from(fmt, message)`. Leaving the block releases the slot; it raises
/// `BufferError` (and keeps the slot) while a memoryview or array made from the guard
/// is still alive: release or delete those inside the block.
#[pyclass(module = "ferry")]
pub(crate) struct RecvGuard {
    /// The receiver the message came from (kept alive while the guard is).
    receiver: Py<Receiver>,
    /// The message: `len` bytes at `ptr`, valid until the guard is released (the
    /// receiver keeps its `RecvGuard<'static>` until then, and is not freed before).
    ptr: usize,
    len: usize,
    /// Buffers exported and not yet released.
    exports: usize,
    /// Whether the slot has been handed back.
    released: bool,
}

impl RecvGuard {
    fn bytes(&self) -> PyResult<&[u8]> {
        if self.released {
            return Err(PyBufferError::new_err("the message was released: receive another"));
        }
        // SAFETY: not released, so the receiver still holds the guard this pointer and
        // length came from, and the mapping or frame buffer behind them.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) })
    }
}

#[pymethods]
impl RecvGuard {
    /// Hands the slot back to the senders. Raises `BufferError` while a memoryview or
    /// array made from this guard is alive. Releasing twice does nothing.
    fn release(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.released {
            return Ok(());
        }
        if self.exports > 0 {
            return Err(PyBufferError::new_err(format!(
                "{} memoryview(s) or array(s) made from this message are still alive: release or delete them \
                 before releasing the message (the slot stays held until then)",
                self.exports
            )));
        }
        self.released = true;
        self.receiver.get().finish_guard();
        let _ = py;
        Ok(())
    }

    /// Whether the slot has been handed back.
    #[getter]
    fn released(&self) -> bool {
        self.released
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _type: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.release(py)?;
        Ok(false)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.bytes()?))
    }

    /// `guard[i]` is the byte at `i`; `guard[a:b]` a copy of those bytes.
    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let bytes = self.bytes()?;
        if let Ok(slice) = index.cast::<PySlice>() {
            let range = slice.indices(bytes.len() as isize)?;
            let picked: Vec<u8> =
                (0..range.slicelength).map(|i| bytes[(range.start + i as isize * range.step) as usize]).collect();
            return Ok(PyBytes::new(py, &picked).into_any().unbind());
        }
        let i: isize =
            index.extract().map_err(|_| PyTypeError::new_err("message indices must be integers or slices"))?;
        let at = if i < 0 { i + bytes.len() as isize } else { i };
        let byte = usize::try_from(at)
            .ok()
            .and_then(|at| bytes.get(at))
            .ok_or_else(|| PyIndexError::new_err("message index out of range"))?;
        Ok(byte.into_pyobject(py)?.into_any().unbind())
    }

    /// # Safety
    ///
    /// Called by CPython with a `Py_buffer` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let mut this = slf.borrow_mut();
        let ptr = this.bytes()?.as_ptr().cast_mut();
        let len = this.len;
        // SAFETY: `view` is CPython's; the message stays valid until the export is
        // released: `release` refuses while `exports` > 0, and the export holds a
        // reference to this guard, so it is not collected before. Read-only.
        unsafe { buffer::export(slf.as_any(), view, ptr, len, true, flags)? };
        this.exports += 1;
        Ok(())
    }

    /// # Safety
    ///
    /// Called by CPython for a view `__getbuffer__` filled.
    unsafe fn __releasebuffer__(&mut self, _view: *mut ffi::Py_buffer) {
        self.exports -= 1;
    }

    fn __repr__(&self) -> String {
        if self.released {
            "<ferry.RecvGuard released>".to_owned()
        } else {
            format!("<ferry.RecvGuard {} bytes>", self.len)
        }
    }
}

impl Drop for RecvGuard {
    fn drop(&mut self) {
        // Collected without a release: nothing exported is alive (each export holds a
        // reference to the guard), so the slot can go back.
        if !self.released {
            self.released = true;
            self.receiver.get().finish_guard();
        }
    }
}
