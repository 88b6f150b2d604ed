//! `berth -t -c FILE` over the config crate's corpus: every bad file exits
//! with status 2 and prints its expected `FILE:LINE:COL: message`; every good
//! file exits 0 with nginx's success line.
//!
//! The corpus lives in `config/tests/{bad,good}/`; a bad file states its
//! expectation on its first line (`# expect: LINE:COL: message`) or in a
//! sidecar `NAME.expect`; `{dir}` stands for the file's folder, absolute.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../config/tests/common/corpus.rs"]
mod corpus;

use corpus::{conf_files, corpus_dir, expectation};

fn corpus(name: &str) -> Vec<std::path::PathBuf> {
    conf_files(&corpus_dir(name))
}

fn berth_test(file: &Path, cwd: &Path) -> Output {
    Command::new(tests::berth_bin())
        .arg("-t")
        .arg("-c")
        .arg(file)
        .current_dir(cwd)
        .output()
        .expect("run berth -t")
}

#[test]
fn every_bad_config_exits_2_with_its_message() {
    let files = corpus("bad");
    assert!(files.len() >= 40, "only {} bad configs", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let out = berth_test(file, tests::workspace_root());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}:{}", file.display(), expectation(file));
        if out.status.code() != Some(2) || stderr.trim_end() != want {
            wrong.push(format!(
                "{}: status {:?}\n  stderr: {}\n    want: {want}",
                file.display(),
                out.status.code(),
                stderr.trim_end()
            ));
        }
        assert!(out.stdout.is_empty(), "{}: stdout not empty", file.display());
    }
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), files.len(), wrong.join("\n"));
}

#[test]
fn every_good_config_passes_the_test() {
    let files = corpus("good");
    assert!(!files.is_empty());
    for file in &files {
        let out = berth_test(file, tests::workspace_root());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", file.display());
        assert_eq!(
            stderr.trim_end(),
            format!("berth: configuration file {} test is successful", file.display())
        );
    }
}

#[test]
fn file_is_reported_as_given_and_paths_resolve_against_its_folder() {
    let root = tests::workspace_root();
    // Relative -c from the workspace root: `../fixtures/www` inside the file is
    // relative to config/tests/good, not to the working directory.
    let out = berth_test(Path::new("config/tests/good/minimal.conf"), root);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "berth: configuration file config/tests/good/minimal.conf test is successful"
    );

    let bad = root.join("config/tests/bad");
    let out = berth_test(Path::new("03-unknown-directive-lisen.conf"), &bad);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "03-unknown-directive-lisen.conf:3:5: unknown directive \"lisen\", did you mean \"listen\"?"
    );
}

#[test]
fn missing_file_exits_2() {
    let out = berth_test(Path::new("no/such/berth.conf"), tests::workspace_root());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("no/such/berth.conf: cannot read"), "{stderr}");
}
