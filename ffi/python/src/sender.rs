//! `ferry.Sender`, and `ferry.Loan`, a slot borrowed for writing in place.
//!
//! A loan is a writable buffer over the slot: `loan[:n] = data`,
//! `memoryview(loan)`, `numpy.frombuffer(loan, dtype)` write the shared memory itself;
//! `loan.commit(n)` publishes the first `n` bytes. As with `RecvGuard`, an exported
//! buffer cannot be revoked, so a loan counts its exports and refuses to commit or
//! cancel while one is alive (`BufferError`): after a commit the slot belongs to the
//! receiver, and a view still writing into it would corrupt its message.

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::SendError;
use pyo3::{
    exceptions::{PyBufferError, PyIndexError, PyTypeError, PyValueError},
    ffi,
    prelude::*,
    types::PySlice,
};

use crate::{
    buffer,
    config::Config,
    errors, handle,
    lender::Lender,
    open,
    wait::{self, Patience},
};

type Inner = Lender<ferry::Sender, ferry::Loan<'static>>;

/// The sending end of a channel.
///
/// `Sender.open(endpoint)` attaches to a channel a receiver created (`timeout=` waits
/// for it to be created); `Sender.create(endpoint, config)` makes an MPMC channel on the
/// sending side. `send(data)` copies a bytes-like object in; `loan()` lends a slot to
/// write in place. Every send has a blocking form, a `try_` form that never waits
/// (`ferry.Full`), and a `timeout=` in seconds (`ferry.Timeout`); a message larger
/// than a slot raises `ferry.TooLarge`; a gone receiver, `ferry.Disconnected`. A `with`
/// block closes the sender. One thread uses a sender at a time.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct Sender {
    inner: Mutex<Inner>,
    /// The largest message, in bytes.
    slot_size: usize,
    /// Slots of a shared-memory ring; 0 on sockets and pipes.
    capacity: usize,
    /// Why `auto:` fell back from shared memory, if it did.
    fallback: Option<String>,
}

const WHAT: &str = "sender";
const LENT_TO: &str = "Loan (a slot lent for writing)";

impl Sender {
    pub(crate) fn wrap(sender: ferry::Sender) -> Self {
        Self {
            slot_size: sender.slot_size(),
            capacity: sender.capacity(),
            fallback: sender.fallback_reason().map(str::to_owned),
            inner: Mutex::new(Lender::new(sender)),
        }
    }

    /// Locks the handle for one call; another thread waiting in a call holds it.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, Inner>> {
        handle::lock(py, &self.inner, WHAT)
    }

    /// Runs `f` on the sender, unless it is closed or a loan holds it.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut ferry::Sender) -> PyResult<R>) -> PyResult<R> {
        let mut inner = self.lock(py)?;
        let sender = inner.get().map_err(|refusal| errors::refused(py, refusal, WHAT, LENT_TO))?;
        f(sender)
    }

    /// Finishes the loan Python held: commits `len` bytes, or cancels it (`None`); frees
    /// the sender if `close` waited for it.
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

    fn send_with(&self, py: Python<'_>, data: &Bound<'_, PyAny>, patience: Patience) -> PyResult<()> {
        self.with(py, |sender| {
            let first = buffer::with_bytes(data, |bytes| match sender.try_send(bytes) {
                Err(SendError::Full(_)) if patience != Patience::Try => Ok(Some(bytes.to_vec())),
                other => other.map(|()| None).map_err(|e| errors::send(py, e)),
            })?;
            // Full: wait without the GIL, with a copy of the message (the caller's
            // buffer is not ours to read while other threads run).
            let Some(message) = first else { return Ok(()) };
            wait::in_slices(
                py,
                patience,
                |e| matches!(e, SendError::Timeout(_)),
                |slice| sender.send_timeout(&message, slice),
            )?
            .map_err(|e| errors::send(py, e))
        })
    }

    /// Lends `size` bytes (`None`: a whole slot, the largest message) as `patience` allows.
    fn loan_with(slf: &Bound<'_, Self>, patience: Patience, size: Option<usize>) -> PyResult<Loan> {
        let py = slf.py();
        let this = slf.get();
        let mut inner = this.lock(py)?;
        let lent = inner.lend(|mut lending| {
            // SAFETY: the first reference made from `lending`.
            let sender = unsafe { lending.try_once() };
            let first = match size {
                None => sender.try_loan(),
                Some(n) => sender.try_loan_bytes(n),
            };
            match first {
                Err(SendError::Full(())) if patience != Patience::Try => {}
                other => return other.map_err(|e| errors::send(py, e)),
            }
            let waited = wait::in_slices(
                py,
                patience,
                |e| matches!(e, SendError::Timeout(())),
                |slice| {
                    // SAFETY: the try before this one returned an error, which borrows
                    // nothing: no reference made earlier from `lending` is alive.
                    let sender = unsafe { lending.try_once() };
                    match size {
                        None => sender.loan_timeout(slice),
                        Some(n) => sender.loan_bytes_timeout(n, slice),
                    }
                },
            )?;
            waited.map_err(|e| errors::send(py, e))
        });
        match lent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(refusal) => return Err(errors::refused(py, refusal, WHAT, LENT_TO)),
        }
        let loan = inner.lent().expect("lend kept the loan");
        let (ptr, len) = (loan.as_mut_ptr() as usize, loan.len());
        Ok(Loan { sender: slf.clone().unbind(), ptr, len, exports: 0, done: false })
    }
}

