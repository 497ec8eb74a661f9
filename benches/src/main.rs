//! `ferry-bench`: measure ferry beside Unix sockets, pipes and the hardware limits, in
//! one quick run; print one table, a verdict on every target and the cores each process
//! ran on.
//!
//! ```text
//! ferry-bench [--tiny] [--json PATH|-]
//! ```
//!
//! `cargo run --release -p ferry-bench -- [--tiny] [--json PATH|-]`, or `ferry bench`
//! once this binary is built next to `ferry` (`cargo build --release -p ferry-bench`).
//! See [`ferry_bench::report`].

use std::process::ExitCode;

fn main() -> ExitCode {
    // The measurements start this binary again for the other side of each one.
    ferry_bench::child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    ferry_bench::report::main(&args)
}
