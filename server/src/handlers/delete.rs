//! `DELETE`: removes one regular file under the location's root or alias.
//!
//! Decided from the head, like a static file: `204 No Content` once the
//! file is gone; `404` when there is none; `403` for a directory, a symlink
//! (the link is never followed: the target of a link is never deleted, and
//! the link itself is refused too) or a path whose way down passes through
//! a symlink (it could lead outside the root). Only the location's `methods`
//! let a `DELETE` get here (DESIGN.md §5).

use std::fs;
use std::path::Path;

use config::Location;

use super::static_files::relative_path;
use crate::error::HttpError;
use crate::http::response::Reply;

/// Deletes the file `path` (normalised, decoded) maps to in `location`,
/// whose canonical mapping base is `base` (`None`: it does not exist).
///
/// # Errors
/// 404 when nothing is there, 403 for what must not be deleted, the
/// `unlink()` error otherwise.
pub fn delete(location: &Location, base: Option<&Path>, path: &str) -> Result<Reply, HttpError> {
    let Some(base) = base else { return Err(HttpError::plain(404)) };
    let rel = relative_path(location, path);
    let mut file = base.to_path_buf();
    let mut components = rel.split('/').filter(|c| !c.is_empty()).peekable();
    if components.peek().is_none() {
        let why = format!("DELETE of the folder \"{}\" refused", base.display());
        return Err(HttpError::refused(403, why));
    }
    while let Some(component) = components.next() {
        file.push(component);
        // lstat: a symlink is seen as itself, never followed.
        let meta = fs::symlink_metadata(&file).map_err(|e| HttpError::io("lstat()", &file, e))?;
        let last = components.peek().is_none();
        if meta.file_type().is_symlink() {
            let why = format!("DELETE through the symlink \"{}\" refused", file.display());
            return Err(HttpError::refused(403, why));
        }
        if last && !meta.is_file() {
            let what = if meta.is_dir() { "folder" } else { "special file" };
            let why = format!("DELETE of the {what} \"{}\" refused", file.display());
            return Err(HttpError::refused(403, why));
        }
        if !last && !meta.is_dir() {
            return Err(HttpError::plain(404));
        }
    }
    fs::remove_file(&file).map_err(|e| HttpError::io("unlink()", &file, e))?;
    Ok(Reply::new(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_table() {
        let dir = std::env::temp_dir().join(format!("berth-delete-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let outside = dir.join("outside.txt");
        for d in ["root/sub", "root/empty"] {
            fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        for f in ["root/a.txt", "root/sub/b.txt", "outside.txt"] {
            fs::write(dir.join(f), "x").unwrap_or_else(|e| panic!("write: {e}"));
        }
        let link = |target: &Path, at: &str| {
            std::os::unix::fs::symlink(target, root.join(at)).unwrap_or_else(|e| panic!("{e}"))
        };
        link(&outside, "out-link");
        link(&root.join("a.txt"), "in-link");
        link(&root.join("sub"), "sub-link");
        let conf = format!("server {{ root {}; }}", root.display());
        let config =
            config::parse(&conf, &dir.join("berth.conf")).unwrap_or_else(|e| panic!("config: {e}"));
        let location = &config.servers[0].locations[0];
        let base = fs::canonicalize(&root).unwrap_or_else(|e| panic!("{e}"));
        // Path, status, what must still exist after.
        let cases: &[(&str, u16, &[&Path])] = &[
            ("/a.txt", 204, &[]),
            ("/a.txt", 404, &[]),
            ("/missing", 404, &[]),
            ("/a.txt/x", 404, &[]),
            ("/sub/b.txt", 204, &[]),
            ("/sub", 403, &[Path::new("sub")]),
            ("/empty", 403, &[Path::new("empty")]),
            ("/", 403, &[]),
            ("/out-link", 403, &[Path::new("out-link")]),
            ("/in-link", 403, &[Path::new("in-link")]),
            ("/sub-link/b.txt", 403, &[Path::new("sub-link")]),
        ];
        for (path, status, kept) in cases {
            let got = match delete(location, Some(&base), path) {
                Ok(r) => r.status,
                Err(e) => e.status,
            };
            assert_eq!(got, *status, "DELETE {path}");
            for k in *kept {
                assert!(fs::symlink_metadata(root.join(k)).is_ok(), "{} kept", k.display());
            }
        }
        assert!(outside.exists(), "a symlink's target is never deleted");
        assert_eq!(delete(location, None, "/x").map(|r| r.status).map_err(|e| e.status), Err(404));
        let _ = fs::remove_dir_all(dir);
    }
}
