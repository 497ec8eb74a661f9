//! `ferry.Sender`, the sending end of a queue; it lends slots as `ferry.Loan`s
//! (`loan.rs`) to write in place.

use std::{
    ffi::c_int,
    sync::{Mutex, MutexGuard},
};

use ferry::SendError;
use pyo3::prelude::*;

use crate::{
    buffer,
    config::Config,
    errors, handle,
    lender::Lender,
    loan::{Lends, Loan},
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
    /// Messages a shared-memory ring of slots holds at once; 0 on a channel sized in bytes, on sockets and pipes.
    capacity: usize,
    /// Bytes of a shared-memory channel sized in bytes; 0 elsewhere.
    capacity_bytes: usize,
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
            capacity_bytes: sender.capacity_bytes(),
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
        Ok(Loan::new(slf, inner.lent().expect("lend kept the loan")))
    }
}

impl Lends for Sender {
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