#[pymethods]
impl Sender {
    /// Creates the shared-memory channel `endpoint` (`"NAME"`, `"shm:NAME"`,
    /// `"auto:NAME"`) and attaches to it as a sender: for an MPMC channel whose
    /// receivers open it. The name is removed when this sender is closed.
    #[staticmethod]
    #[pyo3(signature = (endpoint, config = None))]
    fn create(py: Python<'_>, endpoint: &str, config: Option<&Bound<'_, Config>>) -> PyResult<Self> {
        let config = Config::or_default(py, config)?;
        ferry::Sender::create(endpoint, &config).map(Self::wrap).map_err(|e| errors::attach(py, e))
    }

    /// Opens the existing channel `endpoint` as a sender, whatever its shape; with
    /// `config`, fails (`ferry.Incompatible`) unless the channel has that shape. With
    /// `timeout` (seconds), waits that long for the channel to be created, raising
    /// `ferry.Timeout` if it is not; without, raises `ferry.NotFound` at once.
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
            Some(config) => ferry::Sender::open_expecting(endpoint, config),
            None => ferry::Sender::open(endpoint),
        })
        .map(Self::wrap)
    }

    /// Attaches another sender to the same channel (MPMC shared memory, or another
    /// connection to a Unix socket).
    fn try_clone(&self, py: Python<'_>) -> PyResult<Self> {
        self.with(py, |sender| sender.try_clone().map(Self::wrap).map_err(|e| errors::attach(py, e)))
    }

    /// Copies `data` (any bytes-like object) into the channel, waiting while it is full
    /// (at most `timeout` seconds; `None`: forever). Raises `TooLarge`, `Timeout`,
    /// `Disconnected`, `Corrupt`.
    #[pyo3(signature = (data, timeout = None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let patience = Patience::from_timeout(timeout)?;
        self.send_with(py, data, patience)
    }

    /// Copies `data` into the channel if there is room now; raises `Full` if not.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.send_with(py, data, Patience::Try)
    }

    /// Lends a free slot to write a message into, waiting while the channel is full.
    /// `loan.commit(n)` sends its first `n` bytes; leaving its `with` block without a
    /// commit sends nothing. Until then, other calls on this sender raise `Busy`. With
    /// `size`, lends exactly that many bytes (at most the largest message): on a channel
    /// sized in bytes (`Config(capacity_bytes=...)`) the message then takes only the
    /// room it needs.
    #[pyo3(signature = (timeout = None, *, size = None))]
    fn loan(slf: &Bound<'_, Self>, timeout: Option<f64>, size: Option<usize>) -> PyResult<Loan> {
        let patience = Patience::from_timeout(timeout)?;
        Self::loan_with(slf, patience, size)
    }

    /// Lends a free slot (or `size` bytes) if there is room now; raises `Full` if not.
    #[pyo3(signature = (*, size = None))]
    fn try_loan(slf: &Bound<'_, Self>, size: Option<usize>) -> PyResult<Loan> {
        Self::loan_with(slf, Patience::Try, size)
    }

    /// The sender's pollable file descriptor: readable when a full channel gets room,
    /// or every receiver has gone. Once it is readable, send with the `try_` calls until
    /// `Full` (that re-arms it) before waiting on it again. It stays the same until
    /// `close()`. Raises while a `Loan` is held.
    fn fileno(&self, py: Python<'_>) -> PyResult<c_int> {
        self.with(py, |sender| Ok(std::os::fd::AsRawFd::as_raw_fd(sender)))
    }

    /// Messages sent and not yet received (a snapshot; 0 on sockets and pipes).
    fn in_flight(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |sender| sender.in_flight().map_err(|e| errors::recv(py, e)))
    }

    /// Messages in a shared-memory ring not yet taken by a receiver (a snapshot, as
    /// `queue.Queue.qsize`; 0 on sockets and pipes).
    fn qsize(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |sender| Ok(sender.len()))
    }

    /// Whether the ring holds no message (see `qsize`).
    fn empty(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |sender| Ok(sender.is_empty()))
    }

    /// Whether the ring is full: a `send` would wait (always false on sockets and pipes).
    fn full(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |sender| Ok(sender.is_full()))
    }

    /// Whether every receiver has gone: a send would raise `Disconnected`.
    fn is_disconnected(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |sender| Ok(sender.is_disconnected()))
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

    /// Detaches from the channel (receivers see `Disconnected` once they have every
    /// message sent). If a loan is still held, the sender goes when the loan is
    /// finished. Closing twice does nothing; other calls raise `Closed`.
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
        format!("<ferry.Sender slot_size={} capacity={} {state}>", self.slot_size, self.capacity)
    }
}

