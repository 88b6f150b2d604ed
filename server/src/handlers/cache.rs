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
//!
//! `lstat` results are also remembered for the rest of one loop iteration
//! ([`FileCache::lstat`]): under load one `epoll_wait` reports dozens of
//! requests, often for the same few files, and each would walk the same
//! path in the kernel again. What a client sees is the file system as it
//! was at the start of the iteration (microseconds earlier); nothing is
//! kept past it, and the memo is forgotten at once when Berth itself may
//! have changed files (a DELETE, an upload or a CGI script finishing),
//! so a pipelined request after those sees their effect. A failure with an
//! OS error (`ENOENT`: the 404s of a busy iteration) is remembered the same
//! way.
//!
//! An entry also keeps the file's `ETag` and `Last-Modified` values, formatted
//! once when it is read, since they depend on nothing but its stamp. The map
//! hashes path bytes with [`FxHasher`] rather than SipHash: its keys are
//! paths of files that exist under the served roots, which a client cannot
//! choose freely, so flooding one bucket is not a concern.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::http::conditional::Validators;

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

/// A cached file version: its contents and validators.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The whole file.
    pub data: Rc<[u8]>,
    /// Its `ETag` and `Last-Modified`, shared with the cache entry.
    pub validators: Rc<Validators>,
}

/// The Fx hash (rustc's, from Firefox): one rotate, xor and multiply per
/// 8 bytes. Fast for short keys and fine for keys a client cannot choose.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

/// The Fx multiplier: 2^64 divided by the golden ratio, odd.
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(rest) {
                *w = *b;
            }
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[derive(Debug)]
struct Entry {
    stamp: Stamp,
    data: Rc<[u8]>,
    validators: Rc<Validators>,
}

/// The cache. Interior mutability: the server is single-threaded and the
/// request path holds it by shared reference.
#[derive(Debug)]
pub struct FileCache {
    /// Keyed by the path's bytes (hashing a `Path` walks its components).
    map: RefCell<PathMap<Entry>>,
    bytes: Cell<usize>,
    settle: Duration,
    /// `lstat` results of the current loop iteration, by path: the
    /// metadata or the OS error number.
    stats: RefCell<PathMap<Result<Metadata, i32>>>,
}

/// A map keyed by path bytes, hashed with [`FxHasher`].
type PathMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<FxHasher>>;

/// Most `lstat` results remembered in one loop iteration.
pub const MAX_STATS: usize = 256;

impl Default for FileCache {
    fn default() -> FileCache {
        FileCache::with_settle(SETTLE)
    }
}

impl FileCache {
    /// A cache that keeps files unchanged for at least `settle`.
    pub fn with_settle(settle: Duration) -> FileCache {
        FileCache {
            map: RefCell::default(),
            bytes: Cell::new(0),
            settle,
            stats: RefCell::default(),
        }
    }

    /// `lstat(path)`, answered from this loop iteration's memo when the
    /// same path was looked at already in it.
    ///
    /// # Errors
    /// As [`std::fs::symlink_metadata`] (a failure without an OS error
    /// number is not remembered).
    pub fn lstat(&self, path: &Path) -> io::Result<Metadata> {
        let key = path.as_os_str().as_bytes();
        match self.stats.borrow().get(key) {
            Some(Ok(meta)) => return Ok(meta.clone()),
            Some(Err(code)) => return Err(io::Error::from_raw_os_error(*code)),
            None => {}
        }
        let result = std::fs::symlink_metadata(path);
        let kept = match &result {
            Ok(meta) => Ok(meta.clone()),
            Err(e) => match e.raw_os_error() {
                Some(code) => Err(code),
                None => return result,
            },
        };
        let mut stats = self.stats.borrow_mut();
        if stats.len() < MAX_STATS {
            stats.insert(key.into(), kept);
        }
        result
    }

    /// Forgets the `lstat` results remembered: a new loop iteration, or
    /// files changed by Berth itself.
    pub fn forget_stats(&self) {
        let mut stats = self.stats.borrow_mut();
        if !stats.is_empty() {
            stats.clear();
        }
    }

