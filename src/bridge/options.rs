//! What a bridge is asked to do: its routes, its Zenoh endpoints and its policies, read
//! from the `ferry bridge` command line or built in code.

use std::{fmt, path::PathBuf, time::Duration};

use crate::WaitPolicy;

/// The prefix of a Zenoh key expression in `--from` / `--to`.
const ZENOH: &str = "zenoh:";

/// The `ferry bridge` usage text.
pub const USAGE: &str = "\
usage: ferry bridge --from ENDPOINT --to ENDPOINT [--from ENDPOINT --to ENDPOINT]...
                    [--listen LOCATOR]... [--connect LOCATOR]... [--scout] [--config FILE]
                    [--drop] [--stats [SECS]] [--state DIR | --no-state] [--spin MICROS]

  One side of each route is a Zenoh key expression (zenoh:KEY), the other a ferry
  channel (shm:NAME, unix:PATH, fifo:PATH, auto:NAME or NAME):
    --from shm:NAME --to zenoh:KEY   the bridge receives from the channel, publishes to KEY
    --from zenoh:KEY --to shm:NAME   the bridge subscribes to KEY, sends into the channel
  The channel must exist (its owner creates it); the bridge waits for it.

  --listen tcp/ADDR:PORT   accept Zenoh peers here (repeatable)
  --connect tcp/ADDR:PORT  connect to a Zenoh peer here, retrying until it answers and
                           after it goes away (repeatable)
  --scout                  find peers by UDP multicast too (off by default)
  --config FILE            a Zenoh json5 configuration; the options above override it
  --drop                   when the far side or the local channel cannot keep up, drop and
                           count instead of waiting
  --stats [SECS]           print each route's messages/s and counters every SECS (1)
  --state DIR              where receiving routes remember their position, so a restarted
                           bridge counts what it missed ($XDG_RUNTIME_DIR/ferry-bridge, or
                           /tmp/ferry-bridge-UID); --no-state keeps it in memory only
  --spin MICROS            wait for a local message by spinning this long, then yielding
                           ten times as long, before sleeping in the kernel: lower latency
                           for CPU time (the channel's default: 5 us, then 50 us)
  Logs go to stderr; RUST_LOG tunes them (default: info for ferry, warn for zenoh).";

/// One forwarding direction between a local channel and a Zenoh key expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Receives from the local channel and publishes each message to the key expression.
    ToZenoh {
        /// The ferry endpoint the bridge opens as a receiver (a subscriber, on a broadcast
        /// channel).
        channel: String,
        /// The key expression it publishes to.
        key: String,
    },
    /// Subscribes to the key expression and sends each sample into the local channel.
    FromZenoh {
        /// The key expression it subscribes to.
        key: String,
        /// The ferry endpoint the bridge opens as a sender (a publisher, on a broadcast
        /// channel).
        channel: String,
    },
}

impl Route {
    /// The route from `from` to `to`, exactly one of them `zenoh:KEY`.
    ///
    /// # Errors
    ///
    /// Neither or both sides are Zenoh key expressions, or one side is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::bridge::Route;
    ///
    /// let out = Route::new("shm:camera", "zenoh:robot/camera")?;
    /// assert_eq!(out, Route::ToZenoh { channel: "shm:camera".into(), key: "robot/camera".into() });
    /// assert!(Route::new("shm:a", "shm:b").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn new(from: &str, to: &str) -> Result<Self, String> {
        let key = |s: &str| s.strip_prefix(ZENOH).map(str::to_owned);
        let route = match (key(from), key(to)) {
            (None, Some(key)) => Self::ToZenoh { channel: from.to_owned(), key },
            (Some(key), None) => Self::FromZenoh { key, channel: to.to_owned() },
            (Some(_), Some(_)) => {
                return Err(format!("`{from}` -> `{to}`: both sides are Zenoh; one side must be a ferry channel"))
            }
            (None, None) => {
                return Err(format!("`{from}` -> `{to}`: neither side is Zenoh; one side must be zenoh:KEY"))
            }
        };
        let (Self::ToZenoh { channel, key } | Self::FromZenoh { key, channel }) = &route;
        if channel.is_empty() || key.is_empty() {
            return Err(format!("`{from}` -> `{to}`: an empty channel or key expression"));
        }
        Ok(route)
    }

    /// The local channel's endpoint.
    pub fn channel(&self) -> &str {
        match self {
            Self::ToZenoh { channel, .. } | Self::FromZenoh { channel, .. } => channel,
        }
    }

    /// The Zenoh key expression.
    pub fn key(&self) -> &str {
        match self {
            Self::ToZenoh { key, .. } | Self::FromZenoh { key, .. } => key,
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ToZenoh { channel, key } => write!(f, "{channel} -> zenoh:{key}"),
            Self::FromZenoh { key, channel } => write!(f, "zenoh:{key} -> {channel}"),
        }
    }
}

