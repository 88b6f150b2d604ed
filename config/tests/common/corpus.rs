//! Reading the bad/good configuration corpus, shared by `config/tests/corpus.rs`
//! (through `config::load`) and `tests/tests/config_check.rs` (through
//! `berth -t`), which include this file with `#[path]`.
//!
//! A bad file states its expectation on its first line,
//! `# expect: LINE:COL: message`, or in a sidecar `NAME.expect` (for files
//! that cannot hold a comment, like the empty one). A good file lists the
//! warnings it must produce, in order, as `# warn: LINE:COL: message` lines
//! (none: it must produce none). `{dir}` in a message stands for the file's
//! folder, absolute.

use std::fs;
use std::path::{Path, PathBuf};

/// The corpus folder `name` (`bad`, `good`) under `config/tests/`.
pub fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tests").join(name)
}

/// The `.conf` files of a corpus folder, sorted.
pub fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}

/// `LINE:COL: message` expected for `file`, with `{dir}` filled in.
pub fn expectation(file: &Path) -> String {
    let sidecar = file.with_extension("expect");
    let raw = if sidecar.exists() {
        fs::read_to_string(&sidecar).expect("read sidecar").trim_end().to_string()
    } else {
        let text = fs::read_to_string(file).expect("read corpus file");
        let first = text.lines().next().unwrap_or("");
        first
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{}: first line is not `# expect: ...`", file.display()))
            .to_string()
    };
    let dir = std::path::absolute(file.parent().expect("corpus file has a folder"))
        .expect("absolute folder");
    raw.replace("{dir}", &dir.display().to_string())
}

/// `LINE:COL: message` of every warning `file` must produce, in order.
#[allow(dead_code)] // not every including test checks warnings
pub fn expected_warnings(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).expect("read corpus file");
    text.lines().filter_map(|l| l.strip_prefix("# warn: ")).map(str::to_string).collect()
}
