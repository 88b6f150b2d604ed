//! Uploads and DELETE, black-box: multipart and raw bodies stored and read
//! back identical, chunked bodies, hostile and duplicate file names, bodies
//! over the limit or cut off leaving nothing behind, a 200 MiB upload in
//! bounded memory, DELETE's answers, and the default methods of a location.
#![forbid(unsafe_code)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use tests::{request, Berth, Response};

const CONF: &str = r#"
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;

    location /uploads {
        methods GET POST DELETE;
        upload_store {dir}/www/uploads;
        client_max_body_size 0;
    }
    location /small {
        upload_store {dir}/www/small;
        client_max_body_size 1k;
    }
    location /hidden {
        upload_store {dir}/private;
    }
    location /plain {
    }
    location /files {
        methods GET DELETE;
    }
}
"#;

const BOUNDARY: &str = "----berthTestBoundary7MA4YWxkTrZu0gW";

fn start(backend: &str) -> Berth {
    Berth::start(backend, CONF, |dir| {
        for d in ["www/uploads", "www/small", "www/plain", "www/files/sub", "private"] {
            fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
        }
        fs::write(dir.join("www/files/a.txt"), "a").unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.join("www/files/sub/b.txt"), "b").unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.join("www/outside.txt"), "keep me").unwrap_or_else(|e| panic!("{e}"));
        let link = |target: &str, at: &str| {
            std::os::unix::fs::symlink(dir.join(target), dir.join(at))
                .unwrap_or_else(|e| panic!("symlink: {e}"))
        };
        link("www/outside.txt", "www/files/link.txt");
        link("www/files/sub", "www/files/sublink");
    })
}

