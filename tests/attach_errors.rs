//! Every way setting up a channel can fail, each with its own error, plus the per-message
//! errors (too large, buffer too small, wrong size) and the permissions of a new segment.
//!
//! Some tests forge or patch segments in `/dev/shm/ferry.<name>` by hand, following the
//! header layout of `src/segment.rs` (`Header` is `repr(C)`); a test checks that layout
//! against a real segment first, so the forgeries are faithful.

use std::{
    env,
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{FileExt, PermissionsExt},
    process::{self, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use ferry::{
    in_memory, unlink, AttachError, Config, Receiver, RecvError, RingKind, SendError, Sender, Signaling,
    LAYOUT_VERSION, MAX_CAPACITY, MAX_NAME_LEN, MAX_SLOT_SIZE,
};

mod support;
use support::{shm_path, Cleanup};

/// ferry's magic number: the first eight bytes of an initialised segment.
const MAGIC: u64 = u64::from_le_bytes(*b"FERRYSHM");
/// `RingKind::Spsc` in the header.
const SPSC: u32 = 1;
/// Size of the header.
const HEADER_LEN: usize = 128;
/// Byte offsets of the header's fields.
const AT_VERSION: u64 = 8;
const AT_SLOT_SIZE: u64 = 16;
const AT_CAPACITY: u64 = 24;
const AT_TOTAL_SIZE: u64 = 32;
const AT_CHECKSUM: u64 = 40;
const AT_SIGNALING: usize = 48;
/// The inode numbers of the two doorbell FIFOs (not covered by the checksum: recorded
/// once they exist).
const AT_BELLS: usize = 96;
/// Bytes of the header the checksum covers, with the checksum itself.
const CHECKED_LEN: usize = 52;
/// `Signaling::Futex` in the header.
const FUTEX: u32 = 1;

/// Environment of `child_create_and_check_mode`.
const MODE_CHANNEL_ENV: &str = "FERRY_CHILD_MODE_CHANNEL";
const MODE_UMASK_ENV: &str = "FERRY_CHILD_UMASK";
const MODE_REQUEST_ENV: &str = "FERRY_CHILD_MODE_REQUEST";
const MODE_EXPECT_ENV: &str = "FERRY_CHILD_MODE_EXPECT";
const CHILD_DONE: &str = "FERRY-CHILD-DONE";

fn unique(tag: &str) -> String {
    format!("ae-{tag}-{}", process::id())
}

fn config() -> Config {
    Config::new().slot_size(256).capacity(64)
}

/// Asserts that the error's message names the channel.
fn assert_names(err: &AttachError, name: &str) {
    let text = err.to_string();
    assert!(text.contains(&format!("`{name}`")), "the message should name `{name}`: {text}");
}

/// Size of a segment of the given geometry: header, ring control block (two positions and
/// two signals, each on 128-byte lines), then `capacity` slots of a 64-byte meta line and the payload rounded
/// up to 64 bytes.
fn segment_len(slot_size: u64, capacity: u64) -> u64 {
    HEADER_LEN as u64 + 512 + capacity * (64 + slot_size.next_multiple_of(64))
}

/// The header's FNV-1a checksum over the magic, the fields after it, the signaling
/// (futex) and a queue's three zero broadcast words (subscribers, policy, history).
fn checksum(version: u32, kind: u32, slot_size: u64, capacity: u64, total: u64) -> u64 {
    let words = [MAGIC, u64::from(version), u64::from(kind), slot_size, capacity, total, u64::from(FUTEX), 0, 0, 0];
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A header with the given magic and fields and a checksum that matches them; the role
/// words are 0 (never held).
fn header(magic: u64, version: u32, kind: u32, slot_size: u64, capacity: u64, total: u64) -> [u8; HEADER_LEN] {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[..8].copy_from_slice(&magic.to_le_bytes());
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    bytes[12..16].copy_from_slice(&kind.to_le_bytes());
    bytes[16..24].copy_from_slice(&slot_size.to_le_bytes());
    bytes[24..32].copy_from_slice(&capacity.to_le_bytes());
    bytes[32..40].copy_from_slice(&total.to_le_bytes());
    bytes[40..48].copy_from_slice(&checksum(version, kind, slot_size, capacity, total).to_le_bytes());
    bytes[AT_SIGNALING..AT_SIGNALING + 4].copy_from_slice(&FUTEX.to_le_bytes());
    bytes
}

/// A whole valid, initialised, empty segment (a zeroed ring is an empty ring).
fn valid_segment(slot_size: u64, capacity: u64) -> Vec<u8> {
    let total = segment_len(slot_size, capacity);
    let mut bytes = vec![0u8; total as usize];
    bytes[..HEADER_LEN].copy_from_slice(&header(MAGIC, LAYOUT_VERSION, SPSC, slot_size, capacity, total));
    bytes
}

/// Creates `/dev/shm/ferry.<name>` holding `bytes`, as a foreign or crashed creator would.
fn forge(name: &str, bytes: &[u8]) -> Cleanup {
    let cleanup = Cleanup(name.to_owned());
    let mut file = OpenOptions::new().write(true).create_new(true).open(shm_path(name)).expect("create the forgery");
    file.write_all(bytes).expect("write the forgery");
    cleanup
}

/// Makes the doorbell FIFOs a creator makes beside its segment and records their inodes
/// in the header in `bytes`, as the creator does once the segment is published.
fn add_doorbells(name: &str, bytes: &mut [u8]) {
    use std::os::unix::fs::MetadataExt;
    for (i, bell) in support::bell_paths(name).iter().enumerate() {
        rustix::fs::mkfifoat(rustix::fs::CWD, bell, rustix::fs::Mode::from_raw_mode(0o600)).expect("make a doorbell");
        let inode = std::fs::metadata(bell).expect("inspect the doorbell").ino();
        bytes[AT_BELLS + 8 * i..AT_BELLS + 8 * i + 8].copy_from_slice(&inode.to_le_bytes());
    }
}

/// Overwrites bytes of a live segment in place.
fn patch(name: &str, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(shm_path(name)).expect("open the segment to patch it");
    file.write_all_at(bytes, offset).expect("patch the segment");
}

fn segment_file_len(name: &str) -> u64 {
    fs::metadata(shm_path(name)).expect("the segment's file").len()
}

// ---------------------------------------------------------------------------------------
// The layout the forgeries below rely on.
// ---------------------------------------------------------------------------------------

#[test]
fn a_real_segment_has_the_documented_header_layout() {
    let name = unique("layout");
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &config()).expect("create");
    let total = segment_len(256, 64);
    assert_eq!(segment_file_len(&name), total);
    let bytes = fs::read(shm_path(&name)).expect("read the segment");
    let expected = header(MAGIC, LAYOUT_VERSION, SPSC, 256, 64, total);
    assert_eq!(&bytes[..CHECKED_LEN], &expected[..CHECKED_LEN], "magic, version, kind, geometry, size, checksum");
    drop(rx);
    assert!(!shm_path(&name).exists(), "dropping the creator removes the name");
}

// ---------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------

#[test]
fn creating_an_existing_name_is_already_exists_and_leaves_it_intact() {
    let name = unique("exists");
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &config()).expect("create");
    let len = segment_file_len(&name);

    let small = Config::new().slot_size(8).capacity(2);
    for err in [Receiver::create(&name, &small).unwrap_err(), Sender::create(&name, &small).unwrap_err()] {
        assert!(matches!(&err, AttachError::AlreadyExists { name: n } if *n == name), "{err:?}");
        assert_names(&err, &name);
    }

    // The failed creates neither resized nor removed the channel, which still works.
    assert_eq!(segment_file_len(&name), len);
    let mut tx = Sender::open(&name).expect("open the original channel");
    assert_eq!((tx.slot_size(), tx.capacity()), (256, 64));
    tx.send(b"still here").expect("send");
    assert_eq!(&*rx.try_recv().expect("recv"), b"still here");
}

#[test]
fn opening_a_missing_name_is_not_found() {
    let name = unique("missing");
    assert!(!shm_path(&name).exists());
    let errors = [
        Sender::open(&name).unwrap_err(),
        Receiver::open(&name).unwrap_err(),
        Sender::open_expecting(&name, &config()).unwrap_err(),
        unlink(&name).unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(&err, AttachError::NotFound { name: n } if *n == name), "{err:?}");
        assert_names(&err, &name);
    }

    // A channel whose creator has dropped it is gone too.
    drop(Sender::create(&name, &config()).expect("create"));
    let err = Receiver::open(&name).unwrap_err();
    assert!(matches!(&err, AttachError::NotFound { .. }), "{err:?}");
}

