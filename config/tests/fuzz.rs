//! Seeded mutation testing: valid (and invalid) configurations are mutated
//! at random, by token and by byte, many thousands of times, and the parser
//! must never panic; every error it returns must point inside the text.
//!
//! std only: a xorshift PRNG with a fixed seed, so a failure reproduces.
//! `BERTH_FUZZ_CASES` and `BERTH_FUZZ_SEED` override the defaults.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

/// xorshift64* (Vigna): small, fast, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces worth inserting: punctuation, quotes, escapes, directive names,
/// values at the edges of what is valid.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    ";",
    "\"",
    "#",
    "\\",
    "\n",
    " ",
    "\t",
    "\\\"",
    "server",
    "location",
    "listen",
    "root",
    "alias",
    "return",
    "cgi",
    "error_page",
    "methods",
    "index",
    "upload_store",
    "session",
    "session_timeout",
    "session_max",
    "autoindex",
    "client_max_body_size",
    "keepalive_timeout",
    "max_connections",
    "default_server",
    "reuseport",
    "on",
    "off",
    "0",
    "65535",
    "65536",
    "99999999999999999999",
    "1g",
    "18446744073709551615",
    "500ms",
    "1h30m",
    "[::1]:80",
    "localhost:8080",
    "/",
    "/x",
    "../fixtures/www",
    "/nope",
    ".py",
    "301",
    "é",
    "\u{0}",
    "\r\n",
];

/// Splits into tokens that keep their separators, so joining is lossless.
fn tokens(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in src.chars() {
        let sep = c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '#');
        if sep {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn mutate_tokens(src: &str, rng: &mut Rng) -> String {
    let mut t = tokens(src);
    for _ in 0..=rng.below(4) {
        let n = t.len();
        match rng.below(5) {
            0 if n > 0 => {
                t.remove(rng.below(n));
            }
            1 if n > 0 => {
                let i = rng.below(n);
                let dup = t[i].clone();
                t.insert(rng.below(n + 1), dup);
            }
            2 if n > 1 => {
                let (i, j) = (rng.below(n), rng.below(n));
                t.swap(i, j);
            }
            3 => {
                let piece = DICTIONARY[rng.below(DICTIONARY.len())].to_string();
                t.insert(rng.below(n + 1), piece);
            }
            _ if n > 0 => {
                let i = rng.below(n);
                t[i] = DICTIONARY[rng.below(DICTIONARY.len())].to_string();
            }
            _ => t.push("}".into()),
        }
    }
    t.concat()
}

fn mutate_bytes(src: &str, rng: &mut Rng) -> String {
    let mut b = src.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let n = b.len();
        match rng.below(4) {
            0 if n > 0 => {
                b.remove(rng.below(n));
            }
            1 if n > 0 => {
                let i = rng.below(n);
                let len = 1 + rng.below(16.min(n - i));
                let chunk = b[i..i + len].to_vec();
                let at = rng.below(n + 1);
                b.splice(at..at, chunk);
            }
            2 if n > 1 => {
                let (i, j) = (rng.below(n), rng.below(n));
                b.swap(i, j);
            }
            _ => {
                let at = rng.below(n + 1);
                b.insert(at, (rng.next() & 0xff) as u8);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn seeds() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for dir in ["good", "bad"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(dir);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .expect("read corpus folder")
            .map(|e| e.expect("read_dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        for f in files {
            let src = fs::read_to_string(&f).expect("read seed");
            out.push((f, src));
        }
    }
    out
}

/// Parses `src`; on error checks the place is inside the text.
fn check(src: &str, file: &Path) -> Result<(), String> {
    match config::parse(src, file) {
        Ok(cfg) => {
            // A model that parsed must route without panicking.
            for l in 0..=cfg.listeners.len() {
                let _ = cfg.route(l, Some("Example.TEST.:80"), "/a/b");
                let _ = cfg.route(l, None, "*");
            }
            if cfg
                .servers
                .iter()
                .any(|s| s.locations.last().map(|l| l.prefix.as_str()) != Some("/"))
            {
                return Err("a server without a final \"/\" location".into());
            }
            Ok(())
        }
        Err(e) => {
            let lines = src.split('\n').count() as u32;
            if e.line < 1 || e.line > lines || e.col < 1 {
                return Err(format!("error outside the text: {e}"));
            }
            let line = src.split('\n').nth(e.line as usize - 1).unwrap_or("");
            if e.col as usize > line.chars().count() + 1 {
                return Err(format!("column past the end of its line: {e}"));
            }
            if e.message.is_empty() {
                return Err("empty message".into());
            }
            Ok(())
        }
    }
}

#[test]
fn mutated_configs_never_panic() {
    let cases: usize =
        std::env::var("BERTH_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(40_000);
    let seed: u64 = std::env::var("BERTH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b3e7_c0ff_ee00);
    let seeds = seeds();
    assert!(seeds.len() >= 40);
    let mut rng = Rng::new(seed);
    let mut accepted = 0usize;
    for case in 0..cases {
        let (file, src) = &seeds[rng.below(seeds.len())];
        let mutated = if rng.below(2) == 0 {
            mutate_tokens(src, &mut rng)
        } else {
            mutate_bytes(src, &mut rng)
        };
        let outcome = panic::catch_unwind(|| check(&mutated, file));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("case {case} (seed {seed:#x}): {why}\n--- input ---\n{mutated}"),
            Err(_) => {
                panic!("case {case} (seed {seed:#x}): parser panicked\n--- input ---\n{mutated}")
            }
        }
        if config::parse(&mutated, file).is_ok() {
            accepted += 1;
        }
    }
    // The mutations must not all be trivially rejected (or trivially kept).
    assert!(accepted > cases / 100 && accepted < cases, "{accepted} of {cases} accepted");
}

#[test]
fn deep_nesting_and_long_input_do_not_overflow() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good/minimal.conf");
    let deep = "server { location / { ".repeat(10_000);
    assert!(config::parse(&deep, &file).is_err());
    let braces = "{".repeat(100_000);
    assert!(config::parse(&braces, &file).is_err());
    let closes = "}".repeat(100_000);
    assert!(config::parse(&closes, &file).is_err());
    let long_word = "x".repeat(1_000_000);
    assert!(config::parse(&long_word, &file).is_err());
    let many = "max_connections 1;\n".repeat(2);
    assert!(config::parse(&many, &file).is_err());
}