/// A slot lent for writing: a writable buffer over it, until committed or cancelled.
///
/// `with sender.loan() as loan: loan[:n] = data; loan.commit(n)`. Also, without a
/// copy: `memoryview(loan)`, `numpy.frombuffer(loan, dtype)` (writable),
/// `struct.pack_into(fmt, loan, 0, ...)`. `len(loan)` is the slot size. Leaving the
/// block without a commit cancels the loan (nothing is sent). `commit` and `cancel` raise
/// `BufferError` while a memoryview or array made from the loan is alive.
#[pyclass(module = "ferry")]
pub(crate) struct Loan {
    /// The sender the slot came from (kept alive while the loan is).
    sender: Py<Sender>,
    /// The slot: `len` writable bytes at `ptr`, valid until the loan is finished (the
    /// sender keeps its `Loan<'static>` until then, and is not freed before).
    ptr: usize,
    len: usize,
    /// Buffers exported and not yet released.
    exports: usize,
    /// Whether the loan was committed or cancelled.
    done: bool,
}

impl Loan {
    fn slot(&mut self) -> PyResult<&mut [u8]> {
        if self.done {
            return Err(PyBufferError::new_err("the loan was committed or cancelled: loan another slot"));
        }
        // SAFETY: not done, so the sender still holds the loan this pointer and length
        // came from; `&mut self` (PyO3's borrow of this object) makes this the only
        // slice of it we hand out; exported views may alias it, as a memoryview of a
        // bytearray does, and Python code runs one thread at a time under the GIL.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len) })
    }

    fn finish(&mut self, len: Option<usize>) -> PyResult<()> {
        if self.done {
            return Err(PyBufferError::new_err("the loan was committed or cancelled already"));
        }
        if self.exports > 0 {
            return Err(PyBufferError::new_err(format!(
                "{} memoryview(s) or array(s) made from this loan are still alive: release or delete them first                  (the slot stays lent until then)",
                self.exports
            )));
        }
        self.done = true;
        self.sender.get().finish_loan(len);
        Ok(())
    }
}

#[pymethods]
impl Loan {
    /// Sends the first `length` bytes of the slot. Raises `ValueError` if `length` is
    /// larger than the slot, `BufferError` while a view of the loan is alive or if it
    /// was finished already.
    fn commit(&mut self, length: usize) -> PyResult<()> {
        if length > self.len {
            return Err(PyValueError::new_err(format!("committed {length} bytes into a slot of {} bytes", self.len)));
        }
        self.finish(Some(length))
    }

    /// Gives the slot back without sending anything.
    fn cancel(&mut self) -> PyResult<()> {
        self.finish(None)
    }

    /// Whether the loan was committed or cancelled.
    #[getter]
    fn done(&self) -> bool {
        self.done
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _type: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if !self.done {
            self.finish(None)?;
        }
        Ok(false)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// `loan[i] = byte`, or `loan[a:b] = data` (a bytes-like object of exactly `b - a`
    /// bytes; a step is allowed).
    fn __setitem__(&mut self, index: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let slot = self.slot()?;
        if let Ok(slice) = index.cast::<PySlice>() {
            let range = slice.indices(slot.len() as isize)?;
            return buffer::with_bytes(value, |data| {
                if data.len() != range.slicelength {
                    return Err(PyValueError::new_err(format!(
                        "cannot assign {} bytes to a slice of {} bytes",
                        data.len(),
                        range.slicelength
                    )));
                }
                if range.step == 1 {
                    slot[range.start as usize..range.stop as usize].copy_from_slice(data);
                } else {
                    for (i, byte) in data.iter().enumerate() {
                        slot[(range.start + i as isize * range.step) as usize] = *byte;
                    }
                }
                Ok(())
            });
        }
        let i: isize = index.extract().map_err(|_| PyTypeError::new_err("loan indices must be integers or slices"))?;
        let byte: u8 = value.extract().map_err(|_| PyValueError::new_err("a byte must be an integer in 0..=255"))?;
        let at = if i < 0 { i + slot.len() as isize } else { i };
        let place = usize::try_from(at)
            .ok()
            .and_then(|at| slot.get_mut(at))
            .ok_or_else(|| PyIndexError::new_err("loan index out of range"))?;
        *place = byte;
        Ok(())
    }

    /// # Safety
    ///
    /// Called by CPython with a `Py_buffer` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let mut this = slf.borrow_mut();
        let slot = this.slot()?;
        let (ptr, len) = (slot.as_mut_ptr(), slot.len());
        // SAFETY: `view` is CPython's; the slot stays lent to this process until the
        // export is released: `commit` and `cancel` refuse while `exports` > 0, and the
        // export holds a reference to this loan, so it is not collected before.
        unsafe { buffer::export(slf.as_any(), view, ptr, len, false, flags)? };
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
        if self.done {
            "<ferry.Loan done>".to_owned()
        } else {
            format!("<ferry.Loan {} bytes>", self.len)
        }
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        // Collected unfinished: nothing exported is alive (each export holds a reference
        // to the loan), so the slot goes back, unsent.
        if !self.done {
            self.done = true;
            self.sender.get().finish_loan(None);
        }
    }
}
