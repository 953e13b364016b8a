//! Harness for oxistack's end-to-end tests: the real `oxistack` binary, started with
//! its own data directory, free port and database, driven by the unmodified OpenStack
//! clients (python-openstackclient and openstacksdk) from the venv that `scripts/test`
//! creates at `<workspace>/.venv`.
//!
//! - [`Cloud::start`] spawns `oxistack up` and waits until `GET /v3` answers; dropping
//!   the [`Cloud`] stops it (SIGTERM, then SIGKILL) and removes what the test made.
//! - [`Cloud::os`], [`Cloud::os_json`], [`Cloud::os_err`] run `openstack --os-cloud ...`
//!   against it with `OS_CLIENT_CONFIG_FILE=<data dir>/clouds.yaml`.
//! - [`Cloud::http`] is a tiny raw HTTP/1.1 client for what the CLI does not show.
//! - [`on_every_engine!`] runs a flow once on SQLite and once on PostgreSQL (when
//!   `OXISTACK_TEST_PG_URL` names a server; `scripts/test` starts one).
//!
//! The tests expect the binary next to the test executable (`target/<profile>/oxistack`,
//! built by `cargo build -p oxistack`) unless `OXISTACK_BIN` names one.

use std::{
    fmt,
    fs::{self, File},
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

pub mod agent;
pub mod compute;
pub mod multihost;
pub mod netns;
pub mod network;

pub use agent::{Bus, HostAgent};

/// The admin cloud of the generated `clouds.yaml`.
pub const ADMIN: &str = "oxistack-admin";
/// The demo (member) cloud of the generated `clouds.yaml`.
pub const DEMO: &str = "oxistack-demo";
/// Environment variable naming a PostgreSQL server for the tests:
/// `postgres://user:password@host:port/db`. Each test creates its own database there.
pub const PG_URL_ENV: &str = "OXISTACK_TEST_PG_URL";

/// How long one client command may take before the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the server may take to answer `GET /v3` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The database engine a flow runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Run flows (functions `fn(Engine)`) as tests on every engine: `sqlite::<flow>` and
/// `postgres::<flow>`.
#[macro_export]
macro_rules! on_every_engine {
    ($($flow:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $flow() { super::$flow($crate::Engine::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $flow() { super::$flow($crate::Engine::Postgres) } )*
        }
    };
}

// ------------------------------------------------------------------ locations

/// The root of the oxistack workspace: that of the crate whose tests run (cargo and
/// nextest set `CARGO_MANIFEST_DIR` for them), else of this crate's build. At run time
/// first: a test binary a shared target directory kept from another checkout must not
/// reach into that checkout.
pub fn workspace_root() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// The `oxistack` binary under test: `$OXISTACK_BIN`, else the one cargo built next
/// to this test executable.
pub fn oxistack_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("OXISTACK_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(b);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/oxistack
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("oxistack"))
        .expect("the test executable lives in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} does not exist: build it first with `cargo build -p oxistack` (scripts/test does), \
         or name a binary in OXISTACK_BIN",
        bin.display()
    );
    bin
}

/// A program of the test venv (`.venv/bin/<name>`, or `$OXISTACK_E2E_VENV/bin/<name>`).
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("OXISTACK_E2E_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let p = venv.join("bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/test (it creates {} with python-openstackclient and \
         openstacksdk from scripts/requirements-e2e.txt)",
        p.display(),
        venv.display()
    );
    p
}

