//! ferry's Rust errors as the exceptions of `ferry.errors` (defined in Python, where a
//! class can have two bases: `ferry.Timeout` is also a `TimeoutError`, `ferry.NotFound`
//! a `FileNotFoundError`, the bad-input errors `ValueError`s).
//!
//! The messages are the core's, except where the core names a Rust call or setting:
//! those say `ferry.unlink(...)`, which is what a Python user can run, or the keyword
//! of `ferry.Config` that sets it.

use ferry::{AttachError, PublishError, RecvError, SendError, SubscriberError};
use pyo3::{
    prelude::*,
    sync::PyOnceLock,
    types::{PyModule, PyType},
    PyErrArguments,
};

use crate::lender::Refused;

/// The `ferry.errors` module, imported once (`ferry/__init__.py` imports it before the
/// extension, so it is there when the first error is raised).
static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The exception class `ferry.errors.<name>`.
pub(crate) fn class<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyType>> {
    ERRORS
        .get_or_try_init(py, || py.import("ferry.errors").map(Bound::unbind))
        .and_then(|module| module.bind(py).getattr(name))
        .and_then(|class| class.cast_into::<PyType>().map_err(PyErr::from))
}

/// An exception of class `ferry.errors.<name>` with `args`.
pub(crate) fn raise(py: Python<'_>, name: &'static str, args: impl PyErrArguments + 'static) -> PyErr {
    match class(py, name) {
        Ok(class) => PyErr::from_type(class, args),
        // `ferry.errors` is part of the package: only a broken install gets here.
        Err(e) => e,
    }
}

/// The exception for a failed create or open.
pub(crate) fn attach(py: Python<'_>, error: AttachError) -> PyErr {
    let class = match &error {
        AttachError::InvalidName { .. } => "InvalidName",
        AttachError::InvalidConfig(_) => "InvalidConfig",
        AttachError::InvalidEndpoint { .. } => "InvalidEndpoint",
        AttachError::Unsupported { .. } => "Unsupported",
        AttachError::AlreadyExists { .. } => "AlreadyExists",
        AttachError::NotFound { .. } => "NotFound",
        AttachError::PermissionDenied { .. } => "PermissionDenied",
        AttachError::RoleTaken { .. } => "RoleTaken",
        AttachError::BadMagic { .. }
        | AttachError::VersionMismatch { .. }
        | AttachError::CorruptHeader { .. }
        | AttachError::GeometryMismatch { .. }
        | AttachError::SizeMismatch { .. }
        | AttachError::NotInitialised { .. } => "Incompatible",
        _ => "AttachError",
    };
    raise(py, class, attach_message(&error))
}

/// The core's message, with each remedy that names a Rust function naming the Python one.
fn attach_message(error: &AttachError) -> String {
    match error {
        AttachError::AlreadyExists { name } => {
            format!("channel `{name}` already exists: open it instead, or remove it with ferry.unlink({name:?})")
        }
        AttachError::BadMagic { name, found } => {
            format!("`{name}` is not a ferry segment (magic {found:#018x}): remove it with ferry.unlink({name:?})")
        }
        AttachError::VersionMismatch { name, found, expected } => format!(
            "channel `{name}` was created by ferry layout v{found}, this is v{expected}: \
             remove it with ferry.unlink({name:?}) and create it again"
        ),
        // The core names its settings as Rust spells them; these are Python's keywords.
        AttachError::InvalidConfig(_) => {
            error.to_string().replace("Policy::Overwrite", "policy=\"overwrite\"").replace("max_message", "slot_size")
        }
        other => other.to_string(),
    }
}

/// The exception for a failed send or loan.
pub(crate) fn send<T>(py: Python<'_>, error: SendError<T>) -> PyErr {
    let message = error.to_string();
    match error {
        SendError::Full(_) => raise(py, "Full", message),
        SendError::Timeout(_) => raise(py, "Timeout", message),
        SendError::Disconnected(_) => raise(py, "Disconnected", message),
        SendError::TooLarge { len, max, .. } => raise(py, "TooLarge", (message, len, max)),
        SendError::Corrupt { .. } => raise(py, "Corrupt", message),
    }
}

/// The exception for a failed receive.
pub(crate) fn recv(py: Python<'_>, error: RecvError) -> PyErr {
    let message = error.to_string();
    match error {
        RecvError::Empty => raise(py, "Empty", message),
        RecvError::Timeout => raise(py, "Timeout", message),
        RecvError::Disconnected => raise(py, "Disconnected", message),
        RecvError::BufferTooSmall { needed } => raise(py, "BufferTooSmall", (message, needed)),
        RecvError::WrongSize { .. } | RecvError::Corrupt { .. } => raise(py, "Corrupt", message),
    }
}

/// The exception for a failed publish.
pub(crate) fn publish(py: Python<'_>, error: PublishError) -> PyErr {
    let message = error.to_string();
    match error {
        PublishError::Full => raise(py, "Full", message),
        PublishError::Timeout => raise(py, "Timeout", message),
        PublishError::TooLarge { len, max } => raise(py, "TooLarge", (message, len, max)),
        PublishError::Corrupt { .. } => raise(py, "Corrupt", message),
    }
}

/// The exception for a subscriber's failed receive.
pub(crate) fn subscribe(py: Python<'_>, error: SubscriberError) -> PyErr {
    let message = error.to_string();
    match error {
        SubscriberError::Empty => raise(py, "Empty", message),
        SubscriberError::Timeout => raise(py, "Timeout", message),
        SubscriberError::Disconnected => raise(py, "Disconnected", message),
        SubscriberError::Lagged(missed) => raise(py, "Lagged", (message, missed)),
        SubscriberError::BufferTooSmall { needed } => raise(py, "BufferTooSmall", (message, needed)),
        SubscriberError::Corrupt { .. } => raise(py, "Corrupt", message),
    }
}

/// The exception for a call on a handle that is closed, or lent out to a loan or guard.
pub(crate) fn refused(py: Python<'_>, refusal: Refused, what: &'static str, lent_to: &'static str) -> PyErr {
    match refusal {
        Refused::Closed => raise(py, "Closed", format!("the {what} is closed")),
        Refused::Lent => raise(
            py,
            "Busy",
            format!("the {what} has a {lent_to} outstanding: finish it (leave its `with` block) first"),
        ),
    }
}

/// The exception for a handle another thread is using (it released the GIL to wait).
pub(crate) fn in_use(py: Python<'_>, what: &'static str) -> PyErr {
    raise(py, "Busy", format!("the {what} is in use by another thread: a handle serves one thread at a time"))
}
