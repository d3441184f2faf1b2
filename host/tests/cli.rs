//! The `switchyard` binary as a user runs it (SPEC.md "Command line"):
//! `--help`, `check -c FILE`, `run -c FILE` and bare `-c FILE`; an invalid
//! config is refused naming file, line and key; a running proxy serves and
//! exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A config file in the temp dir, removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(name: &str, text: &str) -> TempConfig {
        let path =
            std::env::temp_dir().join(format!("switchyard-cli-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write temp config");
        TempConfig(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn switchyard(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run switchyard")
}

/// A valid config: listener on port 0, one server where nothing listens.
fn valid_config() -> String {
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    format!(
        "shutdown_timeout = \"2s\"\n\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n\
         [[route]]\npool = \"app\"\n\n[pool.app]\nretries = 0\nservers = [{{ address = \"{dead}\" }}]\n"
    )
}

/// The typo is on line 10.
const TYPO: &str = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\n[[route]]\npool = \"app\"\n\n\
[pool.app]\nservers = [\n  { address = \"127.0.0.1:9001\", wieght = 2 },\n]\n";

#[test]
fn help_names_run_and_check() {
    let out = switchyard(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("run"), "{help}");
    assert!(help.contains("check"), "{help}");
    assert!(help.contains("--config"), "{help}");
}

#[test]
fn check_accepts_the_quickstart_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");
    let out = switchyard(&["check", "-c", example]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_refuses_an_unknown_key_naming_file_line_and_key() {
    let cfg = TempConfig::new("check-typo", TYPO);
    let out = switchyard(&["check", "-c", cfg.path()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:10: unknown key \"wieght\" in pool.app.servers[0]",
        cfg.path()
    );
    assert!(stderr.contains(&want), "want {want:?} in {stderr:?}");
}

#[test]
fn run_refuses_an_invalid_config_the_same_way() {
    let cfg = TempConfig::new("run-typo", TYPO);
    for args in [&["run", "-c", cfg.path()][..], &["-c", cfg.path()]] {
        let out = switchyard(args);
        assert!(!out.status.success(), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "{}:10: unknown key \"wieght\" in pool.app.servers[0]",
            cfg.path()
        );
        assert!(
            stderr.contains(&want),
            "{args:?}: want {want:?} in {stderr:?}"
        );
    }
    let missing = switchyard(&["run", "-c", "/nonexistent/switchyard.toml"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/switchyard.toml"),
        "{missing:?}"
    );
}

/// Drops ANSI colour sequences from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A running `switchyard` whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .env("SWITCHYARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchyard");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(plain(&line)).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Waits for a log line containing `needle`; returns it.
    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; got {seen:#?}");
    }

    /// Sends SIGTERM and waits (at most 5 s) for the exit code.
    fn terminate(mut self) -> Option<i32> {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running 5 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only if a test failed before terminate(): never leave it running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw request; the status code of the answer.
fn status_of_get(addr: SocketAddr) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read answer");
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn serves_then_exits_zero_on_sigterm(args: &[&str]) {
    let running = Running::start(args);
    // "listening listener=web addr=127.0.0.1:PORT": the bound port.
    let line = running.wait_for_log("listening");
    let addr: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no addr in {line:?}"));
    running.wait_for_log("switchyard started");
    // It serves: the only server is down, so the answer is the proxy's own 502.
    assert_eq!(status_of_get(addr), 502);
    assert_eq!(running.terminate(), Some(0));
}

#[test]
fn run_serves_and_exits_zero_on_sigterm() {
    let cfg = TempConfig::new("run-ok", &valid_config());
    serves_then_exits_zero_on_sigterm(&["run", "-c", cfg.path()]);
}

#[test]
fn bare_config_flag_runs_too() {
    let cfg = TempConfig::new("bare-ok", &valid_config());
    serves_then_exits_zero_on_sigterm(&["-c", cfg.path()]);
}

#[test]
fn run_refuses_a_non_loopback_admin_bind_without_a_token() {
    // Refused before the admin address is bound: nothing listens beyond loopback.
    let text = format!("{}\n[admin]\nbind = \"0.0.0.0:0\"\n", valid_config());
    let cfg = TempConfig::new("admin-no-token", &text);
    let out = switchyard(&["run", "-c", cfg.path()]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("admin.bind 0.0.0.0:0 is not a loopback address: set admin.token"),
        "{stderr}"
    );
}
