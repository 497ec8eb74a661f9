//! `ferry.Loan`: room lent for writing in place, by a `Sender` (a slot of a queue) or a
//! `Publisher` (a slot of a broadcast ring, or a record of one sized in bytes).
//!
//! A loan is a writable buffer over the room: `loan[:n] = data`, `memoryview(loan)`,
//! `numpy.frombuffer(loan, dtype)` write the shared memory itself; `loan.commit(n)`
//! publishes the first `n` bytes. As with `RecvGuard`, an exported buffer cannot be
//! revoked, so a loan counts its exports and refuses to commit or cancel while one is
//! alive (`BufferError`): after a commit the room belongs to the readers, and a view
//! still writing into it would corrupt their message.
//!
//! The endpoint that lent the room finishes it ([`Lends::finish_loan`]): the loan holds
//! it as a Python object, with the function that finishes a loan of that type, so this
//! file names neither endpoint.

use std::ffi::c_int;

use pyo3::{
    exceptions::{PyBufferError, PyIndexError, PyTypeError, PyValueError},
    ffi,
    prelude::*,
    pyclass::boolean_struct::True,
    types::PySlice,
    PyClass,
};

use crate::buffer;

/// An endpoint that lends room for a [`Loan`] and takes it back.
pub(crate) trait Lends: PyClass<Frozen = True> + Sync {
    /// Finishes the loan this endpoint lent: commits its first `len` bytes, or cancels
    /// it (`None`); frees the endpoint if `close` waited for the loan. Called once per
    /// loan, with the GIL held, when no view of the loan is alive.
    fn finish_loan(&self, len: Option<usize>);
}

/// `T::finish_loan` on `owner`, a `T`: how a loan `T` lent is finished.
fn finish_as<T: Lends>(owner: &Bound<'_, PyAny>, len: Option<usize>) {
    owner.cast::<T>().expect("a loan keeps the endpoint that lent it").get().finish_loan(len);
}

/// Room lent for writing: a writable buffer over it, until committed or cancelled.
///
/// `with sender.loan() as loan: loan[:n] = data; loan.commit(n)` (or `publisher.loan()`).
/// Also, without a copy: `memoryview(loan)`, `numpy.frombuffer(loan, dtype)` (writable),
/// `struct.pack_into(fmt, loan, 0, ...)`. `len(loan)` is the room lent: a whole slot, or
/// the `size=` asked for. Leaving the block without a commit cancels the loan (nothing is
/// sent). `commit` and `cancel` raise `BufferError` while a memoryview or array made from
/// the loan is alive.
#[pyclass(module = "ferry")]
pub(crate) struct Loan {
    /// The endpoint that lent the room, a `T: Lends` (kept alive while the loan is).
    owner: Py<PyAny>,
    /// `finish_as::<T>` for that `T`.
    finish_with: fn(&Bound<'_, PyAny>, Option<usize>),
    /// The room: `len` writable bytes at `ptr`, valid until the loan is finished (the
    /// endpoint keeps its Rust loan until then, and is not freed before).
    ptr: usize,
    len: usize,
    /// Buffers exported and not yet released.
    exports: usize,
    /// Whether the loan was committed or cancelled.
    done: bool,
}

impl Loan {
    /// The loan `owner` lent: the `room` it holds (as a `'static` borrow in its
    /// [`Lender`](crate::lender::Lender)) until it finishes the loan.
    pub(crate) fn new<T: Lends>(owner: &Bound<'_, T>, room: &mut [u8]) -> Self {
        Self {
            owner: owner.clone().into_any().unbind(),
            finish_with: finish_as::<T>,
            ptr: room.as_mut_ptr() as usize,
            len: room.len(),
            exports: 0,
            done: false,
        }
    }

    fn room(&mut self) -> PyResult<&mut [u8]> {
        if self.done {
            return Err(PyBufferError::new_err("the loan was committed or cancelled: take another loan"));
        }
        // SAFETY: not done, so the endpoint still holds the loan this pointer and length
        // came from; `&mut self` (PyO3's borrow of this object) makes this the only
        // slice of it we hand out; exported views may alias it, as a memoryview of a
        // bytearray does, and Python code runs one thread at a time under the GIL.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len) })
    }

    fn finish(&mut self, py: Python<'_>, len: Option<usize>) -> PyResult<()> {
        if self.done {
            return Err(PyBufferError::new_err("the loan was committed or cancelled already"));
        }
        if self.exports > 0 {
            return Err(PyBufferError::new_err(format!(
                "{} memoryview(s) or array(s) made from this loan are still alive: release or delete them first \
                 (the room stays lent until then)",
                self.exports
            )));
        }
        self.done = true;
        (self.finish_with)(self.owner.bind(py), len);
        Ok(())
    }
}

#[pymethods]
impl Loan {
    /// Sends (or publishes) the first `length` bytes of the loan. Raises `ValueError` if
    /// `length` is larger than the loan, `BufferError` while a view of the loan is alive
    /// or if it was finished already.
    fn commit(&mut self, py: Python<'_>, length: usize) -> PyResult<()> {
        if length > self.len {
            return Err(PyValueError::new_err(format!("committed {length} bytes into a loan of {} bytes", self.len)));
        }
        self.finish(py, Some(length))
    }

    /// Gives the room back without sending anything.
    fn cancel(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, None)
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
        py: Python<'_>,
        _type: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if !self.done {
            self.finish(py, None)?;
        }
        Ok(false)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// `loan[i] = byte`, or `loan[a:b] = data` (a bytes-like object of exactly `b - a`
    /// bytes; a step is allowed).
    fn __setitem__(&mut self, index: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let room = self.room()?;
        if let Ok(slice) = index.cast::<PySlice>() {
            let range = slice.indices(room.len() as isize)?;
            return buffer::with_bytes(value, |data| {
                if data.len() != range.slicelength {
                    return Err(PyValueError::new_err(format!(
                        "cannot assign {} bytes to a slice of {} bytes",
                        data.len(),
                        range.slicelength
                    )));
                }
                if range.step == 1 {
                    room[range.start as usize..range.stop as usize].copy_from_slice(data);
                } else {
                    for (i, byte) in data.iter().enumerate() {
                        room[(range.start + i as isize * range.step) as usize] = *byte;
                    }
                }
                Ok(())
            });
        }
        let i: isize = index.extract().map_err(|_| PyTypeError::new_err("loan indices must be integers or slices"))?;
        let byte: u8 = value.extract().map_err(|_| PyValueError::new_err("a byte must be an integer in 0..=255"))?;
        let at = if i < 0 { i + room.len() as isize } else { i };
        let place = usize::try_from(at)
            .ok()
            .and_then(|at| room.get_mut(at))
            .ok_or_else(|| PyIndexError::new_err("loan index out of range"))?;
        *place = byte;
        Ok(())
    }

    /// # Safety
    ///
    /// Called by CPython with a `Py_buffer` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let mut this = slf.borrow_mut();
        let room = this.room()?;
        let (ptr, len) = (room.as_mut_ptr(), room.len());
        // SAFETY: `view` is CPython's; the room stays lent to this process until the
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
        // to the loan), so the room goes back, unsent. A collected object is dropped
        // with the GIL held: `attach` only looks that up.
        if !self.done {
            self.done = true;
            Python::attach(|py| (self.finish_with)(self.owner.bind(py), None));
        }
    }
}