    /// Whether `stamp` is old enough that a later change must alter it.
    fn is_settled(&self, stamp: &Stamp) -> bool {
        let changed = stamp.mtime.max(stamp.ctime);
        let Ok(secs) = u64::try_from(changed.0) else { return true };
        let nanos = u32::try_from(changed.1).unwrap_or(0);
        let at = UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999));
        SystemTime::now().duration_since(at).is_ok_and(|age| age >= self.settle)
    }

    /// The cached contents and validators of the file at `path` whose
    /// `lstat` gave `meta`, if it is cached with exactly these stamps.
    pub fn get(&self, path: &Path, meta: &Metadata) -> Option<Hit> {
        let map = self.map.borrow();
        let e = map.get(path.as_os_str().as_bytes())?;
        (e.stamp == Stamp::of(meta))
            .then(|| Hit { data: Rc::clone(&e.data), validators: Rc::clone(&e.validators) })
    }

    /// The contents of the file at `path` whose `lstat` gave `meta`: from the
    /// cache when the stamps match, else read (and kept when small enough).
    ///
    /// # Errors
    /// Opening or reading fails, or the file changed between the `lstat` and
    /// the read (`InvalidData`).
    pub fn contents(&self, path: &Path, meta: &Metadata) -> io::Result<Rc<[u8]>> {
        if let Some(hit) = self.get(path, meta) {
            return Ok(hit.data);
        }
        let stamp = Stamp::of(meta);
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
            self.insert(path, stamp, Rc::clone(&data), Rc::new(Validators::of(meta)));
        }
        Ok(data)
    }

    fn insert(&self, path: &Path, stamp: Stamp, data: Rc<[u8]>, validators: Rc<Validators>) {
        let key = path.as_os_str().as_bytes();
        let mut map = self.map.borrow_mut();
        let mut bytes = self.bytes.get();
        if let Some(old) = map.remove(key) {
            bytes -= old.data.len();
        }
        if bytes + data.len() > MAX_TOTAL_BYTES {
            map.clear();
            bytes = 0;
        }
        bytes += data.len();
        map.insert(key.into(), Entry { stamp, data, validators });
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
        let dir = scratch("hit");
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
    fn cached_validators_match_fresh_ones() {
        let dir = scratch("val");
        let p = dir.join("f.txt");
        fs::write(&p, "twelve bytes").unwrap_or_else(|e| panic!("write: {e}"));
        set_mtime(&p, 784_111_777);
        let cache = FileCache::with_settle(Duration::ZERO);
        let meta = stat(&p);
        assert!(cache.get(&p, &meta).is_none());
        cache.contents(&p, &meta).unwrap_or_else(|e| panic!("read: {e}"));
        let hit = cache.get(&p, &meta).unwrap_or_else(|| panic!("not cached"));
        assert_eq!(*hit.validators, Validators::of(&meta));
        assert_eq!(hit.validators.etag, "\"2ebc98a1-c\"");
        assert_eq!(hit.validators.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn fx_hasher_separates_short_keys() {
        use std::hash::Hash;
        let hash = |k: &[u8]| {
            let mut h = FxHasher::default();
            k.hash(&mut h);
            h.finish()
        };
        let keys: &[&[u8]] =
            &[b"", b"a", b"a\0", b"b", b"/www/a.txt", b"/www/b.txt", b"/www/a.txt2"];
        for (i, a) in keys.iter().enumerate() {
            for b in keys.get(i + 1..).unwrap_or_default() {
                assert_ne!(hash(a), hash(b), "{a:?} {b:?}");
            }
        }
    }

    /// An empty scratch folder for one test.
    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-cache-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        dir
    }

    /// ENOENT, as std reports it for a missing path.
    fn libc_enoent() -> i32 {
        fs::metadata("/nonexistent-berth-path").err().and_then(|e| e.raw_os_error()).unwrap_or(-1)
    }

    #[test]
    fn lstat_is_remembered_until_forgotten() {
        let dir = scratch("stat");
        let p = dir.join("f");
        fs::write(&p, "one").unwrap_or_else(|e| panic!("write: {e}"));
        let cache = FileCache::default();
        let first = cache.lstat(&p).unwrap_or_else(|e| panic!("lstat: {e}"));
        fs::write(&p, "longer").unwrap_or_else(|e| panic!("write: {e}"));
        // Same iteration: the memo answers.
        let again = cache.lstat(&p).unwrap_or_else(|e| panic!("lstat: {e}"));
        assert_eq!((first.len(), again.len()), (3, 3));
        cache.forget_stats();
        assert_eq!(cache.lstat(&p).map(|m| m.len()).ok(), Some(6));
        // A failure too, with its error.
        let missing = dir.join("missing");
        assert_eq!(
            cache.lstat(&missing).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::NotFound)
        );
        fs::write(&missing, "now").unwrap_or_else(|e| panic!("write: {e}"));
        let again = cache.lstat(&missing).map_err(|e| e.raw_os_error());
        assert_eq!(again.err(), Some(Some(libc_enoent())));
        cache.forget_stats();
        assert_eq!(cache.lstat(&missing).map(|m| m.len()).ok(), Some(3));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn fresh_files_are_read_but_not_kept() {
        let dir = scratch("fresh");
        let p = dir.join("f.txt");
        fs::write(&p, "new").unwrap_or_else(|e| panic!("write: {e}"));
        let cache = FileCache::default();
        let a = cache.contents(&p, &stat(&p)).unwrap_or_else(|e| panic!("read: {e}"));
        assert_eq!(&a[..], b"new");
        assert_eq!(cache.bytes(), 0);
        let _ = fs::remove_dir_all(dir);
    }
}
