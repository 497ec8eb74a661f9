//! `ferry.RecvGuard`: a message read in place, from a `Receiver` (a queue) or a block-mode
//! `Subscriber` (a broadcast channel).
//!
//! A guard is a read-only buffer over the message (`memoryview(guard)`,
//! `numpy.frombuffer(guard)`, `struct.unpack_from(fmt, guard)` read the shared memory
//! itself). Python cannot revoke an exported buffer (a numpy array keeps the raw
//! pointer), so a guard counts its exports and refuses to release the message while one
//! is alive: `release()` (and leaving its `with` block) raises `BufferError` until every
//! memoryview and array made from it is released or deleted. A guard collected by the
//! garbage collector has no exports left (each holds a reference to it), so its message
//! is released then. The endpoint is closed only once its guard is released: the mapping
//! outlives every view of it.
//!
//! The endpoint the message came from takes it back ([`ReadsInPlace::finish_guard`]):
//! the guard holds it as a Python object, with the function that finishes a guard of
//! that type, so this file names neither endpoint.

use std::{ffi::c_int, sync::atomic::Ordering};

use pyo3::{
    exceptions::{PyBufferError, PyIndexError, PyTypeError},
    ffi,
    prelude::*,
    pyclass::boolean_struct::True,
    types::{PyBytes, PySlice},
    PyClass,
};

use crate::buffer;

/// An endpoint that lends a message to a [`RecvGuard`] and takes it back.
pub(crate) trait ReadsInPlace: PyClass<Frozen = True> + Sync {
    /// Takes back the message this endpoint lent (the reader moves past it), and frees
    /// the endpoint if `close` waited for it. Called once per guard, with the GIL held,
    /// when no view of the message is alive and no other call can be waiting on the
    /// endpoint (none can start while a guard is lent).
    fn finish_guard(&self);
}

/// `T::finish_guard` on `owner`, a `T`: how a guard `T` lent is finished.
fn finish_as<T: ReadsInPlace>(owner: &Bound<'_, PyAny>) {
    owner.cast::<T>().expect("a guard keeps the endpoint that lent it").get().finish_guard();
}

/// A message read in place: a read-only buffer over it, until released.
///
/// `with receiver.recv_guard() as message:` (or `subscriber.recv_guard()`) binds the guard itself: `bytes(message)`,
/// `message[i]`, `message[a:b]` (copies), `len(message)`, and, without a copy,
/// `memoryview(message)`, `numpy.frombuffer(message, dtype)`,
/// `struct.unpack_from(fmt, message)`. Leaving the block releases the message; it raises
/// `BufferError` (and keeps the message) while a memoryview or array made from the guard
/// is still alive: release or delete those inside the block.
///
/// Frozen (no borrow flag to take on each call): its one mutable word, `state`, is an
/// atomic that says whether the message went back and how many holds (exported buffers,
/// reads in progress) keep it.
#[pyclass(frozen, module = "ferry")]
pub(crate) struct RecvGuard {
    /// The endpoint the message came from, a `T: ReadsInPlace` (kept alive while the
    /// guard is).
    owner: Py<PyAny>,
    /// `finish_as::<T>` for that `T`.
    finish_with: fn(&Bound<'_, PyAny>),
    /// The message: `len` bytes at `ptr`, valid until the guard is released (the
    /// endpoint keeps its Rust guard until then, and is not freed before).
    ptr: usize,
    len: usize,
    /// [`RELEASED`] once the message has been handed back (never cleared), plus the number
    /// of holds: buffers exported and not yet released, and reads in progress. The
    /// message is handed back only by the swap from 0 (no hold) to `RELEASED`, and a hold
    /// is taken only while `RELEASED` is clear, so no read or export outlives the message.
    state: GuardState,
}

/// The type of [`RecvGuard::state`].
#[allow(
    clippy::disallowed_types,
    reason = "a Python object's word on this process's heap, never in shared memory: outside what loom models"
)]
type GuardState = std::sync::atomic::AtomicUsize;

/// The bit of [`RecvGuard::state`] that says the message was handed back.
const RELEASED: usize = 1 << (usize::BITS - 1);

/// A hold on a guard's message: it cannot be released while this lives.
struct Hold<'a>(&'a RecvGuard);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        // SYNC: Release; pairs with the Acquire of the compare-exchange in
        // `mark_released`: this hold's reads of the message happen before the hand-back.
        self.0.state.fetch_sub(1, Ordering::Release);
    }
}

