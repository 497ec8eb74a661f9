//! `ferry`: look at and clean up the shared-memory channels on this machine.
//!
//! ```text
//! ferry ls            list channels: kind, geometry, fill level, who is attached (for a
//!                     broadcast channel its policy and each subscriber's lag), and the
//!                     owner where it is another user
//! ferry rm [--force] NAME...
//!                     remove channels; one a live process holds only with --force
//!                     (attached processes keep theirs)
//! ferry gc            remove channels whose creator and users have all died
//! ferry bench ARGS... measure ferry beside Unix sockets, pipes and the hardware limits:
//!                     runs the `ferry-bench` binary next to this one with ARGS
//!                     ([--tiny] [--json PATH|-]; see the `ferry-bench` crate in benches/)
//! ferry bridge ARGS   forward channels to Zenoh key expressions and back (built with
//!                     `--features bridge`; `ferry bridge --help` lists ARGS)
//! ```

use std::{ffi::OsString, os::unix::process::CommandExt, process::ExitCode};

use ferry::{ChannelInfo, Holders};

fn main() -> ExitCode {
    // Arguments as the OS gives them: a name that is not UTF-8 is an error to report,
    // not a panic.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let usage = || {
        eprintln!(
            "usage: ferry ls | ferry rm [--force] NAME... | ferry gc | ferry bench [--tiny] [--json PATH|-] | ferry bridge ARGS"
        );
        ExitCode::from(2)
    };
    match args.first().and_then(|a| a.to_str()) {
        Some("ls") if args.len() == 1 => ls(),
        Some("rm") if args.len() > 1 => rm(&args[1..]).unwrap_or_else(usage),
        Some("bench") => bench(&args[1..]),
        Some("bridge") => bridge(&args[1..]),
        Some("gc") if args.len() == 1 => {
            for name in ferry::remove_stale() {
                println!("removed stale channel `{name}`");
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}

/// The benchmark suite is the `ferry-bench` crate, which depends on this one, so this
/// binary cannot link it: `ferry bench` becomes the `ferry-bench` binary built next to
/// this one (same directory), with the same arguments, exit status and process id.
fn bench(args: &[OsString]) -> ExitCode {
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
fn bridge(args: &[OsString]) -> ExitCode {
    use ferry::bridge;
    let Some(args) = args.iter().map(|a| a.to_str().map(str::to_owned)).collect::<Option<Vec<String>>>() else {
        eprintln!("ferry bridge: an argument is not UTF-8");
        return ExitCode::from(2);
    };
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
fn bridge(_: &[OsString]) -> ExitCode {
    eprintln!(
        "ferry bridge: this `ferry` was built without the bridge; install it with\n\
         `cargo install ferry --features bridge` (or build with `--features bridge`)"
    );
    ExitCode::from(2)
}

fn ls() -> ExitCode {
    let names = ferry::list();
    let foreign = ferry::list_non_utf8();
    if names.is_empty() && foreign.is_empty() {
        println!("no channels");
    }
    // Each channel is read, never mapped, and without waiting: nothing another user does
    // to their own channel can crash or stall this listing.
    for name in names {
        match ferry::inspect(&name) {
            Ok(info) => {
                println!("{}", describe(&info));
                if matches!(info.kind, ferry::RingKind::Broadcast | ferry::RingKind::BroadcastBytes) {
                    describe_broadcast(&name, info.kind == ferry::RingKind::BroadcastBytes);
                }
            }
            Err(e) => println!("{name}: {e}"),
        }
    }
    for name in foreign {
        let mut path = OsString::from("/dev/shm/ferry.");
        path.push(&name);
        println!("{path:?}: not a ferry channel (its name is not UTF-8); remove it with rm if it is yours");
    }
    ExitCode::SUCCESS
}

/// `ferry rm [--force] NAME...`; `None` for a usage error.
fn rm(args: &[OsString]) -> Option<ExitCode> {
    let force = args.iter().any(|a| a == "--force");
    let names: Vec<&OsString> = args.iter().filter(|a| *a != "--force").collect();
    if names.is_empty() {
        return None;
    }
    let mut status = ExitCode::SUCCESS;
    for name in names {
        let Some(name) = name.to_str() else {
            eprintln!(
                "ferry rm: {name:?} is not a channel name (channel names are ASCII letters, digits, `.`, `_` \
                 and `-`); remove such an object from /dev/shm with rm"
            );
            status = ExitCode::FAILURE;
            continue;
        };
        if !force {
            if let Some(pids) = ferry::inspect(name).ok().map(|info| live_pids(&info)).filter(|p| !p.is_empty()) {
                eprintln!(
                    "ferry rm: channel `{name}` is in use by process {}: stop them first, or remove it anyway \
                     with `ferry rm --force {name}` (they keep their handles, but nobody new can reach them)",
                    pids.join(", ")
                );
                status = ExitCode::FAILURE;
                continue;
            }
        }
        match ferry::unlink(name) {
            Ok(()) => println!("removed `{name}`"),
            Err(e) => {
                eprintln!("ferry rm: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    Some(status)
}

/// The live processes holding `info`'s channel, each with what it holds.
fn live_pids(info: &ChannelInfo) -> Vec<String> {
    let mut live = Vec::new();
    if info.creator.alive {
        live.push(format!("{} (creator)", info.creator.pid));
    }
    for (role, holders) in [("sender", &info.senders), ("receiver", &info.receivers)] {
        let all = match holders {
            Holders::Process(p) => vec![*p],
            Holders::Processes(all) => all.clone(),
            Holders::Never | Holders::Left => Vec::new(),
        };
        live.extend(all.iter().filter(|p| p.alive).map(|p| format!("{} ({role})", p.pid)));
    }
    live
}

fn describe(info: &ChannelInfo) -> String {
    let process = |p: ferry::Process| format!("{} ({})", p.pid, if p.alive { "alive" } else { "dead" });
    let role = |h: &Holders| match h {
        Holders::Never => String::from("none yet"),
        Holders::Left => String::from("left"),
        Holders::Process(p) => process(*p),
        Holders::Processes(all) => all.iter().copied().map(process).collect::<Vec<_>>().join(", "),
    };
    let shape = if matches!(
        info.kind,
        ferry::RingKind::SpscBytes | ferry::RingKind::MpmcBytes | ferry::RingKind::BroadcastBytes
    ) {
        format!(
            "{} B for messages up to {} B, {:?}, {}/{} B used",
            info.capacity, info.slot_size, info.signaling, info.in_flight, info.capacity
        )
    } else {
        format!(
            "{} x {} B, {:?}, {}/{} in flight",
            info.capacity, info.slot_size, info.signaling, info.in_flight, info.capacity
        )
    };
    format!(
        "{}: {:?} {shape}; creator {}; sender {}; receiver {}{}{}",
        info.name,
        info.kind,
        process(info.creator),
        role(&info.senders),
        role(&info.receivers),
        if info.stale { "; STALE" } else { "" },
        if info.owner == rustix::process::geteuid().as_raw() {
            String::new()
        } else {
            format!("; owner uid {}", info.owner)
        }
    )
}

/// The broadcast part of `ferry ls`: the policy and history, then one line per
/// subscriber, alive or dead, with how far behind the publishers it is.
/// The broadcast part of `ferry ls` for `name`; positions count bytes on a ring sized in
/// `bytes`.
fn describe_broadcast(name: &str, bytes: bool) {
    let unit = if bytes { " B" } else { "" };
    let info = match ferry::inspect_broadcast(name) {
        Ok(Some(info)) => info,
        Ok(None) => return,
        Err(e) => return println!("  {e}"),
    };
    println!(
        "  broadcast: {} policy, history {}, {}{unit} published, {} of {} subscriber seats taken",
        info.policy,
        info.history,
        info.tail,
        info.subscribers.len(),
        info.seats
    );
    for subscriber in &info.subscribers {
        let state = if subscriber.process.alive { "alive" } else { "dead" };
        match subscriber.cursor {
            Some(cursor) => {
                println!(
                    "  subscriber {} ({state}): at {cursor}{unit}, lag {}{unit}",
                    subscriber.process.pid, subscriber.lag
                )
            }
            None => println!("  subscriber {} ({state}): joining", subscriber.process.pid),
        }
    }
}