/// Where the test guest image is built: `$OXISTACK_TEST_IMAGE_DIR`, else
/// `<workspace>/images/out` (as images/build-test-image.sh and scripts/test use).
pub fn test_image_dir() -> PathBuf {
    std::env::var_os("OXISTACK_TEST_IMAGE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("images/out"))
}

/// A name no other test of any process uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}_{}_{t}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

// ------------------------------------------------------------------ temp dirs

/// A directory removed when dropped, unless the test is failing (then it is kept and
/// its path printed, with the server logs in it).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(prefix));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("e2e: kept {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------ commands

/// What a finished command did.
pub struct CmdOutput {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The output as JSON (panics with the whole output when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("output is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\n[{}]\n--- stdout\n{}\n--- stderr\n{}",
            self.cmdline,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Run a command to its end with a deadline; its output is collected.
pub fn run(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let cmdline = cmdline(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = match wait_timeout(&mut child, timeout) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let so = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
            let se = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!("timed out after {timeout:?}: {cmdline}\n--- stdout\n{so}\n--- stderr\n{se}");
        }
    };
    CmdOutput {
        cmdline,
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    }
}

fn cmdline(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains([' ', '"', '\'', '$', '\n']) {
            s.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("wait: {e}"),
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

// ------------------------------------------------------------------ raw HTTP

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self}"))
    }
}

impl fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        for (k, v) in &self.headers {
            write!(f, "\n{k}: {v}")?;
        }
        write!(f, "\n\n{}", self.body)
    }
}

/// [`http`] from inside network namespace `netns` (on a thread of its own that enters
/// it; `None`: this process's namespace).
pub fn http_in(
    netns: Option<&str>,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<HttpResponse> {
    let Some(ns) = netns else {
        return http(port, method, path, headers, body);
    };
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.cloned());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    inside(ns, move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(port, &method, &path, &h, body.as_ref())
    })
}

/// `f` run on a thread that entered network namespace `netns` (what it makes, sockets,
/// stays in that namespace).
fn inside<T: Send + 'static>(
    netns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let ns = format!("/var/run/netns/{netns}");
    thread::spawn(move || {
        let file = File::open(&ns)?;
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("the thread in the namespace panicked"))?
}

/// A TCP connection to `127.0.0.1:port` inside network namespace `netns` (made by a
/// thread that entered it; the socket stays in that namespace).
pub fn connect_in(netns: &str, port: u16) -> std::io::Result<std::net::TcpStream> {
    inside(netns, move || {
        std::net::TcpStream::connect(("127.0.0.1", port))
    })
}

/// One HTTP/1.1 request (`Connection: close`) to `127.0.0.1:port`.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD").ok_or_else(|| {
        std::io::Error::other(format!(
            "bad HTTP response: {}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_response(raw: &[u8], head: bool) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head_text.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked && !head {
        body = dechunk(&body)?;
    }
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

// ------------------------------------------------------------------ PostgreSQL

/// The PostgreSQL server of `OXISTACK_TEST_PG_URL`, or why there is none. When the
/// variable is unset the PostgreSQL variants of the flows are skipped, except under CI
/// (`CI` set), where a missing server is a failure.
fn pg_admin_url() -> Option<String> {
    match std::env::var(PG_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(u) => Some(u),
        None => {
            db::testing::missing(&format!("no PostgreSQL: {PG_URL_ENV} is not set"));
            None
        }
    }
}

/// A fresh database on the test PostgreSQL server, dropped when this is dropped.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    /// The URL of the new database.
    pub url: String,
}

impl PgDatabase {
    /// `None` when no server is configured (see [`PG_URL_ENV`]).
    pub fn create() -> Option<PgDatabase> {
        let admin_url = pg_admin_url()?;
        let name = unique("e2e_");
        let out = psql(&admin_url, &format!("CREATE DATABASE {name}"));
        assert!(
            out.success(),
            "cannot create a test database on {PG_URL_ENV}:\n{out}"
        );
        let url = with_database(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = psql(
                &self.admin_url,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

fn psql(url: &str, sql: &str) -> CmdOutput {
    run(
        Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]),
        Duration::from_secs(60),
    )
}

/// The same server URL naming another database: `postgres://u:p@h:5432/x?q` -> `.../name?q`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// Start `oxistack -c <config> <args>` with its output in `log`, and wait until it
/// answers `GET /v3` on `port`. `Err` holds what went wrong and the server's output.
fn launch(
    config: &Path,
    args: &[std::ffi::OsString],
    log: &Path,
    port: u16,
    netns: Option<&str>,
) -> Result<Child, String> {
    let mut child = spawn_oxistack(config, args, log, netns);
    let deadline = Instant::now() + START_TIMEOUT;
    let text = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "oxistack exited with {status} before answering GET /v3:\n{}",
                text()
            ));
        }
        // Ready once it says it has bound its ports (so the answer is not from some other
        // process on the same port) and answers.
        let said_ready = || {
            let t = text();
            t.contains("oxistack is up") || t.contains("serving")
        };
        if said_ready()
            && http_in(netns, port, "GET", "/v3", &[], None).is_ok_and(|r| r.status == 200)
        {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "oxistack did not answer GET /v3 within {START_TIMEOUT:?}:\n{}",
                text()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Start `oxistack -c <config> <args>` (inside network namespace `netns` when given)
/// with its output in `log`, without waiting for anything.
fn spawn_oxistack(
    config: &Path,
    args: &[std::ffi::OsString],
    log: &Path,
    netns: Option<&str>,
) -> Child {
    let out = File::create(log).expect("server log");
    let err = out.try_clone().expect("server log");
    let mut cmd = match netns {
        None => Command::new(oxistack_bin()),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(oxistack_bin());
            c
        }
    };
    cmd.arg("-c")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("OXISTACK_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", oxistack_bin().display()))
}

