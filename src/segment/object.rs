//! The named object behind a segment, `/dev/shm/ferry.NAME`: opened through its
//! directory without following links, checked for its kind and owner, given its space
//! up front, and locked while it is created, reclaimed or removed.
//!
//! Every name is resolved in `/dev/shm` with `openat(O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)`
//! (glibc's `shm_open` adds `O_NOFOLLOW` too; rustix's does not), so a link planted under
//! a channel's name is refused, never followed, and a FIFO planted there cannot make an
//! open wait. What is opened must be a regular file.
//!
//! # The removal lock
//!
//! Whoever removes a name (a creator dropping its segment, a creator reclaiming a stale
//! one, `ferry rm`, `ferry gc`) first takes `flock(LOCK_EX)` on the object the name
//! names, then checks, under the lock, that the name still names that object (same
//! device and inode), and only then unlinks it. A creator holds the same lock from just
//! after it creates the object until its header is published. So:
//!
//! - a name checked under an object's lock names that object until the lock holder
//!   unlinks it: anyone else who would unlink it must take the lock first;
//! - no process unlinks an object it did not check, however the others interleave;
//! - of several creators racing over a stale name, the first to take the lock unlinks
//!   the stale object; the others find, under the same lock, that the name no longer
//!   names what they judged, and their exclusive create (`O_EXCL`) meets the new
//!   object: exactly one creator wins.
//!
//! Waiting for the lock is bounded ([`LOCK_WAIT`]), so a holder stuck mid-initialise or a
//! same-uid process holding the lock on purpose costs an error, not a hang.

use std::{
    fs::File,
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

use rustix::{
    fs::{self as rfs, AtFlags, FallocateFlags, FileType, FlockOperation, Mode, OFlags, Stat},
    io::Errno,
};

use crate::{error::AttachError, segment::name::file_name};

/// Where POSIX shared-memory objects live on Linux.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// How long a creator, reclaimer or remover waits for another's removal lock.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// A segment's object, opened by name in [`SHM_DIR`].
pub(crate) struct Object {
    /// `SHM_DIR`, so that the name is checked and removed where it was opened.
    dir: OwnedFd,
    /// `ferry.NAME`.
    file_name: String,
    /// The open object.
    pub(crate) file: File,
    /// Its (device, inode).
    identity: (u64, u64),
}

impl Object {
    /// Opens the object `name` names, read-write or read-only, without following a link
    /// and without blocking; it must be a regular file. Returns it and its status.
    pub(crate) fn open(name: &str, write: bool) -> Result<(Self, Stat), AttachError> {
        let dir = directory(name)?;
        let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
        let flags = access | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let file_name = file_name(name);
        let fd = rfs::openat(&dir, &file_name, flags, Mode::empty()).map_err(|e| open_error(e, "open", name))?;
        let stat = rfs::fstat(&fd).map_err(|e| os_error(e, "inspect", name))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(unexpected(name, kind_of(stat.st_mode)));
        }
        let identity = (stat.st_dev, stat.st_ino);
        Ok((Self { dir, file_name, file: File::from(fd), identity }, stat))
    }

    /// Creates the object `name` exclusively with `mode` (whatever the umask), and takes
    /// its removal lock, which the caller holds until the segment is published.
    /// [`AttachError::AlreadyExists`] if the name is taken, by anything (a link included).
    pub(crate) fn create(name: &str, mode: u32) -> Result<Self, AttachError> {
        let dir = directory(name)?;
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let file_name = file_name(name);
        let fd = rfs::openat(&dir, &file_name, flags, Mode::from_raw_mode(mode))
            .map_err(|e| open_error(e, "create", name))?;
        let stat = rfs::fstat(&fd).map_err(|e| os_error(e, "inspect", name))?;
        let object = Self { dir, file_name, file: File::from(fd), identity: (stat.st_dev, stat.st_ino) };
        // Nobody else has a reason to hold the lock of a fresh object but a reclaimer
        // that opened it at once: it finds it uninitialised and lets go.
        if !object.lock() {
            let _ = object.unlink_locked();
            return Err(AttachError::Io { op: "lock", name: name.to_owned(), source: Errno::WOULDBLOCK.into() });
        }
        // The umask may have cleared bits of `mode`: set it exactly.
        rfs::fchmod(&object.file, Mode::from_raw_mode(mode)).map_err(|e| {
            let _ = object.unlink_locked();
            os_error(e, "set the mode of", name)
        })?;
        Ok(object)
    }

    /// Takes the removal lock, waiting at most [`LOCK_WAIT`]; whether it did.
    pub(crate) fn lock(&self) -> bool {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match rfs::flock(&self.file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return true,
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => return false,
            }
        }
    }

    /// Lets the removal lock go.
    pub(crate) fn unlock(&self) {
        let _ = rfs::flock(&self.file, FlockOperation::Unlock);
    }

    /// Whether the name still names this object (not a link, not another object).
    pub(crate) fn still_named(&self) -> bool {
        rfs::statat(&self.dir, &self.file_name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| (st.st_dev, st.st_ino) == self.identity)
    }

    /// Removes the name if it still names this object. The caller holds the removal
    /// lock (see the module doc); returns whether it removed the name.
    pub(crate) fn unlink_locked(&self) -> bool {
        self.still_named() && rfs::unlinkat(&self.dir, &self.file_name, AtFlags::empty()).is_ok()
    }

    /// Gives the object its `size` bytes now, so that running out of shared memory is an
    /// error here rather than SIGBUS at a later write.
    pub(crate) fn reserve(&self, name: &str, size: u64) -> Result<(), AttachError> {
        loop {
            return match rfs::fallocate(&self.file, FallocateFlags::empty(), 0, size) {
                Ok(()) => Ok(()),
                Err(Errno::INTR) => continue,
                Err(Errno::NOSPC | Errno::FBIG) => {
                    Err(AttachError::NoSpace { name: name.to_owned(), needed: size, free: free_space() })
                }
                // A filesystem that cannot reserve (never tmpfs): size it at least.
                Err(Errno::OPNOTSUPP | Errno::NOSYS) => {
                    rfs::ftruncate(&self.file, size).map_err(|e| os_error(e, "size", name))
                }
                Err(e) => Err(os_error(e, "reserve space for", name)),
            };
        }
    }

    /// Reads exactly `buf.len()` bytes at `offset`, without mapping the object: a short
    /// object is an error, never a signal.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// Removes whatever the name `name` names without opening it: a link, a FIFO, any
