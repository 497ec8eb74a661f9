//! Where a receiving route has got to in each publishing session, kept in a small file so
//! that a bridge restarted after a crash (or `kill -9`) counts what was lost while it was
//! down instead of starting from nothing.
//!
//! The file is mapped into memory, so recording a message is a store to memory, not a
//! system call; the kernel keeps the pages when the process dies. It holds a fixed table:
//!
//! ```text
//! offset  size             field
//!      0     8             magic b"ferrycur"
//!      8     4             layout version (1), u32 little-endian
//!     12     4             number of entries (16), u32 little-endian
//!     16  16 x 24          entries: session u64, next u64, assigned u64 (little-endian)
//! ```
//!
//! `session` 0 marks a free entry; `next` is the first sequence number not yet handled in
//! that session; `assigned` orders the entries by when they were taken, so a new session
//! replaces the one that arrived longest ago. An entry is taken by clearing its session,
//! writing `next` and `assigned`, then writing the session: a bridge killed half way leaves
//! a free entry, never a session paired with another session's position. Each field is
//! one aligned 8-byte store, which a signal cannot split.
//!
//! A file that is not this table (another size, magic or version) is reset. The file is
//! locked (`flock`) while a bridge uses it, so two bridges cannot share one route's cursor.

use std::{
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use memmap2::MmapMut;

/// The table's first bytes.
const MAGIC: [u8; 8] = *b"ferrycur";
/// The table's layout version.
const VERSION: u32 = 1;
/// Sessions the table remembers.
pub(crate) const ENTRIES: usize = 16;
/// Bytes before the first entry.
const HEADER: usize = 16;
/// Bytes of one entry.
const ENTRY: usize = 24;
/// Bytes of the whole table.
const TABLE: usize = HEADER + ENTRIES * ENTRY;

/// Field offsets inside an entry.
const SESSION: usize = 0;
const NEXT: usize = 8;
const ASSIGNED: usize = 16;

/// The table of sessions and positions, in a mapped file or (without one) on the heap.
pub(crate) struct Cursor {
    bytes: Backing,
    /// The largest `assigned` value in the table.
    generation: u64,
}

enum Backing {
    Heap(Vec<u8>),
    File {
        map: MmapMut,
        /// Holds the `flock` for as long as the cursor lives.
        _file: File,
    },
}

impl Cursor {
    /// A table that lives and dies with this process.
    pub(crate) fn in_memory() -> Self {
        let mut bytes = vec![0u8; TABLE];
        write_header(&mut bytes);
        Self { bytes: Backing::Heap(bytes), generation: 0 }
    }

    /// Opens (or creates, mode 0600) the table in the file at `path`, refusing a link, a
    /// file of another owner, and a file another bridge has locked.
    ///
    /// # Errors
    ///
    /// Any failure to open, lock, size or map the file, with the path in the message.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what} `{}`: {e}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| context("open the cursor file", e))?;
        let meta = file.metadata().map_err(|e| context("stat the cursor file", e))?;
        if !meta.is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the cursor file `{}` is not a regular file of this user: remove it", path.display()),
            ));
        }
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("another bridge is running this route: it holds `{}`", path.display()),
            )
        })?;
        file.set_len(TABLE as u64).map_err(|e| context("size the cursor file", e))?;
        // SAFETY: the file is a regular file of ours that this process holds an exclusive
        // flock on, sized to TABLE bytes above: no other bridge maps or resizes it while we
        // do. A process ignoring the lock could change its bytes under us, which only makes
        // the numbers we read wrong (every one is bounds-checked), never unsound: the map is
        // read and written as plain bytes.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| context("map the cursor file", e))?;
        let mut cursor = Self { bytes: Backing::File { map, _file: file }, generation: 0 };
        let bytes = cursor.bytes_mut();
        if bytes.len() != TABLE
            || bytes[..8] != MAGIC
            || read_u32(bytes, 8) != VERSION
            || read_u32(bytes, 12) as usize != ENTRIES
        {
            bytes.fill(0);
            write_header(bytes);
        }
        cursor.generation = (0..ENTRIES).map(|i| cursor.field(i, ASSIGNED)).max().unwrap_or(0);
        Ok(cursor)
    }

    /// The sessions the table remembers, as `(entry, session, next)`.
    pub(crate) fn sessions(&self) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
        (0..ENTRIES).filter_map(|i| {
            let session = self.field(i, SESSION);
            (session != 0).then(|| (i, session, self.field(i, NEXT)))
        })
    }

    /// Entry `entry`'s `(session, next)`; session 0 if it is free.
    pub(crate) fn get(&self, entry: usize) -> (u64, u64) {
        (self.field(entry, SESSION), self.field(entry, NEXT))
    }

    /// Takes an entry for `session` starting at `next`: a free one, else the one taken
    /// longest ago. Returns its index.
    pub(crate) fn assign(&mut self, session: u64, next: u64) -> usize {
        let entry = (0..ENTRIES)
            .find(|&i| self.field(i, SESSION) == 0)
            .unwrap_or_else(|| (0..ENTRIES).min_by_key(|&i| self.field(i, ASSIGNED)).expect("the table has entries"));
        self.generation += 1;
        let generation = self.generation;
        self.set_field(entry, SESSION, 0);
        self.set_field(entry, NEXT, next);
        self.set_field(entry, ASSIGNED, generation);
        self.set_field(entry, SESSION, session);
        entry
    }

    /// Records that entry `entry`'s session has handled every number below `next`.
    pub(crate) fn advance(&mut self, entry: usize, next: u64) {
        self.set_field(entry, NEXT, next);
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Backing::Heap(v) => v,
            Backing::File { map, .. } => map,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match &mut self.bytes {
            Backing::Heap(v) => v,
            Backing::File { map, .. } => map,
        }
    }

    fn field(&self, entry: usize, field: usize) -> u64 {
        let at = HEADER + entry * ENTRY + field;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes()[at..at + 8]);
        u64::from_le_bytes(b)
    }

    fn set_field(&mut self, entry: usize, field: usize, value: u64) {
        let at = HEADER + entry * ENTRY + field;
        self.bytes_mut()[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn write_header(bytes: &mut [u8]) {
    bytes[..8].copy_from_slice(&MAGIC);
    bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
    bytes[12..16].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
}

/// The directory for cursor files: `dir` if given, else `$XDG_RUNTIME_DIR/ferry-bridge`,
/// else `/tmp/ferry-bridge-UID`. Created with mode 0700 if missing; refused unless it is a
/// directory (not a link) of this user, and for the default ones, unless only this user
/// can enter it.
///
/// # Errors
///
/// The directory cannot be created, or is not safe to keep state in.
pub(crate) fn state_dir(dir: Option<&Path>) -> io::Result<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let (path, private) = match dir {
        Some(dir) => (dir.to_path_buf(), false),
        None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(run) => (PathBuf::from(run).join("ferry-bridge"), true),
            None => (PathBuf::from(format!("/tmp/ferry-bridge-{uid}")), true),
        },
    };
    match fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("create `{}`: {e}", path.display()))),
    }
    let meta = fs::symlink_metadata(&path)?;
    if !meta.is_dir() || meta.uid() != uid || (private && meta.mode() & 0o077 != 0) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("`{}` is not a private directory of this user; remove it or pass --state DIR", path.display()),
        ));
    }
    Ok(path)
}

