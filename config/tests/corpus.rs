//! The corpus of bad configurations: every file in `tests/bad/` must fail
//! [`config::load`] with exactly the message and place it expects, and every
//! file in `tests/good/` must load.
//! The corpus format is described in `common/corpus.rs`.

use std::fs;

#[path = "common/corpus.rs"]
mod corpus;

use corpus::{conf_files, corpus_dir, expectation, expected_warnings};

#[test]
fn every_bad_config_fails_with_its_expected_message() {
    let files = conf_files(&corpus_dir("bad"));
    assert!(files.len() >= 40, "the corpus has only {} bad configs", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let want = expectation(file);
        match config::load(file) {
            Ok(_) => wrong.push(format!("{}: accepted, want {want}", file.display())),
            Err(e) => {
                let got = format!("{}:{}: {}", e.line, e.col, e.message);
                if got != want {
                    wrong.push(format!("{}:\n   got: {got}\n  want: {want}", file.display()));
                    continue;
                }
                // Display is FILE:LINE:COL: message with the file as given.
                assert_eq!(e.to_string(), format!("{}:{want}", file.display()));
                assert_eq!(e.file, *file);
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} wrong:\n{}", wrong.len(), files.len(), wrong.join("\n"));
}

#[test]
fn every_good_config_loads_with_exactly_its_warnings() {
    let files = conf_files(&corpus_dir("good"));
    assert!(files.len() >= 3);
    for file in &files {
        let c = config::load(file).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<String> =
            c.warnings.iter().map(|w| format!("{}:{}: {}", w.line, w.col, w.message)).collect();
        assert_eq!(got, expected_warnings(file), "{}", file.display());
        for w in &c.warnings {
            assert_eq!(w.file, *file);
        }
    }
}

#[test]
fn parse_agrees_with_load() {
    for file in conf_files(&corpus_dir("good")).iter().chain(&conf_files(&corpus_dir("bad"))) {
        let src = fs::read_to_string(file).expect("read corpus file");
        assert_eq!(config::parse(&src, file), config::load(file), "{}", file.display());
    }
}

#[test]
fn good_full_config_model() {
    let file = corpus_dir("good").join("full.conf");
    let c = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let fixtures = corpus_dir("good").join("../fixtures");
    assert_eq!(c.max_connections, 10000);
    assert_eq!(c.access_log, Some(fixtures.join("access.log")));
    let s = &c.servers[0];
    assert_eq!(s.root, Some(fixtures.join("www")));
    assert_eq!(s.timeouts.keepalive, std::time::Duration::from_secs(5));
    assert_eq!(s.timeouts.cgi, std::time::Duration::from_millis(500));
    let (si, li) = c.route(1, Some("anything"), "/uploads/a.txt");
    let up = &c.servers[si].locations[li];
    assert_eq!(up.upload_store, Some(fixtures.join("www/uploads")));
    assert_eq!(up.error_page(413), Some("/errors/50x.html"));
    assert_eq!(up.error_page(404), None, "a location's error_page replaces the server's");
    assert!(c.listeners[1].reuseport);
    let (si, li) = c.route(0, Some("example.test"), "/docs/x");
    assert_eq!(
        c.servers[si].locations[li].mapping,
        config::Mapping::Alias(fixtures.join("manual"))
    );
}

#[test]
fn unreadable_and_non_utf8_files() {
    let missing = corpus_dir("no-such-file.conf");
    let e = config::load(&missing).unwrap_err();
    assert_eq!((e.line, e.col), (0, 0));
    assert!(e.to_string().starts_with(&format!("{}: cannot read", missing.display())), "{e}");

    let dir = std::env::temp_dir().join(format!("berth-config-corpus-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create temp dir");
    let bad = dir.join("latin1.conf");
    fs::write(&bad, b"server {\n  root caf\xe9;\n}\n").expect("write temp file");
    let e = config::load(&bad).unwrap_err();
    assert_eq!((e.line, e.col, e.message.as_str()), (2, 11, "invalid UTF-8"));
    fs::remove_dir_all(&dir).expect("remove temp dir");
}