/// SIGTERM a server and wait; `Err` unless it exits 0 within 30 s.
fn terminate(mut child: Child) -> Result<(), String> {
    signal(child.id(), "TERM");
    match wait_timeout(&mut child, STOP_TIMEOUT) {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!(
            "oxistack exited with {s} after SIGTERM (expected 0)"
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "oxistack did not exit within {STOP_TIMEOUT:?} of SIGTERM"
            ))
        }
    }
}

/// One more process of a cloud ([`Cloud::add_node`]): `oxistack serve` on the same
/// data directory (keys) and database, on its own port. Stopped when dropped.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    /// A raw request to this node.
    #[track_caller]
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> HttpResponse {
        http(self.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }

    /// SIGTERM the node; panics unless it exits 0.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            if let Err(e) = terminate(child) {
                panic!(
                    "{e}:\n{}",
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = terminate(child);
        }
    }
}

// ------------------------------------------------------------------ the cloud

/// A running `oxistack up` with its own data directory, port and database.
pub struct Cloud {
    pub engine: Engine,
    /// The data directory (`clouds.yaml`, `openrc`, passwords, keys, SQLite file).
    pub data_dir: PathBuf,
    /// The configuration file the server and `oxistack manage` read.
    pub config: PathBuf,
    /// The identity port.
    pub port: u16,
    /// The image port.
    pub image_port: u16,
    /// The network port.
    pub network_port: u16,
    /// The placement port.
    pub placement_port: u16,
    /// The compute API port.
    pub compute_port: u16,
    /// The metadata service's port.
    pub metadata_port: u16,
    /// The VNC console proxy's port.
    pub console_port: u16,
    /// The block storage port.
    pub volume_port: u16,
    /// The Object Storage (Swift) port.
    pub object_port: u16,
    /// The namespace the cloud (and the clients) run in; `None`: the machine's own,
    /// with the network agent off (it would wire the machine's namespace).
    netns: Option<String>,
    /// Whether `up` registers the test image as `cirros` (off unless
    /// [`Cloud::with_test_image`]: building it costs time every test would pay).
    test_image: bool,
    /// The compute host's `[compute] driver`: `fake` unless [`Cloud::with_qemu`] (QEMU
    /// makes taps, so only inside a namespace of the test's).
    compute_driver: &'static str,
    server: Option<Child>,
    /// `Some(role)`: run `oxistack serve --role <role>` rather than `oxistack up`.
    serve_role: Option<String>,
    /// More lines of the `[identity]` and `[network]` sections, by section.
    options: Vec<(&'static str, String)>,
    /// The `[bus]` of every process of this cloud (`None`: in-process).
    bus: Option<Bus>,
    /// Whether its services call each other as the admin user (`[service_auth]`).
    service_auth: bool,
    starts: u32,
    log: PathBuf,
    pg: Option<PgDatabase>,
    dir: TempDir,
}

impl Cloud {
    /// Create a data directory and database and start the cloud on them. `None` when
    /// the engine is PostgreSQL and no server is configured (the test is skipped).
    pub fn start(engine: Engine) -> Option<Cloud> {
        let mut c = Cloud::new(engine)?;
        c.up();
        Some(c)
    }