#[test]
fn dropping_a_creator_spares_a_new_channel_of_the_same_name() {
    let name = unique("recreated");
    let _cleanup = Cleanup(name.clone());
    let old = Receiver::create(&name, &config()).expect("create");
    // `unlink`: "a new channel of that name can be created at once".
    unlink(&name).expect("unlink");
    let _new = Receiver::create(&name, &Config::new().slot_size(64).capacity(4)).expect("re-create");
    drop(old);
    let tx = Sender::open(&name).expect("the new channel is still reachable by name");
    assert_eq!((tx.slot_size(), tx.capacity()), (64, 4));
}

#[test]
fn invalid_names_are_refused_before_touching_shared_memory() {
    let too_long = "x".repeat(MAX_NAME_LEN + 1);
    let cases = ["", "a/b", "/leading-slash", too_long.as_str(), ".hidden", "..", "has space", "n\u{e4}me"];
    for name in cases {
        let errors = [
            Sender::create(name, &config()).unwrap_err(),
            Receiver::create(name, &config()).unwrap_err(),
            Sender::open(name).unwrap_err(),
            Receiver::open(name).unwrap_err(),
            Receiver::open_expecting(name, &config()).unwrap_err(),
            unlink(name).unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(&err, AttachError::InvalidName { name: n, .. } if n == name), "{name:?}: {err:?}");
            if !name.is_empty() {
                assert_names(&err, name);
            }
        }
    }

    // The limits themselves are fine: 200 bytes, and every allowed character.
    let longest = format!("{:-<width$}", unique("max"), width = MAX_NAME_LEN);
    assert_eq!(longest.len(), MAX_NAME_LEN);
    let odd = unique("Aa.9_-x");
    for name in [longest, odd] {
        let _cleanup = Cleanup(name.clone());
        let rx = Receiver::create(&name, &config()).unwrap_or_else(|e| panic!("{name}: {e}"));
        drop(Sender::open(&name).unwrap_or_else(|e| panic!("{name}: {e}")));
        drop(rx);
        assert!(!shm_path(&name).exists());
    }
}

