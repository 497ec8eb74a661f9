//! `ferry`: look at and clean up the shared-memory channels on this machine.
//!
//! ```text
//! ferry ls            list channels: kind, geometry, fill level, who is attached
//! ferry rm NAME...    remove channels (attached processes keep theirs)
//! ferry gc            remove channels whose creator and users have all died
//! ferry bench ARGS... measure ferry beside Unix sockets, pipes and the hardware limits:
//!                     runs the `ferry-bench` binary next to this one with ARGS
//!                     ([--tiny] [--json PATH|-]; see the `ferry-bench` crate in benches/)
//! ferry bridge ARGS   forward channels to Zenoh key expressions and back (built with
//!                     `--features bridge`; `ferry bridge --help` lists ARGS)
//! ```

use std::{os::unix::process::CommandExt, process::ExitCode};

use ferry::{ChannelInfo, Holders};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ls") if args.len() == 1 => ls(),
        Some("rm") if args.len() > 1 => rm(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("bridge") => bridge(&args[1..]),
        Some("gc") if args.len() == 1 => {
            for name in ferry::remove_stale() {
                println!("removed stale channel `{name}`");
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: ferry ls | ferry rm NAME... | ferry gc | ferry bench [--tiny] [--json PATH|-] | ferry bridge ARGS"
            );
            ExitCode::from(2)
        }
    }
}

/// The benchmark suite is the `ferry-bench` crate, which depends on this one, so this
/// binary cannot link it: `ferry bench` becomes the `ferry-bench` binary built next to
/// this one (same directory), with the same arguments, exit status and process id.
fn bench(args: &[String]) -> ExitCode {
    let path = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("ferry-bench"),
        Err(e) => {
            eprintln!("ferry bench: cannot find this executable's directory: {e}");
            return ExitCode::from(2);
        }
    };
    if !path.is_file() {
        eprintln!(
            "ferry bench: no benchmark binary at `{}`.\n\
             The benchmark suite is a crate of its own: build it next to this `ferry` with\n\
             `cargo build --release -p ferry-bench` (without `--release` for a debug `ferry`),\n\
             or run it directly: `cargo run --release -p ferry-bench -- [--tiny] [--json PATH|-]`",
            path.display()
        );
        return ExitCode::from(2);
    }
    // Only returns if the binary could not be started.
    let e = std::process::Command::new(&path).arg0("ferry-bench").args(args).exec();
    eprintln!("ferry bench: cannot run `{}`: {e}", path.display());
    ExitCode::from(2)
}

/// `ferry bridge`: see `ferry::bridge`.
#[cfg(feature = "bridge")]
fn bridge(args: &[String]) -> ExitCode {
    use ferry::bridge;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", bridge::USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match bridge::Options::parse(args.iter().cloned()) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("ferry bridge: {e}\n\n{}", bridge::USAGE);
            return ExitCode::from(2);
        }
    };
    bridge::init_logging();
    match bridge::run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Without the `bridge` feature: say how to get it.
#[cfg(not(feature = "bridge"))]
fn bridge(_: &[String]) -> ExitCode {
    eprintln!(
        "ferry bridge: this `ferry` was built without the bridge; install it with\n\
         `cargo install ferry --features bridge` (or build with `--features bridge`)"
    );
    ExitCode::from(2)
}

fn ls() -> ExitCode {
    let names = ferry::list();
    if names.is_empty() {
        println!("no channels");
    }
    for name in names {
        match ferry::inspect(&name) {
            Ok(info) => println!("{}", describe(&info)),
            Err(e) => println!("{name}: {e}"),
        }
    }
    ExitCode::SUCCESS
}

fn rm(names: &[String]) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for name in names {
        match ferry::unlink(name) {
            Ok(()) => println!("removed `{name}`"),
            Err(e) => {
                eprintln!("ferry rm: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

fn describe(info: &ChannelInfo) -> String {
    let process = |p: ferry::Process| format!("{} ({})", p.pid, if p.alive { "alive" } else { "dead" });
    let role = |h: &Holders| match h {
        Holders::Never => String::from("none yet"),
        Holders::Left => String::from("left"),
        Holders::Process(p) => process(*p),
        Holders::Processes(all) => all.iter().copied().map(process).collect::<Vec<_>>().join(", "),
    };
    format!(
        "{}: {:?} {} x {} B, {:?}, {}/{} in flight; creator {}; sender {}; receiver {}{}",
        info.name,
        info.kind,
        info.capacity,
        info.slot_size,
        info.signaling,
        info.in_flight,
        info.capacity,
        process(info.creator),
        role(&info.senders),
        role(&info.receivers),
        if info.stale { "; STALE" } else { "" }
    )
}
