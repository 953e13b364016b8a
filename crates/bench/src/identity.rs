//! The identity benchmark: startup, token validation under load, token issue, memory.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};

use crate::{
    client::Conn,
    server::{cpu_of, fresh_dir, loadavg, LogMode, Server},
    stats::{ms, Lat},
};

/// Give up on a load phase after this many failed requests.
const MAX_ERRORS: usize = 100;

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Validation requests per variant (with and without the catalog).
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Requests per list phase at `--concurrency` (a quarter of it at concurrency 1).
    #[arg(long, default_value_t = 40_000)]
    pub list_requests: usize,
    /// Longest a validation variant may run, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub max_secs: f64,
    /// Concurrent connections (one task each) for validation.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Unmeasured validation requests before each variant.
    #[arg(long, default_value_t = 2_000)]
    pub warmup: usize,
    /// Sequential token-method issues per variant (with and without the catalog).
    #[arg(long, default_value_t = 2_000)]
    pub issue_requests: usize,
    /// Longest a token-issue variant may run, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub issue_max_secs: f64,
    /// Sequential password-method issues.
    #[arg(long, default_value_t = 50)]
    pub password_requests: usize,
    /// Longest the password phase may run, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub password_max_secs: f64,
    /// Seconds to let the server settle before reading its idle memory.
    #[arg(long, default_value_t = 1.0)]
    pub settle_secs: f64,
    /// Extra environment of the server, for experiments (e.g. `TOKIO_WORKER_THREADS=1`).
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    pub server_env: Vec<String>,
    /// Keep the temporary data directories (with the server's stdout and stderr).
    #[arg(long)]
    pub keep: bool,
}

/// Everything measured against one server run.
pub struct Report {
    pub mode: LogMode,
    pub startup: Duration,
    pub restart: Duration,
    pub rss_start: u64,
    pub rss_after: u64,
    pub hwm: u64,
    pub validate_nocat: Lat,
    pub validate_cat: Lat,
    /// The bare axum "hello" route at the same concurrency, in the same run.
    pub hello: Lat,
    /// `GET /v3/projects` and `GET /v3/users` (`LIST_ITEMS` each) at `--concurrency`
    /// and at concurrency 1.
    pub projects: Lat,
    pub projects_c1: Lat,
    pub users: Lat,
    pub users_c1: Lat,
    pub issue_nocat: Lat,
    pub issue_cat: Lat,
    pub password: Lat,
    pub stop: Duration,
    pub clean_exit: bool,
    pub log_bytes: u64,
    pub dir: PathBuf,
}

const TOKENS: &str = "/v3/auth/tokens";
/// How many projects and users the list phases list.
pub const LIST_ITEMS: usize = 50;
const TOKENS_NOCAT: &str = "/v3/auth/tokens?nocatalog";

fn scope() -> serde_json::Value {
    serde_json::json!({"project": {"name": "admin", "domain": {"name": "Default"}}})
}

fn password_body(password: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": password}}},
            "scope": scope(),
        }})
        .to_string(),
    )
}

fn token_body(token: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({"auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": scope(),
        }})
        .to_string(),
    )
}

