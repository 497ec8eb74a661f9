//! `ferry._ferry`, the extension module of the `ferry` Python package: ferry's Rust API
//! bound with PyO3, no C ABI in between.
//!
//! `python/ferry/__init__.py` re-exports it; `python/ferry/errors.py` defines the
//! exceptions it raises; `python/ferry/_ferry.pyi` types it.
//!
//! | file | what |
//! | --- | --- |
//! | `config.rs` | `Config` |
//! | `sender.rs` | `Sender`, the sending end of a queue |
//! | `receiver.rs` | `Receiver`, the receiving end of a queue |
//! | `broadcast.rs` | `Publisher` and `Subscriber`, the broadcast channel |
//! | `loan.rs` | `Loan`, room a sender or publisher lent for writing (a writable buffer) |
//! | `guard.rs` | `RecvGuard`, a message a receiver or subscriber reads in place (a read-only buffer) |
//! | `handle.rs` | a handle taken for one call, by one thread at a time |
//! | `lender.rs` | a handle and the one loan or guard Python holds of it |
//! | `buffer.rs` | the buffer protocol both ways: a caller's bytes-like object, a slot exported |
//! | `wait.rs` | `timeout=`, and waiting without the GIL in slices so Ctrl-C works |
//! | `open.rs` | opening a channel that may not exist yet (`open(..., timeout=)`) |
//! | `errors.rs` | ferry's errors as the exceptions of `ferry.errors` |

#![deny(unsafe_op_in_unsafe_fn)]

mod broadcast;
mod buffer;
mod config;
mod errors;
mod guard;
mod handle;
mod lender;
mod loan;
mod open;
mod receiver;
mod sender;
mod wait;

use pyo3::prelude::*;

/// Removes the shared-memory channel `name` (`"NAME"` or `"shm:NAME"`). Processes
/// attached to it keep using it; a new channel of that name can be created at once.
#[pyfunction]
fn unlink(py: Python<'_>, name: &str) -> PyResult<()> {
    ferry::unlink(name).map_err(|e| errors::attach(py, e))
}

/// A channel inside this process, on heap memory, for threads: `(sender, receiver)`.
#[pyfunction]
#[pyo3(signature = (config = None))]
fn in_memory(
    py: Python<'_>,
    config: Option<&Bound<'_, config::Config>>,
) -> PyResult<(sender::Sender, receiver::Receiver)> {
    let config = config::Config::or_default(py, config)?;
    let (tx, rx) = ferry::in_memory(&config).map_err(|e| errors::attach(py, e))?;
    Ok((sender::Sender::wrap(tx), receiver::Receiver::wrap(rx)))
}

/// The extension module.
#[pymodule]
fn _ferry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<config::Config>()?;
    m.add_class::<sender::Sender>()?;
    m.add_class::<loan::Loan>()?;
    m.add_class::<receiver::Receiver>()?;
    m.add_class::<guard::RecvGuard>()?;
    m.add_class::<receiver::Guards>()?;
    m.add_class::<receiver::TryIter>()?;
    m.add_class::<broadcast::Publisher>()?;
    m.add_class::<broadcast::Subscriber>()?;
    m.add_function(wrap_pyfunction!(unlink, m)?)?;
    m.add_function(wrap_pyfunction!(in_memory, m)?)?;
    m.add("LAYOUT_VERSION", ferry::LAYOUT_VERSION)?;
    m.add("MAX_SLOT_SIZE", ferry::MAX_SLOT_SIZE)?;
    m.add("MAX_CAPACITY", ferry::MAX_CAPACITY)?;
    m.add("SLOT_ALIGN", ferry::SLOT_ALIGN)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