/// One form part: field name, file name (`None`: a plain field), data.
type FormPart<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A multipart/form-data body as browsers and curl send it.
fn form(parts: &[FormPart<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        write!(body, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").unwrap();
        if let Some(f) = filename {
            write!(body, "; filename=\"{f}\"\r\nContent-Type: application/octet-stream").unwrap();
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    body
}

fn post_form(berth: &Berth, target: &str, body: &[u8], extra: &str) -> Response {
    let head = request(
        "POST",
        target,
        &format!(
            "Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n{extra}",
            body.len()
        ),
    );
    let mut c = berth.connect();
    c.send([head.as_bytes(), body].concat());
    c.read_response()
}

/// FNV-1a, 64 bits: enough to tell two files apart in a test.
fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Waits until `dir` is empty (a cut-off upload is cleaned up when the
/// server notices), or fails listing what is left.
#[track_caller]
fn assert_empty_soon(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !names(dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(names(dir), Vec::<String>::new(), "left behind in {}", dir.display());
}

/// The bytes 0..=255 repeated to `len`, in a shuffled order per block.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(167).wrapping_add((i >> 8) as u8)).collect()
}

/// A short body timeout, for uploads that stall.
const STALL_CONF: &str = r#"
client_body_timeout 1s;
server {
    listen 127.0.0.1:{port0};
    root {dir}/www;
    location /uploads { upload_store {dir}/www/uploads; }
}
"#;

/// Sends the head and the first half of a 64 KiB upload, and waits until
/// its temporary file is in `store`.
fn start_stalled_upload(berth: &Berth, store: &Path) -> tests::Client {
    let body = form(&[("f", Some("stalled.bin"), &pattern(64 * 1024))]);
    let head = request(
        "POST",
        "/uploads/",
        &format!(
            "Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n",
            body.len()
        ),
    );
    let mut c = berth.connect();
    c.send([head.as_bytes(), &body[..body.len() / 2]].concat());
    let deadline = Instant::now() + Duration::from_secs(5);
    while names(store).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(names(store).len(), 1, "the upload's temporary file");
    c
}

tests::backend_tests! {
    fn stalled_upload_timing_out_leaves_nothing(backend) {
        let berth = Berth::start(backend, STALL_CONF, |dir| {
            fs::create_dir_all(dir.join("www/uploads")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        });
        let store = berth.dir().join("www/uploads");
        let mut c = start_stalled_upload(&berth, &store);
        // client_body_timeout passes: 408, and the temporary file is gone.
        let r = c.read_response();
        r.assert_status(408);
        assert_empty_soon(&store);
    }

    fn server_stopping_mid_upload_leaves_nothing(backend) {
        let mut berth = Berth::start(backend, STALL_CONF, |dir| {
            fs::create_dir_all(dir.join("www/uploads")).unwrap_or_else(|e| panic!("mkdir: {e}"));
        });
        let store = berth.dir().join("www/uploads");
        let _c = start_stalled_upload(&berth, &store);
        berth.signal("TERM");
        let status = berth.wait_exit(Duration::from_secs(15));
        assert!(status.is_some(), "berth stopped");
        assert_eq!(names(&store), Vec::<String>::new(), "left behind after the stop");
    }

    fn text_and_binary_uploads_read_back_identical(backend) {
        let berth = start(backend);
        let text = b"hello, upload\r\n--not a boundary\r\n\r\n".to_vec();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty.bin", Vec::new()),
            ("one.bin", vec![0xff]),
            ("text.txt", text),
            ("every-byte.bin", (0..=255u8).collect()),
            ("mib.bin", pattern(1 << 20)),
        ];
        for (name, data) in &cases {
            let body = form(&[("f", Some(name), data)]);
            let r = post_form(&berth, "/uploads/", &body, "");
            r.assert_status(201);
            let url = format!("/uploads/{name}");
            assert_eq!(r.header("location"), Some(url.as_str()));
            assert!(r.text().contains(&format!("({} bytes)", data.len())), "{}", r.text());
            let back = berth.get(&url);
            back.assert_status(200);
            assert_eq!(checksum(&back.body), checksum(data), "{name}");
            assert_eq!(back.body, *data, "{name}");
        }
        // A raw body, stored under the path's last segment.
        let data = pattern(70_000);
        let head = request("POST", "/uploads/raw.bin", &format!("Content-Length: {}\r\n", data.len()));
        let mut c = berth.connect();
        c.send([head.as_bytes(), &data].concat());
        let r = c.read_response();
        r.assert_status(201);
        assert_eq!(r.header("location"), Some("/uploads/raw.bin"));
        assert_eq!(berth.get("/uploads/raw.bin").body, data);
    }

    fn several_files_in_one_form_and_json(backend) {
        let berth = start(backend);
        let body = form(&[
            ("title", None, b"not a file"),
            ("a", Some("first.txt"), b"1"),
            ("b", Some("second.txt"), b"22"),
            ("c", Some(""), b""),
            ("d", Some("third.bin"), &[0, 1, 2]),
        ]);
        let r = post_form(&berth, "/uploads/", &body, "Accept: application/json\r\n");
        r.assert_status(201);
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
        assert_eq!(r.header("location"), Some("/uploads/first.txt"));
        assert_eq!(
            r.text(),
            "{\"files\":[{\"name\":\"first.txt\",\"size\":1,\"url\":\"/uploads/first.txt\"},\
             {\"name\":\"second.txt\",\"size\":2,\"url\":\"/uploads/second.txt\"},\
             {\"name\":\"third.bin\",\"size\":3,\"url\":\"/uploads/third.bin\"}]}\n"
        );
        assert_eq!(
            names(&berth.dir().join("www/uploads")),
            ["first.txt", "second.txt", "third.bin"],
            "the empty file input and the plain field are not stored"
        );
    }

    fn chunked_upload(backend) {
        let berth = start(backend);
        let data = pattern(300_000);
        let body = form(&[("f", Some("chunked.bin"), &data)]);
        let mut raw = request(
            "POST",
            "/uploads/",
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n"),
        )
        .into_bytes();
        // Odd chunk sizes, so boundaries and chunk edges fall anywhere.
        for piece in body.chunks(4093) {
            write!(raw, "{:x}\r\n", piece.len()).unwrap();
            raw.extend_from_slice(piece);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let mut c = berth.connect();
        c.send(raw);
        let r = c.read_response();
        r.assert_status(201);
        assert_eq!(berth.get("/uploads/chunked.bin").body, data);
    }

    fn hostile_file_names_are_made_safe(backend) {
        let berth = start(backend);
        // Name as sent (escaped as curl escapes quotes), name stored.
        let cases: &[(&str, &str)] = &[
            ("../../escape.txt", "escape.txt"),
            ("/etc/abs.txt", "abs.txt"),
            ("dir\\\\win.txt", "win.txt"),
            ("say \\\"hi\\\".txt", "say \"hi\".txt"),
            ("ctl\u{1}\u{7f}.txt", "ctl.txt"),
            (".hidden", "hidden"),
            ("ünïcødé ☃.txt", "ünïcødé ☃.txt"),
        ];
        for (sent, want) in cases {
            let body = form(&[("f", Some(sent), b"x")]);
            post_form(&berth, "/uploads/", &body, "").assert_status(201);
            assert!(
                berth.dir().join("www/uploads").join(want).is_file(),
                "{sent:?} stored as {want:?}: {:?}",
                names(&berth.dir().join("www/uploads"))
            );
        }
        // Nothing left to use: a generated name.
        for sent in ["", "..", "/"] {
            let body = form(&[("f", Some(sent), b"data")]);
            let r = post_form(&berth, "/uploads/", &body, "");
            r.assert_status(201);
            let loc = r.expect_header("location");
            assert!(loc.starts_with("/uploads/upload-"), "{sent:?}: {loc}");
            assert_eq!(berth.get(loc).body, b"data");
        }
        assert!(!berth.dir().join("escape.txt").exists() && !berth.dir().join("www/escape.txt").exists());
        // The quote in a Location is escaped.
        let body = form(&[("f", Some("q\\\"q.txt"), b"q")]);
        let r = post_form(&berth, "/uploads/", &body, "");
        assert_eq!(r.header("location"), Some("/uploads/q%22q.txt"));
        assert_eq!(berth.get("/uploads/q%22q.txt").body, b"q");
    }

    fn duplicate_names_get_a_suffix(backend) {
        let berth = start(backend);
        for (i, want) in ["dup.tar.gz", "dup-1.tar.gz", "dup-2.tar.gz"].iter().enumerate() {
            let data = format!("version {i}");
            let body = form(&[("f", Some("dup.tar.gz"), data.as_bytes())]);
            let r = post_form(&berth, "/uploads/", &body, "");
            r.assert_status(201);
            assert_eq!(r.header("location"), Some(format!("/uploads/{want}").as_str()));
        }
        assert_eq!(berth.get("/uploads/dup.tar.gz").body, b"version 0", "never overwritten");
        assert_eq!(berth.get("/uploads/dup-2.tar.gz").body, b"version 2");
    }

    fn store_outside_the_served_tree_has_no_location(backend) {
        let berth = start(backend);
        let body = form(&[("f", Some("secret.txt"), b"s")]);
        let r = post_form(&berth, "/hidden/", &body, "");
        r.assert_status(201);
        assert_eq!(r.header("location"), None);
        assert!(berth.dir().join("private/secret.txt").is_file());
        assert!(berth.stderr_text().contains("is outside every folder this server serves"));
    }

    fn too_large_leaves_nothing_behind(backend) {
        let berth = start(backend);
        let store = berth.dir().join("www/small");
        // By Content-Length: refused before the body is read.
        let body = form(&[("f", Some("big.bin"), &pattern(4096))]);
        post_form(&berth, "/small/", &body, "").assert_status(413);
        assert_empty_soon(&store);
        // In the middle of a chunked stream.
        let mut raw = request(
            "POST",
            "/small/",
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n"),
        )
        .into_bytes();
        for piece in body.chunks(500) {
            write!(raw, "{:x}\r\n", piece.len()).unwrap();
            raw.extend_from_slice(piece);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let mut c = berth.connect();
        let _ = c.try_send(&raw);
        c.read_response().assert_status(413);
        assert_empty_soon(&store);
        // A body that fits is stored.
        let body = form(&[("f", Some("fits.txt"), b"ok")]);
        post_form(&berth, "/small/", &body, "").assert_status(201);
        assert_eq!(names(&store), ["fits.txt"]);
    }

    fn client_vanishing_mid_upload_leaves_nothing(backend) {
        let berth = start(backend);
        let store = berth.dir().join("www/uploads");
        let data = pattern(1 << 20);
        let body = form(&[("f", Some("cut.bin"), &data)]);
        let head = request(
            "POST",
            "/uploads/",
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n", body.len()),
        );
        let mut c = berth.connect();
        c.send([head.as_bytes(), &body[..body.len() / 2]].concat());
        // The temporary file exists while the body arrives...
        let deadline = Instant::now() + Duration::from_secs(5);
        while names(&store).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(names(&store).len(), 1, "one temporary file");
        assert!(names(&store)[0].starts_with(".berth-"), "{:?}", names(&store));
        // ...and is gone once the client is.
        drop(c);
        assert_empty_soon(&store);
        // A malformed body leaves nothing either.
        let r = post_form(&berth, "/uploads/", b"--wrong\r\n\r\nx", "");
        r.assert_status(400);
        assert_empty_soon(&store);
    }

    fn delete_answers(backend) {
        let mut berth = start(backend);
        let del = |target: &str| berth.exchange(request("DELETE", target, ""));
        del("/files/a.txt").assert_status(204);
        assert!(!berth.dir().join("www/files/a.txt").exists());
        del("/files/a.txt").assert_status(404);
        del("/files/sub").assert_status(403);
        del("/files/sub/").assert_status(403);
        del("/files/link.txt").assert_status(403);
        del("/files/sublink/b.txt").assert_status(403);
        assert!(berth.dir().join("www/outside.txt").is_file(), "a link's target is kept");
        assert!(berth.dir().join("www/files/sub/b.txt").is_file());
        del("/files/../../outside.txt").assert_status(403);
        // DELETE only where `methods` names it.
        let r = del("/outside.txt");
        r.assert_status(405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert!(berth.dir().join("www/outside.txt").is_file());
        // An uploaded file can be deleted where the upload location allows it.
        let body = form(&[("f", Some("gone.txt"), b"x")]);
        post_form(&berth, "/uploads/", &body, "").assert_status(201);
        del("/uploads/gone.txt").assert_status(204);
        berth.get("/uploads/gone.txt").assert_status(404);
        berth.assert_running();
    }

    /// The static handler remembers `lstat` results for one loop iteration;
    /// a DELETE must end that, or a GET pipelined behind it (read, parsed
    /// and answered in the same iteration) would find the deleted file.
    fn get_pipelined_after_delete_sees_it_gone(backend) {
        let mut berth = start(backend);
        let mut c = berth.connect();
        let get = request("GET", "/files/a.txt", "");
        let del = request("DELETE", "/files/a.txt", "");
        c.send(format!("{get}{del}{get}"));
        c.read_response().assert_status(200);
        c.read_response().assert_status(204);
        c.read_response().assert_status(404);
        assert!(!berth.dir().join("www/files/a.txt").exists());
        berth.assert_running();
    }

    fn method_defaults(backend) {
        let berth = start(backend);
        // No `methods`, an upload store: GET, HEAD and POST.
        let r = berth.exchange(request("DELETE", "/small/x", ""));
        r.assert_status(405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
        let r = berth.exchange(request("PUT", "/small/x", "Content-Length: 0\r\n"));
        r.assert_status(405);
        // No `methods`, nothing that takes a body: GET and HEAD.
        for m in ["POST", "DELETE", "PUT", "PATCH"] {
            let r = berth.exchange(request(m, "/plain/x", "Content-Length: 0\r\n"));
            r.assert_status(405);
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{m}");
        }
        // `methods GET DELETE`: POST is not allowed there.
        let r = berth.exchange(request("POST", "/files/a.txt", "Content-Length: 0\r\n"));
        r.assert_status(405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, DELETE"));
    }

    #[cfg(target_os = "linux")]
    fn upload_of_200_mib_in_bounded_memory(backend) {
        const SIZE: usize = 200 << 20;
        let berth = start(backend);
        let idle = berth.rss_kib();
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n");
        let mut c = berth.connect();
        c.send(request(
            "POST",
            "/uploads/",
            &format!(
                "Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n",
                head.len() + SIZE + tail.len()
            ),
        ));
        c.send(&head);
        // Generated as it is sent: nothing this big is kept anywhere.
        let block = pattern(1 << 20);
        let mut sum = 0xcbf2_9ce4_8422_2325u64;
        let mut peak = idle;
        for i in 0..SIZE / block.len() {
            let mut b = block.clone();
            b[0] = i as u8;
            sum = b.iter().fold(sum, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3));
            c.send(&b);
            peak = peak.max(berth.rss_kib());
        }
        c.send(&tail);
        let r = c.read_response();
        r.assert_status(201);
        peak = peak.max(berth.rss_kib());
        assert!(peak <= idle + 4096, "RSS grew from {idle} KiB to {peak} KiB");
        // The stored file, read in pieces, has the same checksum.
        let mut f = fs::File::open(berth.dir().join("www/uploads/big.bin")).unwrap();
        let mut got = 0xcbf2_9ce4_8422_2325u64;
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            got = buf[..n].iter().fold(got, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3));
        }
        assert_eq!((total, got), (SIZE, sum));
        let _ = fs::remove_file(berth.dir().join("www/uploads/big.bin"));
    }
}
