//! Starting and stopping a real `berth` process with its own config and
//! docroot on free ports.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::client::{self, Client, Response};
use crate::tempdir::TempDir;

/// How long `berth` may take to accept connections after it is spawned.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);
/// What berth prints on stderr once it holds every listener and serves.
const STARTED_LINE: &str = "berth started on ";

/// How long `berth` may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How many times a start is retried when a picked port was taken meanwhile.
const BIND_RETRIES: usize = 5;

/// A running `berth` process; SIGTERM then SIGKILL on drop, so no server
/// outlives its test.
#[derive(Debug)]
pub struct Berth {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    ports: Vec<u16>,
    hosts: Vec<IpAddr>,
    config_path: PathBuf,
    config_text: String,
    backend: String,
    // Dropped last, after the process is gone.
    dir: TempDir,
}

impl Berth {
    /// Starts `berth -c <dir>/berth.conf --poller <backend>`.
    ///
    /// `config` is a template: `{dir}` becomes the temp directory's absolute
    /// path and `{port0}`, `{port1}`, ... become distinct free ports.
    /// `setup` fills the temp directory (docroot files) before the start.
    /// Returns once every port accepts connections.
    ///
    /// # Panics
    /// If the server does not come up within [`STARTUP_TIMEOUT`] or exits;
    /// the message holds its stderr.
    #[track_caller]
    pub fn start(backend: &str, config: &str, setup: impl FnOnce(&TempDir)) -> Berth {
        let dir = TempDir::new();
        setup(&dir);
        let nports = count_ports(config);
        let hosts: Vec<IpAddr> = (0..nports).map(|i| port_host(config, i)).collect();
        let config_path = dir.join("berth.conf");
        let mut last_err = String::new();
        let mut dir = Some(dir);
        for _ in 0..BIND_RETRIES {
            let ports = free_ports(&hosts);
            let text =
                render(config, dir.as_ref().map(TempDir::path).unwrap_or(Path::new("")), &ports);
            std::fs::write(&config_path, &text)
                .unwrap_or_else(|e| panic!("write {}: {e}", config_path.display()));
            let spawned = spawn(backend, &config_path);
            let (child, stderr, stderr_thread) = match spawned {
                Ok(s) => s,
                Err(e) => panic!("cannot run {}: {e}", crate::berth_bin().display()),
            };
            let mut berth = Berth {
                child,
                stderr,
                stderr_thread: Some(stderr_thread),
                ports,
                hosts: hosts.clone(),
                config_path: config_path.clone(),
                config_text: text,
                backend: backend.to_string(),
                dir: dir.take().unwrap_or_default(),
            };
            match berth.wait_ready() {
                Ok(()) => return berth,
                Err(msg) => {
                    let in_use = msg.to_ascii_lowercase().contains("in use");
                    last_err = msg;
                    berth.kill_now();
                    dir = Some(std::mem::take(&mut berth.dir));
                    if !in_use {
                        break;
                    }
                }
            }
        }
        panic!("berth did not start: {last_err}");
    }