// ---------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------

#[test]
fn impossible_configurations_are_invalid_config_and_create_nothing() {
    let name = unique("config");
    let _cleanup = Cleanup(name.clone());
    let cases = [
        ("capacity 0", Config::new().slot_size(64).capacity(0)),
        ("broadcast capacity 3", Config::new().kind(RingKind::Broadcast).slot_size(64).capacity(3)),
        ("capacity over the maximum", Config::new().slot_size(64).capacity(MAX_CAPACITY * 2)),
        ("slot size 0", Config::new().slot_size(0).capacity(64)),
        ("slot size over the maximum", Config::new().slot_size(MAX_SLOT_SIZE + 1).capacity(64)),
        ("ring over 64 GiB", Config::new().slot_size(MAX_SLOT_SIZE).capacity(MAX_CAPACITY)),
    ];
    for (what, bad) in cases {
        for err in [
            Receiver::create(&name, &bad).unwrap_err(),
            Sender::create(&name, &bad).unwrap_err(),
            in_memory(&bad).unwrap_err(),
        ] {
            assert!(matches!(err, AttachError::InvalidConfig(_)), "{what}: {err:?}");
        }
        assert!(!shm_path(&name).exists(), "{what}: an invalid create left a segment behind");
    }

    // The smallest channel is valid.
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(1).capacity(1)).expect("1 slot of 1 byte");
    tx.send(b"!").expect("send");
    assert_eq!(tx.try_send(b"?").unwrap_err(), SendError::Full(()));
    assert_eq!(&*rx.try_recv().expect("recv"), b"!");
}

// ---------------------------------------------------------------------------------------
// Headers.
// ---------------------------------------------------------------------------------------

