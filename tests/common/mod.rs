//! Shared test helpers: a fake clock, ids, and mocks of the platform's routes.
#![allow(dead_code)]

pub mod batch;
pub mod cli;
pub mod exactly_once;
pub mod recipients;
pub mod state;
pub mod status;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_inject::{Clock, ContentBlock, InjectRequest, InjectorBuilder};
use mockito::{Matcher, Mock, ServerGuard};

pub const CONV: &str = "ec35f2a8-289b-42d4-8893-c50eaf81a3c1";
pub const COMM: &str = "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-s3cret";
pub const TOKEN: &str = "tok-AAAA1111";
/// base64("test-client-id:test-client-s3cret")
pub const BASIC: &str = "Basic dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtczNjcmV0";

pub fn message_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/communications/{COMM}/messages")
}

pub fn typing_path() -> String {
    format!("/api/v2/conversations/messages/{CONV}/communications/{COMM}/typing")
}

/// A clock whose `sleep` only moves its `now` forward, and remembers.
#[derive(Debug)]
pub struct FakeClock {
    base: Instant,
    offset: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
    /// The wall-clock time at `base`.
    wall_base: Mutex<std::time::SystemTime>,
}

impl FakeClock {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeClock {
            base: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            sleeps: Mutex::new(Vec::new()),
            wall_base: Mutex::new(std::time::SystemTime::now()),
        })
    }

    /// A fake clock whose wall-clock time is `wall` now (and moves with
    /// its sleeps).
    pub fn at_wall(wall: std::time::SystemTime) -> Arc<Self> {
        let clock = Self::new();
        *clock.wall_base.lock().unwrap() = wall;
        clock
    }

    /// Every non-zero sleep so far.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|d| !d.is_zero())
            .collect()
    }

    /// How far its sleeps have moved it.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap()
    }

    pub fn advance(&self, d: Duration) {
        let mut offset = self.offset.lock().unwrap();
        *offset = offset.saturating_add(d);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        // Saturates (at about 35 000 years) rather than overflow Instant.
        let offset = (*self.offset.lock().unwrap()).min(Duration::from_secs(1 << 40));
        self.base + offset
    }

    fn sleep(&self, d: Duration) {
        self.sleeps.lock().unwrap().push(d);
        self.advance(d);
    }

    fn wall(&self) -> std::time::SystemTime {
        *self.wall_base.lock().unwrap() + *self.offset.lock().unwrap()
    }
}

/// A builder pointed at `server`, with a fake clock.
pub fn builder(server: &ServerGuard, clock: &Arc<FakeClock>) -> InjectorBuilder {
    InjectorBuilder::new()
        .base_url(server.url())
        .credentials(CLIENT_ID, CLIENT_SECRET)
        .clock(clock.clone())
}

