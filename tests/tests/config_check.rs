//! `berth -t -c FILE` over the config crate's corpus: every bad file exits
//! with status 2 and prints its expected `FILE:LINE:COL: message`; every good
//! file exits 0 with its expected warnings, then nginx's success line. Also
//! the command line around it: `--poller` checked by `-t`, `-h`, a missing
//! file, exit statuses, friendly OS errors.
//!
//! The corpus lives in `config/tests/{bad,good}/`; a bad file states its
//! expectation on its first line (`# expect: LINE:COL: message`) or in a
//! sidecar `NAME.expect`; `{dir}` stands for the file's folder, absolute.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../config/tests/common/corpus.rs"]
mod corpus;

use corpus::{conf_files, corpus_dir, expectation, expected_warnings};

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
fn every_good_config_passes_the_test_with_its_warnings() {
    let files = corpus("good");
    assert!(!files.is_empty());
    for file in &files {
        let out = berth_test(file, tests::workspace_root());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", file.display());
        let mut want: Vec<String> = expected_warnings(file)
            .iter()
            .map(|w| {
                let (place, message) = w.split_at(w.find(": ").expect("LINE:COL: message"));
                format!("{}:{place}: warning{message}", file.display())
            })
            .collect();
        want.push(format!("berth: configuration file {} test is successful", file.display()));
        assert_eq!(stderr.trim_end(), want.join("\n"), "{}", file.display());
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
fn missing_file_exits_2_naming_its_folder() {
    let root = tests::workspace_root();
    let out = berth_test(Path::new("no/such/berth.conf"), root);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let abs = root.join("no/such/berth.conf");
    assert_eq!(
        stderr.trim_end(),
        format!("berth: cannot read \"{}\": No such file or directory", abs.display())
    );
    // Without -c, where it looked and how to name another file.
    let dir = tests::TempDir::new();
    let out = Command::new(tests::berth_bin()).arg("-t").current_dir(dir.path()).output();
    let out = out.expect("run berth -t");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "berth: cannot read \"{}\": No such file or directory\n\
         berth: run berth from the folder holding berth.conf, or name the file with -c FILE",
        dir.join("berth.conf").display()
    );
    assert_eq!(stderr.trim_end(), want);
    assert!(!stderr.contains("os error"), "{stderr}");
}

fn berth(args: &[&str]) -> Output {
    Command::new(tests::berth_bin())
        .args(args)
        .current_dir(tests::workspace_root())
        .output()
        .expect("run berth")
}

/// `-t` checks `--poller` too: a backend this platform does not have fails
/// the test (it used to pass `-t` and fail at the start); `-h` lists only
/// the backends this platform has.
#[cfg(target_os = "linux")]
#[test]
fn poller_is_checked_by_t_and_h_lists_this_platforms_backends() {
    let good = corpus("good");
    let file = good.first().expect("a good config").display().to_string();
    let out = berth(&["-t", "-c", &file, "--poller", "kqueue"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "berth: poller \"kqueue\" is not available on this platform (available: epoll, poll)\n"
        ),
        "{stderr}"
    );
    for backend in ["epoll", "poll"] {
        assert_eq!(berth(&["-t", "-c", &file, "--poller", backend]).status.code(), Some(0));
    }
    let out = berth(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.starts_with("usage: berth [-c FILE] [-t] [--poller epoll|poll] [-V] [-h]"),
        "{help}"
    );
    assert!(!help.contains("kqueue"), "{help}");
    assert!(help.contains("exit status: 0"), "{help}");
}

/// Exit status 1 for a failure at run time (an address in use), with the
/// address named and no Rust `(os error N)` suffix; 2 for a usage error.
#[test]
fn bind_failure_exits_1_with_a_friendly_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("local addr").port();
    let dir = tests::TempDir::new();
    dir.dir("www");
    let conf = dir.join("berth.conf");
    let text =
        format!("server {{ listen 127.0.0.1:{port}; root {}/www; }}\n", dir.path().display());
    std::fs::write(&conf, text).expect("write config");
    let out = Command::new(tests::berth_bin()).arg("-c").arg(&conf).output().expect("run berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "berth: bind 127.0.0.1:{port}: Address already in use (another server listens there)"
        )
    );
    let out = berth(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("berth: invalid option: \"--frobnicate\"")
    );
}

tests::backend_tests! {
    /// Warnings are printed at the start too, not only by `-t`.
    fn warnings_are_printed_at_the_start(backend) {
        let config = "\
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
}
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
}
";
        let berth = tests::Berth::start(backend, config, |d| {
            d.dir("www");
        });
        let want = format!(
            "{}:6:12: warning: conflicting server name \"\" on 127.0.0.1:{}, ignored",
            berth.config_path().display(),
            berth.port(0)
        );
        assert!(berth.stderr_text().contains(&want), "{}", berth.stderr_text());
    }
}
