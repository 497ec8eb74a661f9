//! The bridge's Zenoh session: peer mode, the endpoints it was given, no multicast unless
//! asked, and connections retried while the far side is away.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    process,
    time::SystemTime,
};

use zenoh::Wait;

use super::{options::Options, BridgeError};

/// How soon a lost connection is retried, and the longest wait between tries, in ms: a
/// restarted remote bridge is found again within about `RETRY_MAX_MS`.
const RETRY_INIT_MS: u32 = 250;
const RETRY_MAX_MS: u32 = 2000;

/// The Zenoh configuration for `options`: the `--config` file (or Zenoh's defaults in peer
/// mode, listening nowhere), amended by `--listen`, `--connect` and `--scout`.
///
/// # Errors
///
/// The file cannot be read or parsed, or Zenoh refuses a value.
pub(crate) fn config(options: &Options) -> Result<zenoh::Config, BridgeError> {
    let zenoh_error = |what: String| move |e: zenoh::Error| BridgeError::Zenoh(format!("{what}: {e}"));
    let mut config = match &options.config {
        Some(path) => zenoh::Config::from_file(path).map_err(zenoh_error(format!("read `{}`", path.display())))?,
        None => {
            let mut config = zenoh::Config::default();
            let defaults = [
                ("mode", String::from("\"peer\"")),
                // A peer listens on every interface by default: a bridge listens only where told.
                ("listen/endpoints", String::from("[]")),
                ("scouting/multicast/enabled", String::from("false")),
                (
                    "connect/retry",
                    format!(
                        "{{period_init_ms: {RETRY_INIT_MS}, period_max_ms: {RETRY_MAX_MS}, period_increase_factor: 2}}"
                    ),
                ),
            ];
            for (key, value) in defaults {
                config.insert_json5(key, &value).map_err(zenoh_error(format!("set {key}")))?;
            }
            config
        }
    };
    let list = |locators: &[String]| {
        format!("[{}]", locators.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(","))
    };
    if !options.listen.is_empty() {
        config
            .insert_json5("listen/endpoints", &list(&options.listen))
            .map_err(zenoh_error(String::from("--listen")))?;
    }
    if !options.connect.is_empty() {
        config
            .insert_json5("connect/endpoints", &list(&options.connect))
            .map_err(zenoh_error(String::from("--connect")))?;
    }
    if options.scout {
        config.insert_json5("scouting/multicast/enabled", "true").map_err(zenoh_error(String::from("--scout")))?;
    }
    Ok(config)
}

/// Opens the session `options` describe.
///
/// # Errors
///
/// The configuration is invalid, or Zenoh cannot start (a `--listen` address in use).
pub(crate) fn open(options: &Options) -> Result<zenoh::Session, BridgeError> {
    let config = config(options)?;
    zenoh::open(config).wait().map_err(|e| BridgeError::Zenoh(format!("open the Zenoh session: {e}")))
}

/// A fresh, random, non-zero id for this run's stamps (see the `stamp` module).
pub(crate) fn new_stamp_session() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(process::id());
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    hasher.write_u128(now);
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::{Options, Route};

    fn options() -> Options {
        Options { routes: vec![Route::new("shm:a", "zenoh:k").expect("route")], ..Options::default() }
    }

    #[test]
    fn the_default_is_a_quiet_peer_that_listens_only_where_told() {
        let c = config(&options()).expect("config");
        assert_eq!(c.get_json("mode").expect("mode"), "\"peer\"");
        assert_eq!(c.get_json("listen/endpoints").expect("listen"), "[]");
        assert_eq!(c.get_json("scouting/multicast/enabled").expect("scouting"), "false");
        let retry = c.get_json("connect/retry").expect("retry");
        assert!(retry.contains(&format!("\"period_max_ms\":{RETRY_MAX_MS}")), "{retry}");

        let c = config(&Options {
            listen: vec!["tcp/127.0.0.1:7447".into()],
            connect: vec!["tcp/127.0.0.1:7448".into(), "tcp/10.0.0.1:7447".into()],
            scout: true,
            ..options()
        })
        .expect("config");
        assert!(c.get_json("listen/endpoints").expect("listen").contains("tcp/127.0.0.1:7447"));
        let connect = c.get_json("connect/endpoints").expect("connect");
        assert!(connect.contains("tcp/127.0.0.1:7448") && connect.contains("tcp/10.0.0.1:7447"), "{connect}");
        assert_eq!(c.get_json("scouting/multicast/enabled").expect("scouting"), "true");
    }

    #[test]
    fn a_config_file_is_read_and_amended() {
        let path = std::env::temp_dir().join(format!("ferry-bridge-config-{}.json5", process::id()));
        std::fs::write(&path, "{ mode: \"client\", connect: { endpoints: [\"tcp/192.0.2.1:7447\"] } }").expect("write");
        let c = config(&Options { config: Some(path.clone()), listen: vec!["tcp/127.0.0.1:0".into()], ..options() })
            .expect("config");
        assert_eq!(c.get_json("mode").expect("mode"), "\"client\"");
        assert!(c.get_json("connect/endpoints").expect("connect").contains("192.0.2.1"));
        assert!(c.get_json("listen/endpoints").expect("listen").contains("127.0.0.1:0"));
        std::fs::write(&path, "{ mode: ").expect("write");
        assert!(matches!(config(&Options { config: Some(path.clone()), ..options() }), Err(BridgeError::Zenoh(_))));
        std::fs::remove_file(&path).expect("clean up");
    }

    #[test]
    fn stamp_sessions_differ_and_are_never_zero() {
        let (a, b) = (new_stamp_session(), new_stamp_session());
        assert_ne!(a, b);
        assert!(a != 0 && b != 0);
    }
}