    /// Like [`Cloud::start`] without starting the server (for `oxistack manage` first).
    /// A cloud on SQLite, which needs no server (never a skip).
    pub fn sqlite() -> Cloud {
        Cloud::new(Engine::Sqlite).expect("a SQLite cloud needs no database server")
    }

    /// A cloud on `engine`; `None` only for PostgreSQL outside `scripts/test` and CI
    /// without `OXISTACK_TEST_PG_URL` (under them `PgDatabase::create` fails the test).
    pub fn new(engine: Engine) -> Option<Cloud> {
        let pg = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(PgDatabase::create()?),
        };
        let dir = TempDir::new("oxistack-e2e-");
        let data_dir = dir.path().join("data");
        let c = Cloud {
            engine,
            config: dir.path().join("oxistack.toml"),
            data_dir,
            port: 0,
            image_port: 0,
            network_port: 0,
            placement_port: 0,
            compute_port: 0,
            metadata_port: 0,
            console_port: 0,
            volume_port: 0,
            object_port: 0,
            netns: None,
            test_image: false,
            compute_driver: "fake",
            server: None,
            serve_role: None,
            options: Vec::new(),
            bus: None,
            service_auth: false,
            starts: 0,
            log: PathBuf::new(),
            pg,
            dir,
        };
        Some(c)
    }