/// What a route does when the other side cannot take a message now.
///
/// # Examples
///
/// ```
/// use ferry::bridge::{Options, Policy};
///
/// let args = |extra: &[&str]| {
///     let base = ["--from", "shm:ticks", "--to", "zenoh:ticks", "--connect", "tcp/10.0.0.2:7447"];
///     Options::parse(base.iter().chain(extra).map(|s| s.to_string()))
/// };
/// assert_eq!(args(&[])?.policy, Policy::Block);
/// assert_eq!(args(&["--drop"])?.policy, Policy::Drop);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Wait: a full local channel holds up the samples from Zenoh (and, through Zenoh's
    /// blocking congestion control, the remote publisher); a remote side that is gone or
    /// slow holds up the reading of the local channel, which fills and then holds up its
    /// producer.
    #[default]
    Block,
    /// Drop the message and count it: never hold up the producer.
    Drop,
}

/// Where receiving routes keep their position in each remote session.
///
/// # Examples
///
/// ```
/// use ferry::bridge::{Options, StateDir};
///
/// let parse = |extra: &[&str]| {
///     let base = ["--from", "zenoh:ticks", "--to", "shm:ticks", "--listen", "tcp/0.0.0.0:7447"];
///     Options::parse(base.iter().chain(extra).map(|s| s.to_string()))
/// };
/// assert_eq!(parse(&[])?.state, StateDir::Default);
/// assert_eq!(parse(&["--state", "/var/lib/bridge"])?.state, StateDir::Dir("/var/lib/bridge".into()));
/// assert_eq!(parse(&["--no-state"])?.state, StateDir::Memory);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StateDir {
    /// `$XDG_RUNTIME_DIR/ferry-bridge`, else `/tmp/ferry-bridge-UID` (private, mode 0700).
    #[default]
    Default,
    /// This directory (it must belong to the user).
    Dir(PathBuf),
    /// Nowhere: a restarted bridge cannot tell what it missed while it was down.
    Memory,
}

/// Everything a bridge is asked to do.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ferry::bridge::{Options, Route};
///
/// // What `ferry bridge --from shm:camera --to zenoh:robot/camera --listen tcp/0.0.0.0:7447
/// // --stats 1` asks for, written out.
/// let options = Options {
///     routes: vec![Route::new("shm:camera", "zenoh:robot/camera")?],
///     listen: vec![String::from("tcp/0.0.0.0:7447")],
///     stats: Some(Duration::from_secs(1)),
///     ..Options::default()
/// };
/// let args = "--from shm:camera --to zenoh:robot/camera --listen tcp/0.0.0.0:7447 --stats 1";
/// assert_eq!(Options::parse(args.split(' ').map(String::from))?, options);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The routes, each forwarded by its own thread.
    pub routes: Vec<Route>,
    /// Zenoh locators to listen on (`tcp/127.0.0.1:7447`).
    pub listen: Vec<String>,
    /// Zenoh locators to connect to, retried until they answer and after they go away.
    pub connect: Vec<String>,
    /// Find peers by UDP multicast scouting.
    pub scout: bool,
    /// A Zenoh json5 configuration file that the options above amend.
    pub config: Option<PathBuf>,
    /// What routes do when the other side cannot keep up.
    pub policy: Policy,
    /// Print each route's rate and counters this often.
    pub stats: Option<Duration>,
    /// Where receiving routes keep their positions.
    pub state: StateDir,
    /// How the bridge waits on its local channels (`--spin`); the channel's default if
    /// `None`.
    pub wait: Option<WaitPolicy>,
}