pub fn token_mock(server: &mut ServerGuard, expires_in: u64) -> Mock {
    server
        .mock("POST", "/oauth/token")
        .match_header("authorization", BASIC)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(Matcher::Exact("grant_type=client_credentials".into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(format!(
            r#"{{"access_token":"{TOKEN}","token_type":"bearer","expires_in":{expires_in}}}"#
        ))
}

/// A mock platform whose token and typing routes answer normally; tests add
/// the message route.
pub fn platform_server() -> ServerGuard {
    let mut server = mockito::Server::new();
    token_mock(&mut server, 86399).create();
    typing_mock(&mut server).create();
    server
}

/// A mock platform that accepts every message (message id `m`).
pub fn accepting_server() -> ServerGuard {
    let mut server = platform_server();
    server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .create();
    server
}

/// A mock platform whose token route must be called `tokens` times.
pub fn counting_platform(tokens: usize) -> (ServerGuard, Mock) {
    let mut server = mockito::Server::new();
    let token = expect_tokens(&mut server, tokens, |_| {});
    (server, token)
}

/// Replaces `server`'s mocks: its token route must be called `tokens` times;
/// `first` adds mocks that take precedence over a message route that
/// accepts everything. Runs on one server keep one token URL, so one file.
pub fn expect_tokens(
    server: &mut ServerGuard,
    tokens: usize,
    first: impl FnOnce(&mut ServerGuard),
) -> Mock {
    server.reset();
    let token = token_mock(server, 86399).expect(tokens).create();
    typing_mock(server).create();
    first(server);
    server
        .mock("POST", message_path().as_str())
        .with_body(message_ok("m"))
        .create();
    token
}

pub fn typing_mock(server: &mut ServerGuard) -> Mock {
    server
        .mock("POST", typing_path().as_str())
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_body(Matcher::Json(serde_json::json!({"typing": {"type": "On"}})))
        .with_status(204)
}

pub fn message_ok(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","status":"queued","conversationId":"{CONV}","direction":"outbound","messengerType":"webmessaging","textBody":"x"}}"#
    )
}

pub fn request(texts: &[&str]) -> InjectRequest {
    InjectRequest::new(
        CONV,
        COMM,
        texts
            .iter()
            .map(|t| ContentBlock::text(*t))
            .collect::<Vec<_>>(),
    )
}

/// Bytes of a Genesys error body.
pub fn genesys_error(status: u16, code: &str, message: &str) -> String {
    format!(
        r#"{{"message":"{message}","code":"{code}","status":{status},"contextId":"ctx-{status}","details":[],"errors":[]}}"#
    )
}

pub mod conversation;
pub mod rawserver;
pub mod sms;

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new() -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "genesys-inject-state-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir(&path).unwrap();
        Scratch(path)
    }

    /// The state directory inside (created by the library, not here).
    pub fn state(&self) -> std::path::PathBuf {
        self.0.join("state")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Log lines captured by [`capture_logs`]: (target, level, message).
pub type Line = (String, log::Level, String);

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());
/// The same lines, with the thread that logged each.
static THREAD_LINES: Mutex<Vec<(std::thread::ThreadId, Line)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        THREAD_LINES.lock().unwrap().push((
            std::thread::current().id(),
            (
                record.target().to_owned(),
                record.level(),
                record.args().to_string(),
            ),
        ));
        LINES.lock().unwrap().push((
            record.target().to_owned(),
            record.level(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

/// Installs a logger (once per test binary) that keeps every line at every
/// level, ureq's included.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_boxed_logger(Box::new(Capture)).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

pub fn logged() -> Vec<Line> {
    LINES.lock().unwrap().clone()
}

/// The messages the calling thread logged so far.
pub fn logged_here() -> Vec<String> {
    logged_in(&[std::thread::current().id()])
        .into_iter()
        .map(|(_, _, message)| message)
        .collect()
}

/// The lines `threads` logged so far (the other tests of the binary log on
/// threads of their own).
pub fn logged_in(threads: &[std::thread::ThreadId]) -> Vec<Line> {
    THREAD_LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(thread, _)| threads.contains(thread))
        .map(|(_, line)| line.clone())
        .collect()
}

/// The audit records logged so far, parsed.
pub fn audit_records() -> Vec<serde_json::Value> {
    logged()
        .into_iter()
        .filter(|(target, ..)| target == genesys_inject::AUDIT_TARGET)
        .map(|(_, _, msg)| serde_json::from_str(&msg).unwrap())
        .collect()
}

/// The standard output of a child that must have succeeded; on failure the
/// assertion shows both its outputs.
pub fn successful_stdout(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The path of example `name`. `cargo test` builds every example before it
/// runs the tests; when one is missing (a filtered run such as
/// `cargo test --test cli`), it is built here.
pub fn example_bin(name: &str) -> std::path::PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap();
    let path = profile_dir().join("examples").join(name);
    if !path.exists() {
        cargo_build(&["--example", name]);
    }
    path
}

/// A port on 127.0.0.1 that refuses every connection for as long as this
/// is held: a socket bound to it that does not listen (a port bound, then
/// dropped, could be taken by anything meanwhile).
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// A case that cannot run on this machine (not root, no `chattr`): said on
/// the process's standard output (past the test harness's capture, so that
/// `cargo test` shows it), never silently; under CI (`CI` set), where it
/// must run, a failure.
pub fn skip(case: &str, why: &str) {
    use std::io::Write;
    assert!(
        std::env::var_os("CI").is_none(),
        "{case}: cannot run here ({why}), and CI must run it"
    );
    let _ = writeln!(std::io::stdout(), "SKIPPED {case}: {why}");
}

/// The path of the `inject` command line (`src/bin/inject/`, behind the
/// `cli` feature): the one cargo built for this test run when the feature
/// is on (`cargo test --features cli`, the README's command); else built
/// here, once per test binary, into this test's own target directory, so
/// that it is never stale.
pub fn cli_bin() -> std::path::PathBuf {
    // Cargo names the binary whether or not this run built it: only with
    // the feature on is it this run's (else it may be a stale one).
    if cfg!(feature = "cli") {
        if let Some(built) = option_env!("CARGO_BIN_EXE_inject") {
            return built.into();
        }
    }
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| cargo_build(&["--bin", "inject", "--features", "cli"]));
    profile_dir().join("inject")
}

/// target/<profile>, from target/<profile>/deps/<this test>.
fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

/// Runs `cargo build` with `args`, in this test's profile.
fn cargo_build(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.arg("build").arg("--quiet").args(args);
    // The variables cargo sets for a test would make build scripts rerun.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            build.env_remove(key);
        }
    }
    if profile_dir().file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    // This test's target directory, whatever --target-dir it was given.
    build
        .arg("--target-dir")
        .arg(profile_dir().parent().unwrap());
    assert!(
        build.status().unwrap().success(),
        "could not build {args:?}"
    );
}
