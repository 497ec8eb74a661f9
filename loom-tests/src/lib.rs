//! Model checks of ferry's concurrent algorithms, run with loom.
//!
//! The tests live in `tests/` and run only under the project cfg:
//! `RUSTFLAGS="--cfg ferry_loom" cargo test -p ferry-loom-tests --release`.
//! They exercise ferry's own ring code on heap memory through the `src/sync/` facade.