    /// Waits until our server says it started and every port accepts a
    /// connection, or reports why not.
    ///
    /// The "started" line matters: tests run in parallel, and a port we
    /// picked can briefly be held by another test's server that is failing
    /// its own startup; a probe answered by that server proves nothing about
    /// ours. Our server prints the line only once it holds every listener.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        // A config that moves the error log away from stderr hides the line.
        let logs_to_stderr = !self.config_text.contains("error_log");
        while logs_to_stderr && !self.stderr_text().contains(STARTED_LINE) {
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr = self.stderr_text_after_exit();
                return Err(format!(
                    "berth exited with {status} before starting\nconfig:\n{}\nstderr:\n{stderr}",
                    self.config_text,
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "berth did not start within {STARTUP_TIMEOUT:?}\nconfig:\n{}\nstderr:\n{}",
                    self.config_text,
                    self.stderr_text()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        for i in 0..self.ports.len() {
            let addr = self.addr(i);
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    let stderr = self.stderr_text_after_exit();
                    return Err(format!(
                        "berth exited with {status} before accepting\nconfig:\n{}\nstderr:\n{stderr}",
                        self.config_text,
                    ));
                }
                if let Ok(probe) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                    // Our ports come from the ephemeral range: while nothing
                    // listens yet, the kernel can pick the very port we dial
                    // as the probe's own and connect it to itself (TCP
                    // simultaneous open). That is not the server answering.
                    let self_connected = probe.local_addr().ok() == probe.peer_addr().ok();
                    if !self_connected {
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "berth did not accept on {addr} within {STARTUP_TIMEOUT:?}\nconfig:\n{}\nstderr:\n{}",
                        self.config_text,
                        self.stderr_text()
                    ));
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        // A port picked by us may have been taken by someone else who now
        // answers: make sure our child is still the one running.
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!(
                "berth exited with {status} during startup\nstderr:\n{}",
                self.stderr_text_after_exit()
            ));
        }
        Ok(())
    }

    /// The backend name given to `--poller`.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `i`-th port (`{port<i>}` in the template).
    ///
    /// # Panics
    /// If the template had no such port.
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// The address to connect to for port `i`: `[::1]:<port>` when the
    /// template listens on `[::1]:{port<i>}`, else `127.0.0.1:<port>`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.hosts[i], self.port(i))
    }

    /// The temp directory the config and docroot live in.
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// The written config file's path.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Opens a connection to port 0.
    #[track_caller]
    pub fn connect(&self) -> Client {
        Client::connect(self.addr(0))
    }

    /// Opens a connection to port `i`.
    #[track_caller]
    pub fn connect_to(&self, i: usize) -> Client {
        Client::connect(self.addr(i))
    }

    /// Sends `raw` on a new connection to port 0 and reads one response.
    #[track_caller]
    pub fn exchange(&self, raw: impl AsRef<[u8]>) -> Response {
        let mut c = self.connect();
        c.send(raw);
        c.read_response()
    }

    /// `GET target` (Host: localhost) on a new connection.
    #[track_caller]
    pub fn get(&self, target: &str) -> Response {
        self.exchange(client::get(target))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Panics (with stderr) if the server has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("berth exited with {status}; stderr:\n{}", self.stderr_text_after_exit());
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        let guard = match self.stderr.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        String::from_utf8_lossy(&guard).into_owned()
    }

    fn stderr_text_after_exit(&mut self) -> String {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        self.stderr_text()
    }

    /// Sends signal `sig` (a name such as `TERM`, `HUP`) with the `kill` command.
    ///
    /// # Panics
    /// If `kill` fails.
    #[track_caller]
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("run kill: {e}"));
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) => {}
                Err(_) => return None,
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits for the exit status (at most [`STOP_GRACE`]).
    ///
    /// # Panics
    /// If the server does not exit in time.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        match self.wait_exit(STOP_GRACE) {
            Some(s) => s,
            None => panic!("berth did not exit within {STOP_GRACE:?} of SIGTERM"),
        }
    }

    fn kill_now(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }

    /// Number of open file descriptors of the server (`/proc/<pid>/fd`).
    ///
    /// # Panics
    /// If `/proc` cannot be read.
    #[cfg(target_os = "linux")]
    pub fn fd_count(&self) -> usize {
        let path = format!("/proc/{}/fd", self.pid());
        std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
            .filter(|e| e.is_ok())
            .count()
    }

    /// Resident memory of the server in KiB (`VmRSS` in `/proc/<pid>/status`).
    ///
    /// # Panics
    /// If `/proc` cannot be read or has no `VmRSS` line.
    #[cfg(target_os = "linux")]
    pub fn rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {path}"))
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid().to_string())
                .stderr(Stdio::null())
                .status();
            if self.wait_exit(STOP_GRACE).is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        if thread::panicking() {
            eprintln!(
                "--- berth ({}) config:\n{}\n--- berth stderr:\n{}",
                self.backend,
                self.config_text,
                self.stderr_text()
            );
        }
    }
}

type Spawned = (Child, Arc<Mutex<Vec<u8>>>, JoinHandle<()>);

fn spawn(backend: &str, config: &Path) -> std::io::Result<Spawned> {
    let mut child = Command::new(crate::berth_bin())
        .arg("-c")
        .arg(config)
        .arg("--poller")
        .arg(backend)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&stderr);
    let pipe = child.stderr.take();
    // Drain stderr continuously so a chatty server never blocks on a full pipe.
    let handle = thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut g = match sink.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    // Keep memory bounded for servers that log per request.
                    if g.len() < 1 << 20 {
                        g.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    });
    Ok((child, stderr, handle))
}

/// How many `{portN}` placeholders the template needs (highest N + 1).
fn count_ports(template: &str) -> usize {
    let mut n = 0;
    let mut rest = template;
    while let Some(i) = rest.find("{port") {
        rest = &rest[i + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if rest[digits.len()..].starts_with('}') {
            if let Ok(k) = digits.parse::<usize>() {
                n = n.max(k + 1);
            }
        }
    }
    n
}

fn render(template: &str, dir: &Path, ports: &[u16]) -> String {
    let mut text = template.replace("{dir}", &dir.display().to_string());
    // Highest index first so `{port1}` is not touched by a shorter name.
    for (i, p) in ports.iter().enumerate().rev() {
        text = text.replace(&format!("{{port{i}}}"), &p.to_string());
    }
    text
}

/// The loopback address the template listens on for `{port<i>}`: IPv6
/// when the text just before it is `[::1]:`.
fn port_host(template: &str, i: usize) -> IpAddr {
    let v6 = template.contains(&format!("[::1]:{{port{i}}}"));
    if v6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

/// Distinct ports, one per entry of `hosts`, that were free a moment ago on
/// that loopback address and that no other test of this process was given.
///
/// Tests run in parallel threads: a port one test picked and released could
/// otherwise be picked again by another before the first server binds it,
/// and the loser's startup probe would be answered by the winner's server.
///
/// # Panics
/// If no port can be bound at all.
pub fn free_ports(hosts: &[IpAddr]) -> Vec<u16> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Hold every listener until all are picked so the ports are distinct.
    let mut held: Vec<TcpListener> = Vec::new();
    let mut ports = Vec::with_capacity(hosts.len());
    for h in hosts {
        loop {
            let l = TcpListener::bind(SocketAddr::new(*h, 0))
                .unwrap_or_else(|e| panic!("bind {h} port 0: {e}"));
            let port = l.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}")).port();
            held.push(l);
            if given.insert(port) {
                ports.push(port);
                break;
            }
        }
    }
    ports
}
