//! Names another user (or a careless one) prepared: links planted under a channel's
//! name, objects of another uid squatting it, junk under it, and `auto:` falling back.
//! Every open refuses what it did not expect, at once, and leaves nothing of its own
//! behind.
//!
//! The checks of other uids need root (the objects are made, then `chown`ed to
//! `nobody`); without root they print why they are skipped. Errors are checked by their
//! messages, which are what a user reads.

use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    process,
    time::{Duration, Instant},
};

use ferry::{AttachError, Config, Receiver, Sender};

mod support;
use support::{shm_path, Cleanup};

/// uid and gid of `nobody`, the squatter.
const NOBODY: u32 = 65534;
/// "At once": far below the 2 s an opener waits for a creator.
const AT_ONCE: Duration = Duration::from_millis(500);

fn unique(tag: &str) -> String {
    format!("hn-{}-{tag}", process::id())
}

fn config() -> Config {
    Config::new().slot_size(64).capacity(4)
}

/// A fresh directory for stream endpoints, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("make the test directory");
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `PATH.ferry`, the description file of the stream endpoint at `path`.
fn description(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".ferry");
    PathBuf::from(name)
}

/// `result` is an error whose message contains `needle`.
#[track_caller]
fn assert_refused<T>(result: Result<T, AttachError>, needle: &str, what: &str) {
    match result {
        Ok(_) => panic!("{what}: accepted; it should be refused with `{needle}`"),
        Err(e) => {
            assert!(e.to_string().contains(needle), "{what}: refused, but the error does not say `{needle}`: {e}")
        }
    }
}

fn is_root() -> bool {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        eprintln!("SKIPPED: making objects of uid {NOBODY} needs root; this test runs as uid {euid}");
    }
    euid == 0
}

fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).expect("chown to nobody");
}

// ---------------------------------------------------------------------------------------
// Links are refused, never followed.
// ---------------------------------------------------------------------------------------

#[test]
fn a_link_under_a_segment_name_is_refused_by_open_create_and_inspect() {
    let name = unique("shm-link");
    let _cleanup = Cleanup(name.clone());
    let dir = Dir::new("shm-link");
    // A file only its owner may read, which a link under the channel's name leads to.
    let secret = dir.path("secret");
    fs::write(&secret, b"FERRYSHM but not a segment: secret bytes").expect("write the target");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    symlink(&secret, shm_path(&name)).expect("plant the link");

    assert_refused(Sender::open(&name), "symbolic link", "Sender::open through a link");
    assert_refused(ferry::inspect(&name), "symbolic link", "ferry::inspect through a link");
    let started = Instant::now();
    assert_refused(Receiver::create(&name, &config()), "symbolic link", "Receiver::create over a link");
    assert!(started.elapsed() < AT_ONCE, "create over a link took {:?}", started.elapsed());
    // The link and its target are as they were.
    assert!(fs::symlink_metadata(shm_path(&name)).expect("the link").file_type().is_symlink());
    assert_eq!(fs::read(&secret).expect("the target"), b"FERRYSHM but not a segment: secret bytes");
}

#[test]
fn a_link_to_a_socket_or_to_its_description_is_refused() {
    let dir = Dir::new("unix-link");
    let real = dir.path("real.sock");
    let _rx = Receiver::create(&format!("unix:{}", real.display()), &config()).expect("create the socket");

    // A link to the socket, with a description file of its own.
    let linked = dir.path("linked.sock");
    symlink(&real, &linked).expect("link the socket");
    fs::copy(description(&real), description(&linked)).expect("copy the description");
    assert_refused(Sender::open(&format!("unix:{}", linked.display())), "symbolic link", "a linked socket");

    // The socket itself (a hard link to it), with a link for its description file.
    let described = dir.path("described.sock");
    fs::hard_link(&real, &described).expect("hard-link the socket");
    symlink(description(&real), description(&described)).expect("link the description");
    assert_refused(Sender::open(&format!("unix:{}", described.display())), "symbolic link", "a linked description");

    // The real one opens.
    Sender::open(&format!("unix:{}", real.display())).expect("the socket itself opens");
}

#[test]
fn a_link_to_a_fifo_is_refused() {
    let dir = Dir::new("fifo-link");
    let real = dir.path("real.fifo");
    let _rx = Receiver::create(&format!("fifo:{}", real.display()), &config()).expect("create the FIFO");
    let linked = dir.path("linked.fifo");
    symlink(&real, &linked).expect("link the FIFO");
    fs::copy(description(&real), description(&linked)).expect("copy the description");
    assert_refused(Sender::open(&format!("fifo:{}", linked.display())), "symbolic link", "a linked FIFO");
    Sender::open(&format!("fifo:{}", real.display())).expect("the FIFO itself opens");
}

// ---------------------------------------------------------------------------------------
// Another uid's objects squatting a name are refused.
// ---------------------------------------------------------------------------------------