/// The cursor file of the route from Zenoh key expression `key` into local channel
/// `channel`, in `dir`: a readable stem and a hash of both names.
pub(crate) fn file_for(dir: &Path, key: &str, channel: &str) -> PathBuf {
    let readable: String = format!("{key}--{channel}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .take(100)
        .collect();
    // FNV-1a over both names, so names that read alike do not share a file.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain([0]).chain(channel.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    dir.join(format!("{readable}.{hash:016x}.cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferry-cursor-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("create the scratch directory");
        dir
    }

    #[test]
    fn positions_survive_a_reopen_and_the_oldest_session_makes_room() {
        let dir = scratch_dir("reopen");
        let path = file_for(&dir, "demo/**", "shm:b");
        {
            let mut c = Cursor::open(&path).expect("create");
            assert_eq!(c.sessions().count(), 0);
            let first = c.assign(11, 0);
            c.advance(first, 42);
            for session in 12..12 + ENTRIES as u64 {
                c.assign(session, 1);
            }
            // Session 11 was assigned first: the 17th session replaced it.
            assert!(c.sessions().all(|(_, s, _)| s != 11));
            assert_eq!(c.sessions().count(), ENTRIES);
        }
        let c = Cursor::open(&path).expect("reopen");
        let remembered: Vec<_> = c.sessions().map(|(_, s, n)| (s, n)).collect();
        assert_eq!(remembered.len(), ENTRIES);
        assert!(remembered.contains(&(12, 1)) && remembered.contains(&(27, 1)));
        drop(c);
        let mut again = Cursor::open(&path).expect("reopen while nobody holds it");
        let e = again.assign(99, 5);
        again.advance(e, 6);
        drop(again);
        let c = Cursor::open(&path).expect("reopen");
        assert!(c.sessions().any(|(_, s, n)| (s, n) == (99, 6)));
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_second_holder_and_a_foreign_file_are_refused_or_reset() {
        let dir = scratch_dir("lock");
        let path = file_for(&dir, "k", "shm:c");
        let held = Cursor::open(&path).expect("create");
        let err = Cursor::open(&path).err().expect("a second bridge on the same route");
        assert!(err.to_string().contains("another bridge"), "{err}");
        drop(held);
        fs::write(&path, b"not a cursor table").expect("overwrite");
        let c = Cursor::open(&path).expect("a foreign file is reset");
        assert_eq!(c.sessions().count(), 0);
        drop(c);
        let link = dir.join("link.cursor");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        assert!(Cursor::open(&link).is_err(), "a link is refused");
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn names_that_read_alike_get_different_files() {
        let dir = Path::new("/x");
        assert_ne!(file_for(dir, "a/b", "shm:c"), file_for(dir, "a_b", "shm:c"));
        assert_eq!(file_for(dir, "a/b", "shm:c"), file_for(dir, "a/b", "shm:c"));
    }
}
