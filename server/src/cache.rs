//! A bounded in-memory cache of small files' contents.
//!
//! The static handler `lstat`s every path on every request anyway (for the
//! containment check); the cache keys on that result, so an entry is used
//! only while the file's identity and change stamps (device, inode, size,
//! modification and status-change times, to the nanosecond) are exactly those
//! it was read with. A changed, replaced, truncated or re-permissioned file is
//! therefore never served stale, unlike a time-based cache (lighttpd's stat
//! cache). A hit costs no `open`, `read` or `close`.
//!
//! File timestamps are coarse (the kernel stamps them from a clock that
//! ticks every few milliseconds), so two same-size writes in one tick would
//! leave equal stamps. As git does for its index ("racy git"), a file changed
//! less than [`SETTLE`] ago is read but not kept: any later change then gets
//! a different stamp.
//!
//! Bounded by [`MAX_FILE_BYTES`] per file and [`MAX_TOTAL_BYTES`] overall; when
//! full, it is emptied and refilled by later requests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest file kept.
pub const MAX_FILE_BYTES: u64 = 32 * 1024;
/// Most bytes kept in all.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024 * 1024;
/// How long ago a file must have last changed to be kept.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of `meta`.
    pub fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Debug)]
struct Entry {
    stamp: Stamp,
    data: Rc<[u8]>,
}

/// The cache. Interior mutability: the server is single-threaded and the
/// request path holds it by shared reference.
#[derive(Debug)]
pub struct FileCache {
    map: RefCell<HashMap<PathBuf, Entry>>,
    bytes: Cell<usize>,
    settle: Duration,
}

impl Default for FileCache {
    fn default() -> FileCache {
        FileCache::with_settle(SETTLE)
    }
}

impl FileCache {
    /// A cache that keeps files unchanged for at least `settle`.
    pub fn with_settle(settle: Duration) -> FileCache {
        FileCache { map: RefCell::default(), bytes: Cell::new(0), settle }
    }

    /// Whether `stamp` is old enough that a later change must alter it.
    fn is_settled(&self, stamp: &Stamp) -> bool {
        let changed = stamp.mtime.max(stamp.ctime);
        let Ok(secs) = u64::try_from(changed.0) else { return true };
        let nanos = u32::try_from(changed.1).unwrap_or(0);
        let at = UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999));
        SystemTime::now().duration_since(at).is_ok_and(|age| age >= self.settle)
    }

    /// The contents of the file at `path` whose `lstat` gave `meta`: from the
    /// cache when the stamps match, else read (and kept when small enough).
    ///
    /// # Errors
    /// Opening or reading fails, or the file changed between the `lstat` and
    /// the read (`InvalidData`).
    pub fn contents(&self, path: &Path, meta: &Metadata) -> io::Result<Rc<[u8]>> {
        let stamp = Stamp::of(meta);
        if let Some(e) = self.map.borrow().get(path) {
            if e.stamp == stamp {
                return Ok(Rc::clone(&e.data));
            }
        }
        let mut file = File::open(path)?;
        if Stamp::of(&file.metadata()?) != stamp {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file changed while opened"));
        }
        let want = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        let mut data = Vec::with_capacity(want);
        file.by_ref().take(meta.len()).read_to_end(&mut data)?;
        if data.len() != want {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file shrank while read"));
        }
        let data: Rc<[u8]> = data.into();
        if meta.len() <= MAX_FILE_BYTES && self.is_settled(&stamp) {
            self.insert(path, stamp, Rc::clone(&data));
        }
        Ok(data)
    }

    fn insert(&self, path: &Path, stamp: Stamp, data: Rc<[u8]>) {
        let mut map = self.map.borrow_mut();
        let mut bytes = self.bytes.get();
        if let Some(old) = map.remove(path) {
            bytes -= old.data.len();
        }
        if bytes + data.len() > MAX_TOTAL_BYTES {
            map.clear();
            bytes = 0;
        }
        bytes += data.len();
        map.insert(path.to_path_buf(), Entry { stamp, data });
        self.bytes.set(bytes);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn set_mtime(p: &Path, secs: u64) {
        let f = fs::OpenOptions::new().write(true).open(p).unwrap_or_else(|e| panic!("open: {e}"));
        f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap_or_else(|e| panic!("utime: {e}"));
    }

    fn stat(p: &Path) -> Metadata {
        fs::symlink_metadata(p).unwrap_or_else(|e| panic!("stat: {e}"))
    }

    #[test]
    fn hit_miss_and_invalidation() {
        let dir = std::env::temp_dir().join(format!("berth-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let p = dir.join("f.txt");
        fs::write(&p, "one").unwrap_or_else(|e| panic!("write: {e}"));
        set_mtime(&p, 1_000_000);
        let cache = FileCache::with_settle(Duration::ZERO);
        let meta = stat(&p);
        let a = cache.contents(&p, &meta).unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(&a[..], b"one");
        assert_eq!(cache.bytes(), 3);
        // A hit returns the same allocation.
        let b = cache.contents(&p, &meta).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(Rc::ptr_eq(&a, &b));
        // Rewritten with the same size: the new stamps miss, the new bytes are served.
        fs::write(&p, "two").unwrap_or_else(|e| panic!("write: {e}"));
        set_mtime(&p, 2_000_000);
        let meta2 = stat(&p);
        let c = cache.contents(&p, &meta2).unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(&c[..], b"two");
        assert_eq!(cache.bytes(), 3);
        // A stale stat (taken before the change) is refused, never served old.
        assert!(cache.contents(&p, &meta).is_err());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn fresh_files_are_read_but_not_kept() {
        let dir = std::env::temp_dir().join(format!("berth-cache-fresh-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let p = dir.join("f.txt");
        fs::write(&p, "new").unwrap_or_else(|e| panic!("write: {e}"));
        let cache = FileCache::default();
        let a = cache.contents(&p, &stat(&p)).unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(&a[..], b"new");
        assert_eq!(cache.bytes(), 0);
        let _ = fs::remove_dir_all(dir);
    }
}