impl RecvGuard {
    /// The guard over `message`, which `owner` holds (as a `'static` borrow in its
    /// [`Lender`](crate::lender::Lender)) until it finishes the guard.
    pub(crate) fn new<T: ReadsInPlace>(owner: &Bound<'_, T>, message: &[u8]) -> Self {
        Self {
            owner: owner.clone().into_any().unbind(),
            finish_with: finish_as::<T>,
            ptr: message.as_ptr() as usize,
            len: message.len(),
            state: GuardState::new(0),
        }
    }

    /// Takes a hold on the message; `BufferError` if it has been released.
    fn hold(&self) -> PyResult<Hold<'_>> {
        // SYNC: Relaxed; only the count and the bit matter here: the message's bytes were
        // made visible when the message was taken (the ring's Acquire), and the guard
        // reached this thread through Python, which orders that before this call.
        let state = self.state.fetch_add(1, Ordering::Relaxed);
        let hold = Hold(self);
        if state & RELEASED != 0 {
            return Err(PyBufferError::new_err("the message was released: receive another"));
        }
        Ok(hold)
    }

    /// The message's bytes, for as long as `_hold` lives.
    fn bytes<'a>(&'a self, _hold: &'a Hold<'a>) -> &'a [u8] {
        // SAFETY: a hold is alive and was taken while `RELEASED` was clear, so the message
        // cannot be handed back meanwhile (`mark_released` needs no hold): the endpoint
        // still keeps the guard this pointer and length came from, and the mapping or
        // frame buffer behind them.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// Marks the message released, if no hold keeps it: `Ok(true)` if this call did (the
    /// caller then hands the message back), `Ok(false)` if it was already, `BufferError`
    /// while a memoryview or array made from the guard is alive.
    pub(crate) fn mark_released(&self) -> PyResult<bool> {
        // SYNC: AcqRel; the Acquire pairs with the Release of each `Hold` drop and
        // `__releasebuffer__`: every read of the message happens before it goes back.
        match self.state.compare_exchange(0, RELEASED, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => Ok(true),
            Err(state) if state & RELEASED != 0 => Ok(false),
            Err(holds) => Err(PyBufferError::new_err(format!(
                "{holds} memoryview(s) or array(s) made from this message are still alive: release or delete them \
                 before releasing the message (the message stays held until then)"
            ))),
        }
    }
}

#[pymethods]
impl RecvGuard {
    /// Hands the message back: its slot to the senders, or the subscriber past it.
    /// Raises `BufferError` while a memoryview or array made from this guard is alive.
    /// Releasing twice does nothing.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.mark_released()? {
            (self.finish_with)(self.owner.bind(py));
        }
        Ok(())
    }

    /// Whether the message has been handed back.
    #[getter]
    pub(crate) fn released(&self) -> bool {
        self.state.load(Ordering::Relaxed) & RELEASED != 0
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
        self.release(py)?;
        Ok(false)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let hold = self.hold()?;
        Ok(PyBytes::new(py, self.bytes(&hold)))
    }

    /// `guard[i]` is the byte at `i`; `guard[a:b]` a copy of those bytes.
    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let hold = self.hold()?;
        let bytes = self.bytes(&hold);
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
        let this = slf.get();
        let hold = this.hold()?;
        let ptr = this.bytes(&hold).as_ptr().cast_mut();
        // SAFETY: `view` is CPython's; the message stays valid until the export is
        // released: the hold is kept for it (forgotten here, given back by
        // `__releasebuffer__`), so `release` refuses meanwhile, and the export holds a
        // reference to this guard, so it is not collected before. Read-only.
        unsafe { buffer::export(slf.as_any(), view, ptr, this.len, true, flags)? };
        std::mem::forget(hold);
        Ok(())
    }

    /// # Safety
    ///
    /// Called by CPython for a view `__getbuffer__` filled.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        // The hold `__getbuffer__` kept for this view.
        drop(Hold(self));
    }

    fn __repr__(&self) -> String {
        if self.released() {
            "<ferry.RecvGuard released>".to_owned()
        } else {
            format!("<ferry.RecvGuard {} bytes>", self.len)
        }
    }
}

impl Drop for RecvGuard {
    fn drop(&mut self) {
        // Collected without a release: nothing exported is alive (each export holds a
        // reference to the guard), so the message can go back. A collected object is
        // dropped with the GIL held: `attach` only looks that up.
        if *self.state.get_mut() & RELEASED == 0 {
            *self.state.get_mut() = RELEASED;
            Python::attach(|py| (self.finish_with)(self.owner.bind(py)));
        }
    }
}