#[test]
fn a_segment_with_another_magic_is_bad_magic() {
    let name = unique("magic");
    let mut bytes = vec![0u8; 4096];
    bytes[..8].copy_from_slice(b"NOTFERRY");
    let _cleanup = forge(&name, &bytes);

    for err in [Sender::open(&name).unwrap_err(), Receiver::open(&name).unwrap_err()] {
        assert!(
            matches!(&err, AttachError::BadMagic { name: n, found } if *n == name
                && *found == u64::from_le_bytes(*b"NOTFERRY")),
            "{err:?}"
        );
        assert_names(&err, &name);
    }
    // Neither open nor create touched the foreign object; create says what it is.
    let err = Receiver::create(&name, &config()).unwrap_err();
    assert!(matches!(&err, AttachError::BadMagic { .. }), "{err:?}");
    assert_eq!(fs::read(shm_path(&name)).expect("read"), bytes);

    unlink(&name).expect("unlink removes a foreign object of a valid name");
    assert!(!shm_path(&name).exists());
}

#[test]
fn a_segment_of_another_layout_version_is_version_mismatch() {
    let name = unique("version");
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &config()).expect("create");
    let other = LAYOUT_VERSION + 1;
    patch(&name, AT_VERSION, &other.to_le_bytes());

    let err = Sender::open(&name).unwrap_err();
    assert!(
        matches!(&err, AttachError::VersionMismatch { name: n, found, expected }
            if *n == name && *found == other && *expected == LAYOUT_VERSION),
        "{err:?}"
    );
    assert_names(&err, &name);
    let text = err.to_string();
    assert!(text.contains(&format!("v{other}")) && text.contains(&format!("v{LAYOUT_VERSION}")), "{text}");
}

#[test]
fn a_header_that_fails_its_checksum_is_corrupt_header() {
    let name = unique("checksum");
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &config()).expect("create");

    // Each field the checksum covers, changed alone, is caught: a larger slot size, a
    // larger capacity, another total size, and the checksum itself.
    let original = fs::read(shm_path(&name)).expect("read")[..CHECKED_LEN].to_vec();
    for (offset, value) in [(AT_SLOT_SIZE, 512u64), (AT_CAPACITY, 128), (AT_TOTAL_SIZE, 4096), (AT_CHECKSUM, 1)] {
        patch(&name, offset, &value.to_le_bytes());
        let err = Sender::open(&name).unwrap_err();
        assert!(
            matches!(&err, AttachError::CorruptHeader { name: n, reason } if *n == name && reason.contains("checksum")),
            "field at byte {offset} set to {value}: {err:?}"
        );
        assert_names(&err, &name);
        patch(&name, 0, &original);
    }
    // Restored, the header opens again: the errors above came from the patches.
    drop(Sender::open(&name).expect("open the restored segment"));
}

#[test]
fn a_consistent_header_describing_an_impossible_ring_is_corrupt_header() {
    let valid_total = segment_len(64, 8);
    let cases = [
        ("unknown ring kind", header(MAGIC, LAYOUT_VERSION, 7, 64, 8, valid_total)),
        ("capacity 0", header(MAGIC, LAYOUT_VERSION, SPSC, 64, 0, segment_len(64, 0))),
        ("slot size 0", header(MAGIC, LAYOUT_VERSION, SPSC, 0, 8, segment_len(0, 8))),
        ("total size off by a slot", header(MAGIC, LAYOUT_VERSION, SPSC, 64, 8, valid_total + 128)),
    ];
    for (i, (what, head)) in cases.into_iter().enumerate() {
        let name = unique(&format!("impossible{i}"));
        // The object is exactly the size the header claims, so only the header is wrong.
        let total = u64::from_le_bytes(head[32..40].try_into().unwrap());
        let mut bytes = vec![0u8; total as usize];
        bytes[..HEADER_LEN].copy_from_slice(&head);
        let _cleanup = forge(&name, &bytes);
        let err = Receiver::open(&name).unwrap_err();
        assert!(matches!(&err, AttachError::CorruptHeader { name: n, .. } if *n == name), "{what}: {err:?}");
        assert_names(&err, &name);
    }

    // The same forgery with a possible ring opens, and works: the cases above failed
    // for what they changed.
    let name = unique("forged-valid");
    let mut segment = valid_segment(64, 8);
    add_doorbells(&name, &mut segment);
    let _cleanup = forge(&name, &segment);
    let mut rx = Receiver::open(&name).expect("open a forged valid segment");
    let mut tx = Sender::open_expecting(&name, &Config::new().slot_size(64).capacity(8)).expect("open as sender");
    tx.send(b"forged").expect("send");
    assert_eq!(&*rx.try_recv().expect("recv"), b"forged");
}