#[test]
fn another_uids_segment_socket_fifo_or_description_is_refused() {
    if !is_root() {
        return;
    }
    let owned_by_nobody = "belongs to uid 65534";
    let open_config = config().mode(0o666);

    // A segment.
    let name = unique("squat-shm");
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &open_config).expect("create the segment");
    chown_nobody(&shm_path(&name));
    assert_refused(Sender::open(&name), owned_by_nobody, "another uid's segment");
    assert_refused(Receiver::open(&name), owned_by_nobody, "another uid's segment");
    ferry::OpenOptions::new().allow_owner(NOBODY).open_sender(&name).expect("an allowed owner's segment opens");
    drop(rx);

    let dir = Dir::new("squat-stream");
    for scheme in ["unix", "fifo"] {
        // The endpoint file.
        let path = dir.path(&format!("endpoint.{scheme}"));
        let endpoint = format!("{scheme}:{}", path.display());
        let rx = Receiver::create(&endpoint, &open_config).expect("create the endpoint");
        chown_nobody(&path);
        assert_refused(Sender::open(&endpoint), owned_by_nobody, &format!("another uid's {scheme} endpoint"));
        drop(rx);

        // Only the description file.
        let path = dir.path(&format!("described.{scheme}"));
        let endpoint = format!("{scheme}:{}", path.display());
        let _rx = Receiver::create(&endpoint, &open_config).expect("create the endpoint");
        chown_nobody(&description(&path));
        assert_refused(Sender::open(&endpoint), owned_by_nobody, &format!("another uid's {scheme} description"));
        ferry::OpenOptions::new()
            .allow_owner(NOBODY)
            .open_sender(&endpoint)
            .unwrap_or_else(|e| panic!("an allowed owner's {scheme} description: {e}"));
    }
}

#[test]
fn auto_does_not_fall_back_past_a_refused_segment() {
    if !is_root() {
        return;
    }
    let name = unique("auto-squat");
    let _cleanup = Cleanup(name.clone());
    // Receivers where a careless `auto:` would fall back to: the world-writable
    // temporary directory and the runtime directory.
    let mut decoys = Vec::new();
    for dir in
        [Some(PathBuf::from("/tmp")), std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)].into_iter().flatten()
    {
        let path = dir.join(format!("ferry.{name}.sock"));
        if let Ok(rx) = Receiver::create(&format!("unix:{}", path.display()), &config()) {
            decoys.push(rx);
        }
    }
    // Another uid's segment squats the name.
    let squatter = Receiver::create(&name, &config().mode(0o666)).expect("create the squatting segment");
    chown_nobody(&shm_path(&name));

    assert_refused(Sender::open(&format!("auto:{name}")), "belongs to uid 65534", "auto: sender past a squatter");
    assert_refused(
        Receiver::create(&format!("auto:{name}"), &config()),
        "belongs to uid 65534",
        "auto: receiver past a squatter",
    );
    drop(squatter);
    drop(decoys);
}

// ---------------------------------------------------------------------------------------
// Junk under a name: refused at once, nothing of ours left behind.
// ---------------------------------------------------------------------------------------

#[test]
fn create_over_junk_fails_at_once_and_leaves_nothing() {
    let name = unique("junk-shm");
    let _cleanup = Cleanup(name.clone());
    fs::write(shm_path(&name), b"x").expect("a 1-byte junk object");
    let started = Instant::now();
    assert_refused(Receiver::create(&name, &config()), "not a ferry segment", "create over a 1-byte object");
    assert_refused(Sender::open(&name), "not a ferry segment", "open of a 1-byte object");
    assert!(started.elapsed() < AT_ONCE, "create and open over junk took {:?}", started.elapsed());
    assert_eq!(fs::read(shm_path(&name)).expect("the junk"), b"x", "the junk was changed");

    let dir = Dir::new("junk-stream");
    // A description file that cannot be replaced (here a directory): the socket made
    // before it is removed again.
    let socket = dir.path("blocked.sock");
    fs::create_dir(description(&socket)).expect("block the description");
    let started = Instant::now();
    assert!(Receiver::create(&format!("unix:{}", socket.display()), &config()).is_err());
    assert!(started.elapsed() < AT_ONCE, "create took {:?}", started.elapsed());
    assert!(!socket.exists(), "a failed create left its socket behind");

    // A regular file where a socket or FIFO would go is not replaced.
    for scheme in ["unix", "fifo"] {
        let path = dir.path(&format!("file.{scheme}"));
        fs::write(&path, b"mine").expect("a regular file");
        let started = Instant::now();
        assert_refused(
            Receiver::create(&format!("{scheme}:{}", path.display()), &config()),
            "regular file",
            &format!("{scheme} create over a regular file"),
        );
        assert!(started.elapsed() < AT_ONCE, "create took {:?}", started.elapsed());
        assert_eq!(fs::read(&path).expect("the file"), b"mine");
        assert!(!description(&path).exists(), "a failed create left a description behind");
    }
}

#[test]
fn config_mode_is_permission_bits_only() {
    for mode in [0o4600, 0o2600, 0o1600, 0o10000, u32::MAX] {
        let name = unique(&format!("mode-{mode:o}"));
        let _cleanup = Cleanup(name.clone());
        assert_refused(Receiver::create(&name, &config().mode(mode)), "permission bits", &format!("mode {mode:#o}"));
        assert!(!shm_path(&name).exists(), "a refused mode {mode:#o} left a segment");
    }
    let name = unique("mode-777");
    let _cleanup = Cleanup(name.clone());
    let _rx = Receiver::create(&name, &config().mode(0o777)).expect("mode 0o777");
    let mode = fs::metadata(shm_path(&name)).expect("the segment").permissions().mode();
    assert_eq!(mode & 0o7777, 0o777);
}
