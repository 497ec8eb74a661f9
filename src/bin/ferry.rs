//! `ferry`: look at and clean up the shared-memory channels on this machine.
//!
//! ```text
//! ferry ls            list channels: kind, geometry, fill level, who is attached
//! ferry rm NAME...    remove channels (attached processes keep theirs)
//! ferry gc            remove channels whose creator and users have all died
//! ferry bench         measure ferry beside Unix sockets, pipes and the hardware limits
//!                     ([--tiny] [--json PATH|-]; see `ferry::bench`)
//! ```

use std::process::ExitCode;

use ferry::{ChannelInfo, Holders};

fn main() -> ExitCode {
    // `ferry bench` starts this binary again for the other side of each measurement.
    ferry::bench::child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ls") if args.len() == 1 => ls(),
        Some("rm") if args.len() > 1 => rm(&args[1..]),
        Some("bench") => ferry::bench::report::main(&args[1..]),
        Some("gc") if args.len() == 1 => {
            for name in ferry::remove_stale() {
                println!("removed stale channel `{name}`");
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: ferry ls | ferry rm NAME... | ferry gc | {}", ferry::bench::report::USAGE);
            ExitCode::from(2)
        }
    }
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