#[test]
fn an_object_of_another_size_than_its_header_says_is_size_mismatch() {
    let name = unique("size");
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &config()).expect("create");
    let len = segment_file_len(&name);
    let file = OpenOptions::new().write(true).open(shm_path(&name)).expect("open the segment");
    file.set_len(len + 4096).expect("grow the segment");

    let err = Sender::open(&name).unwrap_err();
    assert!(
        matches!(&err, AttachError::SizeMismatch { name: n, expected, actual }
            if *n == name && *expected == len && *actual == len + 4096),
        "{err:?}"
    );
    assert_names(&err, &name);
    let text = err.to_string();
    assert!(text.contains(&len.to_string()) && text.contains(&(len + 4096).to_string()), "{text}");
}

#[test]
fn opening_with_another_geometry_is_geometry_mismatch() {
    let name = unique("geometry");
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &config()).expect("create");

    let found = "SPSC ring of 64 slots of 256 B, futex signaling";
    let others = [
        (Config::new().slot_size(512).capacity(64), "SPSC ring of 64 slots of 512 B, futex signaling"),
        (Config::new().slot_size(256).capacity(128), "SPSC ring of 128 slots of 256 B, futex signaling"),
        (Config::new().slot_size(255).capacity(64), "SPSC ring of 64 slots of 255 B, futex signaling"),
        (config().kind(RingKind::Mpmc), "MPMC ring of 64 slots of 256 B, futex signaling"),
        (config().signaling(Signaling::Semaphore), "SPSC ring of 64 slots of 256 B, semaphore signaling"),
    ];
    for (other, described) in others {
        let err = Sender::open_expecting(&name, &other).unwrap_err();
        assert!(
            matches!(&err, AttachError::GeometryMismatch { name: n, expected, found: f }
                if *n == name && expected == described && f == found),
            "{err:?}"
        );
        assert_names(&err, &name);
    }
    // The mode is not part of the geometry.
    let tx = Sender::open_expecting(&name, &config().mode(0o644)).expect("open with the right geometry");
    assert_eq!((tx.slot_size(), tx.capacity()), (256, 64));

    // And the receiver's side checks it too.
    let name = unique("geometry-rx");
    let _cleanup = Cleanup(name.clone());
    let _tx = Sender::create(&name, &config()).expect("create");
    let err = Receiver::open_expecting(&name, &Config::new().slot_size(256).capacity(32)).unwrap_err();
    assert!(
        matches!(&err, AttachError::GeometryMismatch { found, .. } if found.contains("64 slots of 256 B")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Roles.
// ---------------------------------------------------------------------------------------

#[test]
fn a_second_sender_in_the_same_process_is_role_taken() {
    let name = unique("sender-role");
    let _cleanup = Cleanup(name.clone());
    let mut rx = Receiver::create(&name, &config()).expect("create");
    let mut tx = Sender::open(&name).expect("the first sender");

    let err = Sender::open(&name).unwrap_err();
    assert!(
        matches!(&err, AttachError::RoleTaken { name: n, role: "sender", pid } if *n == name && *pid == process::id()),
        "{err:?}"
    );
    assert_names(&err, &name);
    assert!(err.to_string().contains(&process::id().to_string()), "{err}");

    // The refusal left the first sender attached and working.
    tx.send(b"first").expect("send");
    assert_eq!(&*rx.try_recv().expect("recv"), b"first");

    // Once it detaches, the role is free again.
    drop(tx);
    let mut tx = Sender::open(&name).expect("the role is free once the first sender is dropped");
    tx.send(b"second").expect("send");
    assert_eq!(&*rx.try_recv().expect("recv"), b"second");

    // A creating sender holds the role as well.
    let name = unique("sender-role-creator");
    let _cleanup = Cleanup(name.clone());
    let _tx = Sender::create(&name, &config()).expect("create");
    let err = Sender::open(&name).unwrap_err();
    assert!(matches!(&err, AttachError::RoleTaken { role: "sender", .. }), "{err:?}");
}

#[test]
fn a_second_receiver_is_role_taken() {
    let name = unique("receiver-role");
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &config()).expect("create");

    let err = Receiver::open(&name).unwrap_err();
    assert!(
        matches!(&err, AttachError::RoleTaken { name: n, role: "receiver", pid } if *n == name && *pid == process::id()),
        "{err:?}"
    );
    assert_names(&err, &name);

    // The sender role is a different one.
    drop(Sender::open(&name).expect("the sender role is free"));
    drop(rx);
    assert!(!shm_path(&name).exists());

    let name = unique("receiver-role-open");
    let _cleanup = Cleanup(name.clone());
    let _tx = Sender::create(&name, &config()).expect("create");
    let rx = Receiver::open(&name).expect("the first receiver");
    let err = Receiver::open(&name).unwrap_err();
    assert!(matches!(&err, AttachError::RoleTaken { role: "receiver", .. }), "{err:?}");
    drop(rx);
    drop(Receiver::open(&name).expect("the role is free once the first receiver is dropped"));
}

// ---------------------------------------------------------------------------------------
// Initialisation.
// ---------------------------------------------------------------------------------------

/// `open` gives a creator 2 seconds to publish the magic.
fn assert_waited_then_not_initialised(name: &str) {
    let started = Instant::now();
    let err = Sender::open(name).unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(&err, AttachError::NotInitialised { name: n } if n == name), "{err:?}");
    assert_names(&err, name);
    assert!(waited >= Duration::from_millis(1500), "gave up after {waited:?}, without waiting for the creator");
    assert!(waited < Duration::from_secs(20), "waited {waited:?}: the wait should be bounded");
}