impl Options {
    /// Reads the `ferry bridge` arguments (after the word `bridge`).
    ///
    /// # Errors
    ///
    /// What is wrong with the command line, for the user ([`USAGE`] says the rest).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferry::bridge::{Options, Policy, Route};
    ///
    /// let args = ["--from", "zenoh:demo/**", "--to", "shm:inbox", "--connect", "tcp/10.0.0.2:7447", "--drop"];
    /// let options = Options::parse(args.map(String::from))?;
    /// assert_eq!(options.routes, [Route::new("zenoh:demo/**", "shm:inbox")?]);
    /// assert_eq!(options.connect, ["tcp/10.0.0.2:7447"]);
    /// assert_eq!(options.policy, Policy::Drop);
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self::default();
        let mut from: Option<String> = None;
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| value_of(&mut args, name);
            match arg.as_str() {
                "--from" => {
                    if let Some(pending) = from.replace(value("--from")?) {
                        return Err(format!("--from {pending} has no --to"));
                    }
                }
                "--to" => {
                    let to = value("--to")?;
                    let from = from.take().ok_or_else(|| format!("--to {to} has no --from before it"))?;
                    options.routes.push(Route::new(&from, &to)?);
                }
                "--listen" => options.listen.push(locator(value("--listen")?)?),
                "--connect" => options.connect.push(locator(value("--connect")?)?),
                "--scout" => options.scout = true,
                "--config" => options.config = Some(PathBuf::from(value("--config")?)),
                "--drop" => options.policy = Policy::Drop,
                "--state" => options.state = StateDir::Dir(PathBuf::from(value("--state")?)),
                "--no-state" => options.state = StateDir::Memory,
                "--spin" => {
                    let micros = value("--spin")?;
                    let micros: u64 = micros.parse().map_err(|_| format!("--spin {micros}: expected microseconds"))?;
                    options.wait = Some(
                        WaitPolicy::new()
                            .spin(Duration::from_micros(micros))
                            .yield_for(Duration::from_micros(micros.saturating_mul(10))),
                    );
                }
                "--stats" => {
                    let secs = match args.peek() {
                        Some(next) if !next.starts_with("--") => {
                            let secs = args.next().unwrap_or_default();
                            secs.parse::<f64>()
                                .ok()
                                .filter(|s| s.is_finite() && *s >= 0.001)
                                .ok_or_else(|| format!("--stats {secs}: expected seconds, at least 0.001"))?
                        }
                        _ => 1.0,
                    };
                    options.stats = Some(Duration::from_secs_f64(secs));
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if let Some(pending) = from {
            return Err(format!("--from {pending} has no --to"));
        }
        if options.routes.is_empty() {
            return Err(String::from("no route: give --from and --to"));
        }
        if options.listen.is_empty() && options.connect.is_empty() && !options.scout && options.config.is_none() {
            return Err(String::from(
                "no way to reach another bridge: give --listen or --connect (or --scout, or --config)",
            ));
        }
        Ok(options)
    }
}

/// The value after option `name`.
fn value_of(args: &mut impl Iterator<Item = String>, name: &str) -> Result<String, String> {
    args.next().ok_or_else(|| format!("{name} needs a value"))
}

/// A locator as given, refused if it could not sit in a json5 string.
fn locator(value: String) -> Result<String, String> {
    if value.is_empty() || value.contains(['"', '\\']) || value.chars().any(char::is_control) {
        return Err(format!("`{value}` is not a Zenoh locator (e.g. tcp/127.0.0.1:7447)"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn routes_pair_up_in_order_and_options_default_sensibly() {
        let o = parse(&[
            "--from",
            "shm:a",
            "--to",
            "zenoh:k/a",
            "--listen",
            "tcp/127.0.0.1:7447",
            "--from",
            "zenoh:k/b",
            "--to",
            "b",
            "--stats",
        ])
        .expect("valid");
        assert_eq!(
            o.routes,
            [
                Route::ToZenoh { channel: "shm:a".into(), key: "k/a".into() },
                Route::FromZenoh { key: "k/b".into(), channel: "b".into() }
            ]
        );
        assert_eq!(o.routes[1].to_string(), "zenoh:k/b -> b");
        assert_eq!(o.policy, Policy::Block);
        assert_eq!(o.stats, Some(Duration::from_secs(1)));
        assert_eq!(o.state, StateDir::Default);
        assert!(!o.scout);
        let o = parse(&["--from", "a", "--to", "zenoh:k", "--scout", "--stats", "0.25", "--no-state"]).expect("valid");
        assert_eq!(o.stats, Some(Duration::from_millis(250)));
        assert_eq!(o.state, StateDir::Memory);
        assert_eq!(o.wait, None);
        let o = parse(&["--from", "a", "--to", "zenoh:k", "--scout", "--spin", "40"]).expect("valid");
        assert_eq!(
            o.wait,
            Some(WaitPolicy::new().spin(Duration::from_micros(40)).yield_for(Duration::from_micros(400)))
        );
    }

    #[test]
    fn a_malformed_command_line_says_what_is_wrong() {
        let err = |args: &[&str]| parse(args).expect_err("invalid");
        assert!(err(&["--from", "shm:a", "--listen", "tcp/x:1"]).contains("has no --to"));
        assert!(err(&["--to", "zenoh:k", "--listen", "tcp/x:1"]).contains("no --from"));
        assert!(err(&["--from", "shm:a", "--to", "shm:b", "--listen", "tcp/x:1"]).contains("neither side"));
        assert!(err(&["--from", "zenoh:a", "--to", "zenoh:b", "--listen", "tcp/x:1"]).contains("both sides"));
        assert!(err(&["--from", "shm:a", "--to", "zenoh:k"]).contains("no way to reach"));
        assert!(err(&["--listen", "tcp/x:1"]).contains("no route"));
        assert!(err(&["--from", "a", "--to", "zenoh:k", "--connect", "tcp/\"x"]).contains("not a Zenoh locator"));
        assert!(err(&["--from", "a", "--to", "zenoh:k", "--scout", "--stats", "-1"]).contains("--stats"));
        assert!(err(&["--from", "a", "--to", "zenoh:", "--scout"]).contains("empty"));
        assert!(err(&["--bogus"]).contains("unknown argument"));
        assert!(err(&["--from", "a", "--to", "zenoh:k", "--scout", "--spin", "x"]).contains("microseconds"));
    }
}