/// non-directory planted there (for `ferry rm`, which removes junk too).
pub(crate) fn unlink_any(name: &str) -> Result<(), AttachError> {
    let dir = directory(name)?;
    rfs::unlinkat(&dir, file_name(name), AtFlags::empty()).map_err(|e| os_error(e, "remove", name))
}

/// The bytes free in [`SHM_DIR`], for messages.
fn free_space() -> Option<u64> {
    let st = rfs::statvfs(SHM_DIR).ok()?;
    st.f_bavail.checked_mul(st.f_frsize)
}

/// [`SHM_DIR`], opened as the directory names are resolved in. Without it, there is no
/// shared memory here: [`AttachError::Unsupported`] (which `auto:` falls back on).
fn directory(name: &str) -> Result<OwnedFd, AttachError> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    rfs::open(SHM_DIR, flags, Mode::empty()).map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR => AttachError::Unsupported {
            endpoint: format!("shm:{name}"),
            what: "shared memory here (there is no /dev/shm)",
        },
        other => os_error(other, "open /dev/shm for", name),
    })
}

/// An open's error: a link under the name is refused in words of its own.
fn open_error(errno: Errno, op: &'static str, name: &str) -> AttachError {
    match errno {
        Errno::LOOP => unexpected(name, "a symbolic link"),
        other => os_error(other, op, name),
    }
}

fn unexpected(name: &str, found: &str) -> AttachError {
    AttachError::Unexpected {
        name: format!("{SHM_DIR}/{}", file_name(name)),
        found: found.to_owned(),
        expected: "a shared-memory segment (a regular file)",
    }
}

/// What a file of mode `mode` is, in words.
pub(crate) fn kind_of(mode: u32) -> &'static str {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "an object of unknown kind",
    }
}

pub(crate) fn os_error(errno: Errno, op: &'static str, name: &str) -> AttachError {
    let name = name.to_owned();
    match errno {
        Errno::EXIST => AttachError::AlreadyExists { name },
        Errno::NOENT => AttachError::NotFound { name },
        Errno::ACCESS | Errno::PERM => AttachError::PermissionDenied { name },
        Errno::NOSYS | Errno::OPNOTSUPP => {
            AttachError::Unsupported { endpoint: format!("shm:{name}"), what: "shared memory here" }
        }
        other => AttachError::Io { op, name, source: other.into() },
    }
}