#[test]
fn a_creator_that_never_publishes_the_magic_is_not_initialised() {
    // A complete, valid segment but for its magic: what a creator that died just
    // before the end of initialisation leaves.
    let name = unique("uninit");
    let mut bytes = valid_segment(64, 8);
    bytes[..8].fill(0);
    let _cleanup = forge(&name, &bytes);
    assert_waited_then_not_initialised(&name);
}

#[test]
fn an_object_shorter_than_a_header_is_refused_at_once() {
    // Shorter than a header, though it starts with the magic: it must not be read, and
    // is no state a creator leaves (it sizes the object whole at once), so nobody waits.
    let name = unique("unsized");
    let _cleanup = forge(&name, &MAGIC.to_le_bytes());
    let started = Instant::now();
    let err = Sender::open(&name).unwrap_err();
    assert!(matches!(&err, AttachError::CorruptHeader { name: n, .. } if *n == name), "{err:?}");
    assert_names(&err, &name);
    assert!(started.elapsed() < Duration::from_millis(500), "refused only after {:?}", started.elapsed());
}

#[test]
fn open_waits_for_a_creator_that_finishes_late() {
    // The object exists, empty, as between a creator's shm_open and its ftruncate. The
    // whole segment then appears in one write (it fits in a page, so an opener sees
    // either no bytes or all of them).
    let name = unique("late");
    let _cleanup = forge(&name, &[]);
    let mut segment = valid_segment(64, 8);
    add_doorbells(&name, &mut segment);
    assert!(segment.len() <= 4096);
    let path = shm_path(&name);
    let creator = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        let file = OpenOptions::new().write(true).open(path).expect("open the object");
        file.write_all_at(&segment, 0).expect("initialise the object");
    });
    let started = Instant::now();
    let mut rx = Receiver::open(&name).expect("open waits for the creator");
    assert!(started.elapsed() >= Duration::from_millis(250), "opened after {:?}", started.elapsed());
    creator.join().expect("the creator thread");
    let mut tx = Sender::open(&name).expect("open as sender");
    tx.send(b"late").expect("send");
    assert_eq!(&*rx.try_recv().expect("recv"), b"late");
}

// ---------------------------------------------------------------------------------------
// Message errors.
// ---------------------------------------------------------------------------------------

#[test]
fn an_oversized_message_is_too_large_and_a_value_is_handed_back() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(64).capacity(4)).expect("channel");
    let big = [0x5au8; 65];

    let results = [
        ("send", tx.send(&big)),
        ("try_send", tx.try_send(&big)),
        ("send_timeout", tx.send_timeout(&big, Duration::from_secs(1))),
        ("batch try_send", tx.batch().try_send(&big)),
    ];
    for (call, result) in results {
        let err = result.unwrap_err();
        assert!(matches!(err, SendError::TooLarge { len: 65, max: 64, .. }), "{call}: {err:?}");
        assert!(err.to_string().contains("65") && err.to_string().contains("64"), "{call}: {err}");
    }
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty, "a refused message sent nothing");

    // A value larger than a slot is handed back whole.
    let value = [0xa5u8; 65];
    let err = tx.send_value(value).unwrap_err();
    assert!(matches!(err, SendError::TooLarge { len: 65, max: 64, .. }), "{err:?}");
    assert_eq!(err.into_inner(), value);
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);

    // Exactly a slot fits, as bytes and as a value.
    tx.send(&big[..64]).expect("a message of exactly the slot size");
    assert_eq!(&*rx.try_recv().expect("recv"), &big[..64]);
    let fits = [0x0102_0304_0506_0708u64; 8];
    tx.send_value(fits).expect("a value of exactly the slot size");
    assert_eq!(rx.recv_value::<[u64; 8]>().expect("recv_value"), fits);
}