    /// The temporary directory holding everything of this test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database URL given to the server, if not the default SQLite file.
    pub fn database_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|p| p.url.as_str())
    }

    /// The port of each service, by its configuration section (what another process
    /// calling this cloud's APIs configures).
    pub fn api_ports(&self) -> [(&'static str, u16); 9] {
        [
            ("identity", self.port),
            ("image", self.image_port),
            ("network", self.network_port),
            ("placement", self.placement_port),
            ("compute_api", self.compute_port),
            ("metadata", self.metadata_port),
            ("novncproxy", self.console_port),
            ("volume", self.volume_port),
            ("object", self.object_port),
        ]
    }

    /// `http://127.0.0.1:<port>/v3`.
    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}/v3", self.port)
    }

    /// Write the configuration file for `port`.
    fn write_config(&mut self, port: u16) {
        assert!(
            self.compute_driver != "qemu" || self.netns.is_some(),
            "QEMU guests run only inside a namespace of the test's (Cloud::in_netns)"
        );
        self.port = port;
        self.image_port = free_port();
        self.network_port = free_port();
        self.placement_port = free_port();
        self.compute_port = free_port();
        self.metadata_port = free_port();
        self.console_port = free_port();
        self.volume_port = free_port();
        self.object_port = free_port();
        fs::write(&self.config, self.config_text(port, self.image_port))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.config.display()));
    }

    /// The configuration file of a process of this cloud listening on `port`.
    fn config_text(&self, port: u16, image_port: u16) -> String {
        let s = |p: &Path| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
        let mut text = format!(
            "# written by the e2e tests\ndata_dir = {}\nbind_host = \"127.0.0.1\"\npublic_host = \"127.0.0.1\"\nlog = \"info\"\n",
            s(&self.data_dir)
        );
        if self.test_image {
            text.push_str(&format!(
                "test_image = true\ntest_image_dir = {}\n",
                s(&test_image_dir())
            ));
        } else {
            text.push_str("test_image = false\n");
        }
        text.push_str(&format!("\n[image]\nport = {image_port}\n"));
        text.push_str(&format!("\n[network]\nport = {}\n", self.network_port));
        self.push_options(&mut text, "network");
        text.push_str(&format!("\n[placement]\nport = {}\n", self.placement_port));
        text.push_str(&format!("\n[compute_api]\nport = {}\n", self.compute_port));
        text.push_str(&format!("\n[metadata]\nport = {}\n", self.metadata_port));
        self.push_options(&mut text, "metadata");
        text.push_str(&format!("\n[novncproxy]\nport = {}\n", self.console_port));
        text.push_str(&format!("\n[volume]\nport = {}\n", self.volume_port));
        text.push_str(&format!("\n[object]\nport = {}\n", self.object_port));
        self.push_options(&mut text, "object");
        text.push_str(&format!(
            "\n[network_agent]\nenabled = {}\nhost = \"h1\"\nresync_interval = 5\n",
            self.netns.is_some()
        ));
        self.push_options(&mut text, "network_agent");
        text.push_str(&format!(
            "\n[compute]\ndriver = \"{}\"\n",
            self.compute_driver
        ));
        if self.netns.is_some() {
            // the network agent's host: the ports Compute binds there are wired by it
            text.push_str("host = \"h1\"\n");
        }
        self.push_options(&mut text, "compute");
        if let Some(url) = self.database_url() {
            text.push_str(&format!(
                "\n[database]\nurl = {}\n",
                serde_json::to_string(url).unwrap_or_default()
            ));
        }
        if let Some(bus) = &self.bus {
            text.push_str(&bus.section());
        }
        if self.service_auth {
            text.push_str(&self.service_auth_section());
        }
        text.push_str(&format!("\n[identity]\nport = {port}\n"));
        self.push_options(&mut text, "identity");
        text
    }

    /// `[service_auth]`: the admin user, with the password `manage bootstrap` made.
    fn service_auth_section(&self) -> String {
        format!(
            "\n[service_auth]\npassword = {}\n",
            serde_json::to_string(&self.password("admin")).unwrap_or_default()
        )
    }

    /// The extra lines of `section`, each ended by a newline.
    fn push_options(&self, text: &mut String, section: &str) {
        for (_, line) in self.options.iter().filter(|(s, _)| *s == section) {
            text.push_str(line);
            text.push('\n');
        }
    }

    /// Have `up` register the test image as `cirros`, built (or found current) in the
    /// workspace's `images/out` (or `$OXISTACK_TEST_IMAGE_DIR`), which scripts/test
    /// builds first. Before the first start.
    pub fn with_test_image(&mut self) {
        assert!(
            self.starts == 0 && !self.config.is_file(),
            "configure before the first start"
        );
        self.test_image = true;
    }

    /// Run the cloud, its network agent and the clients inside `ns` (before the first
    /// start), so the agent wires that namespace as host `h1`.
    pub fn in_netns(&mut self, ns: &netns::Netns) {
        assert!(
            self.starts == 0 && !self.config.is_file(),
            "configure before the first start"
        );
        self.netns = Some(ns.name.clone());
    }

    /// Have the services call each other as the admin user (`[service_auth]`), as the
    /// processes of `serve` do: after `oxistack manage bootstrap` (which makes the
    /// password), before the first start.
    pub fn with_service_auth(&mut self) {
        assert!(
            self.starts == 0 && self.config.is_file(),
            "after `manage bootstrap`, before the first start"
        );
        self.service_auth = true;
        fs::write(&self.config, self.config_text(self.port, self.image_port))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.config.display()));
    }

    /// Have every process of this cloud talk over RabbitMQ (`[bus]`), as `serve` on
    /// many machines does. Before the first start.
    pub fn with_bus(&mut self, bus: &Bus) {
        assert!(
            self.starts == 0 && !self.config.is_file(),
            "configure before the first start"
        );
        self.bus = Some(bus.clone());
    }

    /// Where the network agent keeps its files.
    pub fn agent_state_dir(&self) -> PathBuf {
        self.data_dir.join("network-agent")
    }

    /// Add a line to the `[network_agent]` section of the configuration (before the
    /// first start), e.g. `metadata_url = "http://127.0.0.1:8775"`.
    pub fn agent_option(&mut self, line: &str) {
        self.option("network_agent", line);
    }

    /// Run the compute host with the QEMU driver (real guests, KVM where it works, else
    /// TCG) rather than the fake one. The cloud must run in a namespace
    /// ([`Cloud::in_netns`]): the guests' taps are made there. Before the first start.
    pub fn with_qemu(&mut self) {
        assert!(
            self.starts == 0 && !self.config.is_file(),
            "configure before the first start"
        );
        self.compute_driver = "qemu";
    }

    /// Add a line to the `[compute]` section of the configuration (before the first
    /// start), e.g. `sync_interval = 2`.
    pub fn compute_option(&mut self, line: &str) {
        self.option("compute", line);
    }

    /// Add a line to the `[identity]` section of the configuration (before the first
    /// start), e.g. `validation_cache_seconds = 2`.
    pub fn identity_option(&mut self, line: &str) {
        self.option("identity", line);
    }

    /// Add a line to the `[metadata]` section of the configuration (before the first
    /// start), e.g. `metadata_proxy_shared_secret = "s"`.
    pub fn metadata_option(&mut self, line: &str) {
        self.option("metadata", line);
    }

    /// Add a line to the `[object]` section of the configuration (before the first
    /// start), e.g. `part_power = 6`.
    pub fn object_option(&mut self, line: &str) {
        self.option("object", line);
    }

    /// Add a line to the `[network]` section of the configuration (before the first
    /// start), e.g. `agent_down_time = 4`.
    pub fn network_option(&mut self, line: &str) {
        self.option("network", line);
    }

    fn option(&mut self, section: &'static str, line: &str) {
        assert!(
            self.starts == 0 && !self.config.is_file(),
            "configure before the first start"
        );
        self.options.push((section, line.to_owned()));
    }

    /// Start the server. The first time, pick a free port unless configured already,
    /// and another one if some other process took it meanwhile; later (after
    /// [`Cloud::stop`]) on the same port, data directory and database.
    pub fn up(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        if self.starts > 0 {
            return self.spawn_and_wait(true);
        }
        if !self.config.is_file() {
            self.write_config(free_port());
        }
        for attempt in 1..=5 {
            self.spawn_and_wait(attempt == 5);
            if self.server.is_some() {
                return;
            }
            self.write_config(free_port());
        }
    }

    /// Start the server and wait for `GET /v3`. On a port clash with `last == false`,
    /// return with no server so the caller may try another port.
    fn spawn_and_wait(&mut self, last: bool) {
        self.starts += 1;
        self.log = self.dir.path().join(format!("server-{}.log", self.starts));
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        match &self.serve_role {
            None => args.extend([
                "up".into(),
                "--data-dir".into(),
                self.data_dir.clone().into_os_string(),
            ]),
            Some(role) => args.extend(["serve".into(), "--role".into(), role.into()]),
        }
        match launch(
            &self.config,
            &args,
            &self.log,
            self.port,
            self.netns.as_deref(),
        ) {
            Ok(child) => self.server = Some(child),
            Err(log) if !last && log.to_ascii_lowercase().contains("in use") => {
                eprintln!("e2e: port {} was taken, trying another", self.port);
            }
            Err(log) => panic!("{log}"),
        }
    }

    /// Like [`Cloud::up`] with `oxistack serve --role <role>` (no bootstrap: run
    /// `oxistack manage bootstrap` first).
    pub fn serve(&mut self, role: &str) {
        self.serve_role = Some(role.to_owned());
        self.up();
    }

    /// Whether the server process runs.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// SIGTERM the server and wait for it; panics unless it exits 0 within 30 s.
    pub fn stop(&mut self) {
        if let Some(child) = self.server.take() {
            if let Err(e) = terminate(child) {
                panic!("{e}:\n{}", self.server_log());
            }
        }
    }

    /// SIGKILL the server (a crash: no shutdown code runs) and wait for it to die.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start another process of this cloud: `oxistack serve --role <role>` with the
    /// same configuration (data directory, database) on another port.
    pub fn add_node(&self, role: &str) -> Node {
        let port = free_port();
        let name = unique("node-");
        let config = self.dir.path().join(format!("{name}.toml"));
        let log = self.dir.path().join(format!("{name}.log"));
        fs::write(&config, self.config_text(port, free_port())).expect("node config");
        let args = ["serve".into(), "--role".into(), role.into()];
        let child = launch(&config, &args, &log, port, self.netns.as_deref())
            .unwrap_or_else(|e| panic!("{e}"));
        Node {
            port,
            child: Some(child),
            log,
        }
    }

    /// Start an image-only process of this cloud (`oxistack serve --role image`) on its
    /// own port. It has no identity in-process: it validates tokens by asking this
    /// cloud's identity service as the admin user (`[service_auth]`).
    pub fn add_image_node(&self) -> Node {
        let image_port = free_port();
        let name = unique("image-node-");
        let config = self.dir.path().join(format!("{name}.toml"));
        let log = self.dir.path().join(format!("{name}.log"));
        let mut text = self.config_text(self.port, image_port);
        if !self.service_auth {
            text.push_str(&self.service_auth_section());
        }
        fs::write(&config, text).expect("node config");
        let args = ["serve".into(), "--role".into(), "image".into()];
        // Ready once it logs "serving" (the identity it leans on already answers).
        let child = launch(&config, &args, &log, self.port, self.netns.as_deref())
            .unwrap_or_else(|e| panic!("{e}"));
        Node {
            port: image_port,
            child: Some(child),
            log,
        }
    }

    /// What the server printed in its latest run.
    pub fn server_log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A file of the data directory, as text.
    pub fn read_data_file(&self, name: &str) -> String {
        let p = self.data_dir.join(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
    }

    /// The password of `admin` or `demo`, as `oxistack up` generated it.
    pub fn password(&self, user: &str) -> String {
        self.read_data_file(&format!("{user}-password"))
            .trim()
            .to_owned()
    }

    // -------------------------------------------------------------- clients

    /// A client program, inside the cloud's namespace when it runs in one.
    fn client_command(&self, program: PathBuf) -> Command {
        match &self.netns {
            None => Command::new(program),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
        }
    }

    /// The environment of the clients: only this cloud's `clouds.yaml`, a private
    /// HOME, no `OS_*` variables or proxies from the caller.
    fn client_env(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(k);
            }
        }
        let home = self.dir.path().join("home");
        let _ = fs::create_dir_all(&home);
        cmd.env("OS_CLIENT_CONFIG_FILE", self.data_dir.join("clouds.yaml"))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("PYTHONWARNINGS", "ignore")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY");
    }

    /// `openstack <args>` with nothing added.
    pub fn openstack(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = self.client_command(venv_bin("openstack"));
        cmd.args(args);
        self.client_env(&mut cmd);
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `openstack --os-cloud <cloud> <args>`.
    pub fn os_cmd(&self, cloud: &str, args: &[&str]) -> CmdOutput {
        let mut a = vec!["--os-cloud", cloud];
        a.extend_from_slice(args);
        self.openstack(&a)
    }

    /// `openstack --os-cloud <cloud> <args>`, which must succeed; its stdout.
    #[track_caller]
    pub fn os(&self, cloud: &str, args: &[&str]) -> String {
        let out = self.os_cmd(cloud, args);
        assert!(out.success(), "openstack failed:\n{out}");
        out.stdout
    }

    /// `openstack --os-cloud <cloud> <args> -f json`, which must succeed; its output.
    #[track_caller]
    pub fn os_json(&self, cloud: &str, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend_from_slice(&["-f", "json"]);
        let out = self.os_cmd(cloud, &a);
        assert!(out.success(), "openstack failed:\n{out}");
        out.json()
    }

    /// `openstack --os-cloud <cloud> <args>`, which must fail; what it printed.
    #[track_caller]
    pub fn os_err(&self, cloud: &str, args: &[&str]) -> CmdOutput {
        let out = self.os_cmd(cloud, args);
        assert!(!out.success(), "openstack should have failed:\n{out}");
        out
    }

    /// A public raw image `name` of `bytes` (zeros will do for the fake driver),
    /// registered by the admin with `openstack image create` and these `properties`
    /// (`key=value`); its id.
    #[track_caller]
    pub fn public_image(&self, name: &str, bytes: &[u8], properties: &[&str]) -> String {
        let file = self.dir().join(format!("{name}.img"));
        fs::write(&file, bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let file = file.display().to_string();
        let mut args = vec![
            "image",
            "create",
            "--public",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--file",
            &file,
        ];
        for p in properties {
            args.extend(["--property", p]);
        }
        args.push(name);
        let v = self.os_json(ADMIN, &args);
        v["id"].as_str().unwrap_or_default().to_owned()
    }

    /// `.venv/bin/python -c <script>` in the clients' environment.
    pub fn python(&self, script: &str) -> CmdOutput {
        self.python_within(script, CLIENT_TIMEOUT)
    }

    /// [`Cloud::python`] for a script that may take up to `timeout` (gigabytes on a
    /// loaded machine).
    pub fn python_within(&self, script: &str, timeout: Duration) -> CmdOutput {
        let mut cmd = self.client_command(venv_bin("python"));
        cmd.arg("-c").arg(script);
        self.client_env(&mut cmd);
        run(&mut cmd, timeout)
    }

    /// `bash -c <script>` in the clients' environment, the venv first on `PATH`.
    pub fn bash(&self, script: &str) -> CmdOutput {
        let bin = venv_bin("openstack")
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script);
        self.client_env(&mut cmd);
        cmd.env("PATH", path)
            .env_remove("OS_CLIENT_CONFIG_FILE")
            .current_dir(&self.data_dir);
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `oxistack -c <config> manage <args>`.
    pub fn manage(&self, args: &[&str]) -> CmdOutput {
        if !self.config.is_file() {
            panic!("no configuration written yet");
        }
        let mut cmd = Command::new(oxistack_bin());
        cmd.arg("-c")
            .arg(&self.config)
            .arg("manage")
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        run(&mut cmd, Duration::from_secs(120))
    }

    /// Write the configuration (with a free port) without starting the server.
    pub fn configure(&mut self) {
        if !self.config.is_file() {
            self.write_config(free_port());
        }
    }

    // -------------------------------------------------------------- raw HTTP

    /// A raw request to the identity port.
    #[track_caller]
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> HttpResponse {
        http_in(
            self.netns.as_deref(),
            self.port,
            method,
            path,
            headers,
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path} failed: {e}\n{}", self.server_log()))
    }

    /// A project-scoped token by password (`POST /v3/auth/tokens`), in domain Default.
    #[track_caller]
    pub fn issue_token(&self, user: &str, password: &str, project: &str) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }});
        let r = self.http("POST", "/v3/auth/tokens", &[], Some(&body));
        assert_eq!(r.status, 201, "token issue for {user} failed: {r}");
        r.header("x-subject-token")
            .expect("X-Subject-Token")
            .to_owned()
    }

    /// `GET /v3/auth/tokens` of `subject`, authenticated by `auth`.
    #[track_caller]
    pub fn validate(&self, auth: &str, subject: &str) -> HttpResponse {
        self.http(
            "GET",
            "/v3/auth/tokens",
            &[("X-Auth-Token", auth), ("X-Subject-Token", subject)],
            None,
        )
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if let Some(child) = self.server.take() {
            end(child);
        }
        if self.netns.is_some() {
            netns::remove_agent_leftovers(&self.agent_state_dir());
        }
        if thread::panicking() {
            print_tail("the server log", &self.log, 60);
        }
    }
}

/// SIGTERM a process, SIGKILL it if it is still there after [`STOP_TIMEOUT`], and reap it.
fn end(mut child: Child) {
    signal(child.id(), "TERM");
    if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Print the last `n` lines of the log `path` (`what` it is), for a failing test.
fn print_tail(what: &str, path: &Path, n: usize) {
    let log = fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(n).collect();
    eprintln!(
        "e2e: last lines of {what} {}:\n{}",
        path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Wait until `f` holds, trying every 200 ms; fail after `within`.
#[track_caller]
pub fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5/db", "x"),
            "postgres://u:p@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn http_responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n{}", false).unwrap();
        assert_eq!(
            (r.status, r.header("a"), r.body.as_str()),
            (200, Some("b"), "{}")
        );
        let r = parse_response(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n1\r\n \r\n0\r\n\r\n", false)
            .unwrap();
        assert_eq!(r.body, "{} ");
    }
}
