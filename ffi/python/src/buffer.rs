//! Python's buffer protocol, both ways: borrowing the bytes of a caller's bytes-like
//! object (`bytes`, `bytearray`, `memoryview`, a numpy array), and exporting a slot
//! (`RecvGuard` and `Loan` are buffers over the slot they hold).

use std::{
    ffi::{c_int, c_void},
    mem::MaybeUninit,
    pin::Pin,
    slice,
};

use pyo3::{exceptions::PyBufferError, ffi, prelude::*, types::PyBytes};

/// A caller's contiguous bytes-like object, borrowed for one call.
pub(crate) struct Borrowed {
    /// The exported view; pinned because CPython's exporters may keep its address.
    view: Pin<Box<ffi::Py_buffer>>,
}

impl Borrowed {
    /// Borrows `obj`'s bytes (`writable`: for writing into). Raises `TypeError` for an
    /// object that is not bytes-like, `BufferError` for one that is not contiguous (or
    /// not writable when asked).
    pub(crate) fn new(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<Self> {
        let mut view = Box::pin(MaybeUninit::<ffi::Py_buffer>::uninit());
        let flags = if writable { ffi::PyBUF_WRITABLE } else { ffi::PyBUF_SIMPLE };
        // SAFETY: `obj` is a live object (we hold the GIL through `obj`); `view` points to
        // writable memory of the right size, which `PyObject_GetBuffer` fills on success.
        // PyBUF_SIMPLE asks for a contiguous block of bytes, whatever the item format.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) } == -1 {
            return Err(PyErr::fetch(obj.py()));
        }
        // SAFETY: `PyObject_GetBuffer` succeeded, so the view is initialised; the cast
        // keeps the pin (same layout, `MaybeUninit<T>` is `repr(transparent)`).
        let view = unsafe { Pin::from(Box::from_raw(Box::into_raw(Pin::into_inner_unchecked(view)).cast())) };
        Ok(Self { view })
    }

    /// The bytes. A writer must hold the GIL while it writes, or own what it wrote.
    pub(crate) fn as_slice(&self) -> &[u8] {
        let (buf, len) = (self.view.buf, self.view.len);
        if buf.is_null() || len <= 0 {
            return &[];
        }
        // SAFETY: a successful PyBUF_SIMPLE export describes `len` contiguous bytes at
        // `buf`, valid until `PyBuffer_Release` (in `drop`); the export also forbids the
        // exporter to resize or free them (bytearray refuses to resize while exported).
        unsafe { slice::from_raw_parts(buf.cast::<u8>(), len as usize) }
    }

    /// The bytes, for writing (only when borrowed `writable`).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        debug_assert_eq!(self.view.readonly, 0, "borrowed writable");
        let (buf, len) = (self.view.buf, self.view.len);
        if buf.is_null() || len <= 0 {
            return &mut [];
        }
        // SAFETY: as in `as_slice`; the export is writable (PyBUF_WRITABLE succeeded), and
        // `&mut self` makes this the only slice of it we hand out.
        unsafe { slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        Python::attach(|_| {
            // SAFETY: the view came from a successful `PyObject_GetBuffer` and is released
            // once, here, with the GIL held.
            unsafe { ffi::PyBuffer_Release(self.view.as_mut().get_unchecked_mut()) }
        });
    }
}

/// Calls `f` with `obj`'s bytes: a `bytes` object directly, anything else through the
/// buffer protocol.
pub(crate) fn with_bytes<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return f(bytes.as_bytes());
    }
    f(Borrowed::new(obj, false)?.as_slice())
}

/// Exports `len` bytes at `ptr` as the buffer of `owner`, into `view`, for
/// `__getbuffer__`. Raises `BufferError` if `flags` asks to write and `readonly`.
///
/// # Safety
///
/// `view` is the `Py_buffer` that `__getbuffer__` was given; `ptr..ptr + len` stays valid
/// (and, unless `readonly`, writable by this process alone) until `owner`'s
/// `__releasebuffer__` is called for this view.
pub(crate) unsafe fn export(
    owner: &Bound<'_, PyAny>,
    view: *mut ffi::Py_buffer,
    ptr: *mut u8,
    len: usize,
    readonly: bool,
    flags: c_int,
) -> PyResult<()> {
    if view.is_null() {
        return Err(PyBufferError::new_err("no Py_buffer to fill"));
    }
    let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("message too large to export"))?;
    // SAFETY: `view` is writable (the caller's contract); `PyBuffer_FillInfo` takes a new
    // reference to `owner`, released with the view, and checks `flags` against
    // `readonly`; the memory stays valid as the caller promises.
    let status = unsafe {
        ffi::PyBuffer_FillInfo(view, owner.as_ptr(), ptr.cast::<c_void>(), len, c_int::from(readonly), flags)
    };
    if status == -1 {
        return Err(PyErr::fetch(owner.py()));
    }
    Ok(())
}