#[test]
#[should_panic(expected = "committed 65 bytes into a slot of 64 bytes")]
fn committing_more_than_a_slot_panics() {
    let (mut tx, _rx) = in_memory(&Config::new().slot_size(64).capacity(4)).expect("channel");
    tx.loan().expect("loan").commit(65);
}

#[test]
fn a_small_buffer_is_buffer_too_small_and_the_message_stays() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(64).capacity(4)).expect("channel");
    tx.send(b"0123456789").expect("send");
    tx.send(b"").expect("send an empty message");

    let mut small = [0u8; 9];
    assert_eq!(rx.recv_into(&mut small).unwrap_err(), RecvError::BufferTooSmall { needed: 10 });
    assert_eq!(rx.try_recv_into(&mut small).unwrap_err(), RecvError::BufferTooSmall { needed: 10 });
    assert_eq!(small, [0u8; 9], "nothing is copied into a buffer that is too small");

    let mut buf = [0u8; 10];
    assert_eq!(rx.recv_into(&mut buf).expect("the message is still there"), 10);
    assert_eq!(&buf, b"0123456789");
    // An empty message fits an empty buffer; then the channel is empty.
    assert_eq!(rx.try_recv_into(&mut []).expect("the empty message"), 0);
    assert_eq!(rx.try_recv_into(&mut buf).unwrap_err(), RecvError::Empty);
}

#[test]
fn reading_a_message_as_the_wrong_type_is_wrong_size() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(64).capacity(4)).expect("channel");
    tx.send(b"abc").expect("send");
    tx.send_value(0xdead_beef_u64).expect("send a u64");

    let guard = rx.recv().expect("recv");
    assert_eq!(guard.value::<u64>().unwrap_err(), RecvError::WrongSize { expected: 8, actual: 3 });
    assert_eq!(&*guard, b"abc", "the guard still reads the message");
    drop(guard);

    let guard = rx.recv().expect("recv");
    assert_eq!(guard.value::<u32>().unwrap_err(), RecvError::WrongSize { expected: 4, actual: 8 });
    assert_eq!(guard.value::<[u8; 9]>().unwrap_err(), RecvError::WrongSize { expected: 9, actual: 8 });
    assert_eq!(guard.value::<u64>().expect("the right size"), 0xdead_beef);
    drop(guard);
    assert_eq!(rx.try_recv().unwrap_err(), RecvError::Empty);
}

#[test]
fn recv_value_of_the_wrong_size_leaves_the_message() {
    let (mut tx, mut rx) = in_memory(&Config::new().slot_size(64).capacity(4)).expect("channel");
    tx.send(b"abc").expect("send");
    assert_eq!(rx.recv_value::<u64>().unwrap_err(), RecvError::WrongSize { expected: 8, actual: 3 });
    // RecvError: "Nothing was consumed"; recv_value: "the message stays in the channel".
    assert_eq!(&*rx.try_recv().expect("the message is still there"), b"abc");
}

// ---------------------------------------------------------------------------------------
// Permissions.
// ---------------------------------------------------------------------------------------

fn mode_of(name: &str) -> u32 {
    fs::metadata(shm_path(name)).expect("the segment's file").permissions().mode() & 0o777
}

#[test]
fn an_explicit_mode_is_applied() {
    let name = unique("mode-640");
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &config().mode(0o640)).expect("create");
    assert_eq!(mode_of(&name), 0o640);
    drop(rx);

    let name = unique("mode-default");
    let _cleanup = Cleanup(name.clone());
    let _tx = Sender::create(&name, &config()).expect("create");
    assert_eq!(mode_of(&name), 0o600);
}