fn json_ct() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// Issue a project-scoped admin token with the password.
pub(crate) async fn password_token(conn: &mut Conn, password: &str) -> anyhow::Result<String> {
    let ct = json_ct();
    let req = conn.request(
        Method::POST,
        &Uri::from_static(TOKENS_NOCAT),
        &[("content-type", &ct)],
        password_body(password),
    );
    let r = conn.send(req).await?;
    if r.status != StatusCode::CREATED {
        bail!(
            "password authentication answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let body = r.json()?;
    if body["token"]["project"]["name"] != "admin" {
        bail!("the token is not scoped to the admin project: {body}");
    }
    let tok = r
        .headers
        .get("x-subject-token")
        .context("no X-Subject-Token")?;
    Ok(tok.to_str()?.to_owned())
}

/// `count` validations over `concurrency` keep-alive connections, stopping at `max`.
pub(crate) async fn validate_load(
    addr: SocketAddr,
    path: &'static str,
    token: &HeaderValue,
    count: usize,
    concurrency: usize,
    max: Duration,
) -> anyhow::Result<Lat> {
    let headers = vec![
        ("x-auth-token", token.clone()),
        ("x-subject-token", token.clone()),
    ];
    get_load(addr, path, headers, count, concurrency, max).await
}

/// `count` GETs of `path` with `headers` over `concurrency` keep-alive connections,
/// stopping at `max`; a `200` is a success.
pub async fn get_load(
    addr: SocketAddr,
    path: &'static str,
    headers: Vec<(&'static str, HeaderValue)>,
    count: usize,
    concurrency: usize,
    max: Duration,
) -> anyhow::Result<Lat> {
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(Conn::connect(addr).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let deadline = t0 + max;
    let mut tasks = Vec::new();
    for mut conn in conns {
        let next = next.clone();
        let headers = headers.clone();
        let uri = Uri::from_static(path);
        tasks.push(tokio::spawn(async move {
            let hs: Vec<(&'static str, &HeaderValue)> =
                headers.iter().map(|(k, v)| (*k, v)).collect();
            let mut lat = Vec::with_capacity(count / concurrency + 1);
            let (mut errors, mut body) = (0, 0);
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let req = conn.request(Method::GET, &uri, &hs, Bytes::new());
                let s = Instant::now();
                let r = conn.send_discard(req).await;
                let e = Instant::now();
                match r {
                    Ok((StatusCode::OK, len)) => {
                        lat.push(u64::try_from((e - s).as_nanos()).unwrap_or(u64::MAX));
                        body = len;
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        if conn.reconnect().await.is_err() {
                            break;
                        }
                    }
                }
                if errors > MAX_ERRORS || e >= deadline {
                    break;
                }
            }
            (lat, errors, body)
        }));
    }
    let (mut all, mut errors, mut body) = (Vec::with_capacity(count), 0, 0);
    for t in tasks {
        let (lat, err, b) = t.await?;
        all.extend(lat);
        errors += err;
        body = body.max(b);
    }
    Ok(Lat::from_samples(all, errors, t0.elapsed(), body))
}

/// `count` sequential requests made by `make`, expecting `want`, stopping at `max`.
async fn sequential(
    conn: &mut Conn,
    count: usize,
    max: Duration,
    want: StatusCode,
    make: impl Fn(&Conn) -> http::Request<http_body_util::Full<Bytes>>,
) -> anyhow::Result<Lat> {
    let t0 = Instant::now();
    let (mut lat, mut errors, mut body) = (Vec::with_capacity(count), 0, 0);
    let mut first_error = None;
    for _ in 0..count {
        let req = make(conn);
        let s = Instant::now();
        let r = conn.send_discard(req).await;
        let e = Instant::now();
        match r {
            Ok((st, len)) if st == want => {
                lat.push(u64::try_from((e - s).as_nanos()).unwrap_or(u64::MAX));
                body = len;
            }
            Ok((st, _)) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("status {st}"));
            }
            Err(err) => {
                errors += 1;
                first_error.get_or_insert_with(|| err.to_string());
                conn.reconnect().await?;
            }
        }
        if errors > MAX_ERRORS || e - t0 >= max {
            break;
        }
    }
    if let Some(e) = first_error {
        eprintln!("    (first error: {e})");
    }
    Ok(Lat::from_samples(lat, errors, t0.elapsed(), body))
}

/// Make `path` (`/v3/projects` or `/v3/users`) list exactly `LIST_ITEMS` items by
/// creating `bench-N` resources (without passwords: no hashing).
async fn fill(conn: &mut Conn, token: &HeaderValue, path: &'static str) -> anyhow::Result<()> {
    let key = path.trim_start_matches("/v3/");
    let one = key.trim_end_matches('s');
    let ct = json_ct();
    let uri = Uri::from_static(path);
    let r = conn
        .send(conn.request(Method::GET, &uri, &[("x-auth-token", token)], Bytes::new()))
        .await?;
    let have = r.json()?[key].as_array().map(Vec::len).unwrap_or(0);
    for i in have..LIST_ITEMS {
        let body =
            serde_json::json!({ one: {"name": format!("bench-{i}"), "domain_id": "default"} });
        let req = conn.request(
            Method::POST,
            &uri,
            &[("x-auth-token", token), ("content-type", &ct)],
            Bytes::from(body.to_string()),
        );
        let r = conn.send(req).await?;
        if r.status != StatusCode::CREATED {
            bail!(
                "POST {path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    let r = conn
        .send(conn.request(Method::GET, &uri, &[("x-auth-token", token)], Bytes::new()))
        .await?;
    let n = r.json()?[key].as_array().map(Vec::len).unwrap_or(0);
    if n != LIST_ITEMS {
        bail!("GET {path} lists {n} items, not {LIST_ITEMS}");
    }
    Ok(())
}

/// The server's RSS now, for the progress lines.
fn rss(s: &Server) -> String {
    s.memory()
        .map(|(r, _)| format!("{:.1} MiB", r as f64 / 1024.0))
        .unwrap_or_else(|_| "?".into())
}

/// Run a phase, charging it the CPU time the server and this process used meanwhile.
async fn metered(
    server: &Server,
    phase: impl std::future::Future<Output = anyhow::Result<Lat>>,
) -> anyhow::Result<Lat> {
    let (s0, c0) = (server.cpu(), cpu_of("self"));
    let mut l = phase.await?;
    l.server_cpu = server.cpu().saturating_sub(s0);
    l.client_cpu = cpu_of("self").saturating_sub(c0);
    Ok(l)
}

async fn settle(o: &Opts) {
    tokio::time::sleep(Duration::from_secs_f64(o.settle_secs)).await;
}

/// Run every phase against one fresh server.
pub async fn run(bin: &Path, mode: LogMode, o: &Opts) -> anyhow::Result<Report> {
    let dir = fresh_dir(match mode {
        LogMode::Default => "info",
        LogMode::Warn => "warn",
    })?;
    println!(
        "== identity, server {} ({}), data dir {}, load average {}",
        bin.display(),
        mode.label(),
        dir.display(),
        loadavg()
    );
    if !o.server_env.is_empty() {
        println!("  server environment: {}", o.server_env.join(" "));
    }
    let server = Server::start(bin, &dir, mode, &o.server_env).await?;
    println!(
        "  startup (spawn -> first 200 on GET /v3, fresh data dir): {}   [server says: {}]",
        ms(server.startup),
        server.self_reported.as_deref().unwrap_or("?")
    );
    let startup = server.startup;
    settle(o).await;
    let (rss_start, _) = server.memory()?;
    println!(
        "  idle RSS after startup: {:.1} MiB",
        rss_start as f64 / 1024.0
    );

    let password = fs::read_to_string(dir.join("admin-password"))
        .context("cannot read admin-password")?
        .trim()
        .to_owned();
    let mut conn = Conn::connect(server.addr).await?;
    let token = password_token(&mut conn, &password).await?;
    let token_hv = HeaderValue::from_str(&token)?;

    let max = Duration::from_secs_f64(o.max_secs);
    let hello = {
        let h = crate::bare::HelloServer::start(crate::bare::Loop::Axum).await?;
        get_load(
            h.addr,
            crate::bare::PATH,
            vec![],
            o.warmup,
            o.concurrency,
            max,
        )
        .await?;
        let l = get_load(
            h.addr,
            crate::bare::PATH,
            vec![],
            o.requests,
            o.concurrency,
            max,
        )
        .await?;
        h.stop().await?;
        println!("  bare axum hello  c={}: {}", o.concurrency, l.line());
        l
    };
    let mut validate = Vec::new();
    for (label, path) in [("?nocatalog", TOKENS_NOCAT), ("with catalog", TOKENS)] {
        validate_load(server.addr, path, &token_hv, o.warmup, o.concurrency, max).await?;
        let l = metered(
            &server,
            validate_load(server.addr, path, &token_hv, o.requests, o.concurrency, max),
        )
        .await?;
        println!(
            "  validate {label:<13} c={}: {}  [RSS {}]",
            o.concurrency,
            l.line(),
            rss(&server)
        );
        validate.push(l);
    }

    let mut lists = Vec::new();
    for path in ["/v3/projects", "/v3/users"] {
        fill(&mut conn, &token_hv, path).await?;
        let headers = vec![("x-auth-token", token_hv.clone())];
        get_load(
            server.addr,
            path,
            headers.clone(),
            o.warmup,
            o.concurrency,
            max,
        )
        .await?;
        for c in [o.concurrency, 1] {
            let n = if c == 1 {
                o.list_requests / 4
            } else {
                o.list_requests
            };
            let l = metered(
                &server,
                get_load(server.addr, path, headers.clone(), n, c, max),
            )
            .await?;
            println!(
                "  list {path:<13} c={c}: {}  [RSS {}]",
                l.line(),
                rss(&server)
            );
            lists.push(l);
        }
    }

    let imax = Duration::from_secs_f64(o.issue_max_secs);
    let body = token_body(&token);
    let ct = json_ct();
    let mut issue = Vec::new();
    for (label, path) in [("?nocatalog", TOKENS_NOCAT), ("with catalog", TOKENS)] {
        let uri = Uri::from_static(path);
        let make = |c: &Conn| c.request(Method::POST, &uri, &[("content-type", &ct)], body.clone());
        sequential(
            &mut conn,
            o.issue_requests.min(50),
            imax,
            StatusCode::CREATED,
            make,
        )
        .await?;
        let l = metered(
            &server,
            sequential(&mut conn, o.issue_requests, imax, StatusCode::CREATED, make),
        )
        .await?;
        println!(
            "  issue (token) {label:<8} c=1: {}  [RSS {}]",
            l.line(),
            rss(&server)
        );
        issue.push(l);
    }

    let pbody = password_body(&password);
    let uri = Uri::from_static(TOKENS_NOCAT);
    let make = |c: &Conn| c.request(Method::POST, &uri, &[("content-type", &ct)], pbody.clone());
    let pw = metered(
        &server,
        sequential(
            &mut conn,
            o.password_requests,
            Duration::from_secs_f64(o.password_max_secs),
            StatusCode::CREATED,
            make,
        ),
    )
    .await?;
    println!(
        "  issue (password) ?nocatalog c=1: {}  [RSS {}]",
        pw.line(),
        rss(&server)
    );
    drop(conn);

    settle(o).await;
    let (rss_after, hwm) = server.memory()?;
    println!(
        "  idle RSS after load: {:.1} MiB (peak {:.1} MiB)",
        rss_after as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let (stop, clean_exit) = server.stop().await?;
    println!(
        "  SIGTERM -> exit: {} ({})",
        ms(stop),
        if clean_exit { "clean" } else { "NOT clean" }
    );
    let restarted = Server::start(bin, &dir, mode, &o.server_env).await?;
    let restart = restarted.startup;
    println!(
        "  restart on the existing data dir (spawn -> first 200): {}",
        ms(restart)
    );
    restarted.stop().await?;
    let log_bytes = fs::metadata(dir.join("server.err"))
        .map(|m| m.len())
        .unwrap_or(0);
    let [validate_nocat, validate_cat]: [Lat; 2] = validate.try_into().expect("two variants");
    let [issue_nocat, issue_cat]: [Lat; 2] = issue.try_into().expect("two variants");
    let [projects, projects_c1, users, users_c1]: [Lat; 4] =
        lists.try_into().expect("four list phases");
    Ok(Report {
        mode,
        startup,
        restart,
        rss_start,
        rss_after,
        hwm,
        validate_nocat,
        validate_cat,
        hello,
        projects,
        projects_c1,
        users,
        users_c1,
        issue_nocat,
        issue_cat,
        password: pw,
        stop,
        clean_exit,
        log_bytes,
        dir,
    })
}
