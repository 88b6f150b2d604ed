//! A temporary directory removed on drop, and helpers to fill it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under [`std::env::temp_dir`], unique per process and
/// call, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a new empty directory named `berth-test-<pid>-<n>`.
    ///
    /// # Panics
    /// If the directory cannot be created (a broken test machine).
    pub fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("berth-test-{pid}-{n}"));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                // Left over from an earlier process with the same pid.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create temp dir {}: {e}", path.display()),
            }
        }
    }

    /// The directory's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path()` joined with `rel`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `contents` to `rel` (relative to the directory), creating
    /// parent directories as needed.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Creates the directory `rel` and its parents.
    ///
    /// # Panics
    /// If it cannot be created.
    pub fn dir(&self, rel: &str) -> &Self {
        let path = self.join(rel);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        self
    }

    /// Creates a symbolic link at `rel` pointing to `target` (as given, so a
    /// relative target is relative to the link's folder).
    ///
    /// # Panics
    /// If the link cannot be made.
    #[cfg(unix)]
    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) -> &Self {
        let path = self.join(rel);
        std::os::unix::fs::symlink(target.as_ref(), &path)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", path.display()));
        self
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a failure here must not turn a passing test into a panic.
        let _ = fs::remove_dir_all(&self.path);
    }
}