/// Runs `child_create_and_check_mode` under `umask`; it creates a channel with `request`
/// (or the default mode) and checks that the object's mode is `expect`.
fn run_mode_child(tag: &str, umask: &str, request: Option<u32>, expect: u32) {
    let name = unique(tag);
    let _cleanup = Cleanup(name.clone());
    let request = request.map_or_else(|| "default".to_owned(), |mode| format!("{mode:o}"));
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env::current_exe().expect("the test binary's path"))
        .args(["--exact", "child_create_and_check_mode", "--nocapture", "--test-threads=1"])
        .env(MODE_CHANNEL_ENV, &name)
        .env(MODE_UMASK_ENV, umask)
        .env(MODE_REQUEST_ENV, &request)
        .env(MODE_EXPECT_ENV, format!("{expect:o}"))
        .stdin(Stdio::null())
        .output()
        .expect("run the child");
    let describe = |output: &Output| {
        format!(
            "child exited with {}\n--- child stdout ---\n{}\n--- child stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    assert!(output.status.success(), "the child failed:\n{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(CHILD_DONE),
        "the child did not run its test:\n{}",
        describe(&output)
    );
    assert!(!shm_path(&name).exists(), "the child's channel outlived it");
}

#[test]
fn the_default_mode_is_0600_even_under_umask_000() {
    run_mode_child("umask-000", "000", None, 0o600);
}

#[test]
fn an_explicit_mode_is_exact_whatever_the_umask() {
    // umask 077 would clear the group bit a plain shm_open applies.
    run_mode_child("umask-077", "077", Some(0o640), 0o640);
}

#[test]
fn child_create_and_check_mode() {
    let Ok(name) = env::var(MODE_CHANNEL_ENV) else { return };
    let parse = |var: &str| {
        let text = env::var(var).unwrap_or_else(|_| panic!("child: {var} is not set"));
        u32::from_str_radix(text.trim(), 8).unwrap_or_else(|_| panic!("child: {var}={text} is not octal"))
    };
    // The umask really is the one asked for (else the test proves nothing).
    let status = fs::read_to_string("/proc/self/status").expect("child: read /proc/self/status");
    let umask = status.lines().find_map(|line| line.strip_prefix("Umask:")).expect("child: Umask in /proc/self/status");
    assert_eq!(u32::from_str_radix(umask.trim(), 8).expect("child: octal umask"), parse(MODE_UMASK_ENV));

    let config = match env::var(MODE_REQUEST_ENV).as_deref() {
        Ok("default") => config(),
        _ => config().mode(parse(MODE_REQUEST_ENV)),
    };
    let rx = Receiver::create(&name, &config).unwrap_or_else(|e| panic!("child: {e}"));
    assert_eq!(mode_of(&name), parse(MODE_EXPECT_ENV), "child: mode {:o}", mode_of(&name));
    drop(rx);
    println!("{CHILD_DONE}");
}

#[test]
fn an_mpmc_channel_takes_128_handles_at_once_and_refuses_the_next_clearly() {
    let name = unique("seats");
    let _cleanup = Cleanup(name.clone());
    let config = config().kind(RingKind::Mpmc);
    let rx = Receiver::create(&name, &config).expect("create");
    let mut senders: Vec<Sender> =
        (1..128).map(|i| Sender::open(&name).unwrap_or_else(|e| panic!("{i}: {e}"))).collect();
    let err = Sender::open(&name).expect_err("a 129th handle");
    assert!(matches!(&err, AttachError::Unsupported { what, .. } if what.contains("128")), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");
    // A handle that goes gives its seat back.
    senders.pop();
    senders.push(Sender::open(&name).expect("the freed seat"));
    drop((senders, rx));
}

/// A queue handle on a broadcast channel is refused as such at once, before its
/// doorbell is looked for (a broadcast channel has none): not after the doorbell's
/// wait, not as an uninitialised channel.
#[test]
fn a_queue_handle_on_a_broadcast_channel_is_refused_at_once() {
    let name = unique("queue-on-broadcast");
    let _publisher = ferry::Publisher::create(&name, &Config::new().slot_size(16).capacity(8)).expect("publisher");
    let started = std::time::Instant::now();
    assert!(matches!(Sender::open(&name), Err(AttachError::Unsupported { .. })));
    assert!(matches!(Receiver::open(&name), Err(AttachError::Unsupported { .. })));
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
}
