//! The serve loop over real sockets on 127.0.0.1: header and idle timeouts, requests in
//! flight never cut, the connection limit, a low open-files limit, `ConnectInfo`, and
//! graceful shutdown (issue 6, defect 3).

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use api_common::server::{serve_with, ServerConfig};
use axum::{
    body::{Body, Bytes},
    extract::ConnectInfo,
    routing::{get, post},
    Router,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

/// The gap between the chunks of the slow routes: longer than the 1 s timeouts of the
/// tests, so only the "request in flight" rule keeps them open.
const GAP: Duration = Duration::from_millis(1300);

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(GAP).await;
                "done"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = futures::stream::unfold(0, |i| async move {
                    if i == 3 {
                        return None;
                    }
                    if i > 0 {
                        tokio::time::sleep(GAP).await;
                    }
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(format!("chunk{i};"))),
                        i + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve_with(
            listener,
            app(),
            async move {
                let _ = stopped.await;
            },
            &config,
        )
        .await
    });
    Running { addr, stop, task }
}

fn timeouts(header: u64, idle: u64) -> ServerConfig {
    ServerConfig {
        header_read_timeout: header,
        idle_timeout: idle,
        ..ServerConfig::default()
    }
}

/// Read one response (headers, then a `Content-Length` or chunked body) from `conn`.
async fn read_response(conn: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut status = String::new();
    conn.read_line(&mut status).await.unwrap();
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line: {status:?}"))
        .parse()
        .unwrap();
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            length = Some(v.trim().parse::<usize>().unwrap());
        }
        if line == "transfer-encoding: chunked" {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).await.unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            conn.read_exact(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..n]);
            if n == 0 {
                break;
            }
        }
    } else {
        body.resize(length.expect("a length"), 0);
        conn.read_exact(&mut body).await.unwrap();
    }
    (code, String::from_utf8(body).unwrap())
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

async fn get_on(conn: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).await.unwrap();
    read_response(conn).await
}

/// A fresh connection's answer to `GET path`, within `within`.
async fn get_within(addr: SocketAddr, path: &str, within: Duration) -> (u16, String) {
    tokio::time::timeout(within, async {
        let mut conn = connect(addr).await;
        get_on(&mut conn, path).await
    })
    .await
    .unwrap_or_else(|_| panic!("GET {path} got no answer within {within:?}"))
}

/// How long until the server closes `conn` (reading and dropping whatever it sends),
/// or `None` if it is still open after `limit`.
async fn closed_after(conn: &mut BufReader<TcpStream>, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

fn assert_between(d: Option<Duration>, low_ms: u64, high_ms: u64, what: &str) {
    let d = d.unwrap_or_else(|| panic!("{what}: still open"));
    assert!(
        d >= Duration::from_millis(low_ms) && d <= Duration::from_millis(high_ms),
        "{what}: closed after {d:?}, expected {low_ms}..{high_ms} ms"
    );
}

#[tokio::test]
async fn a_partial_header_is_closed_after_the_header_timeout() {
    let server = start(timeouts(1, 30)).await;

    let mut partial = connect(server.addr).await;
    partial
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: te")
        .await
        .unwrap();
    assert_between(
        closed_after(&mut partial, Duration::from_secs(5)).await,
        800,
        3_000,
        "partial header",
    );

    // Trickling a byte every 200 ms does not extend the deadline.
    let trickle = TcpStream::connect(server.addr).await.unwrap();
    let (mut rd, mut wr) = trickle.into_split();
    let writer = tokio::spawn(async move {
        for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while !matches!(rd.read(&mut buf).await, Ok(0) | Err(_)) {}
    })
    .await;
    assert!(closed.is_ok(), "a trickled header is still open after 5 s");
    assert_between(Some(start.elapsed()), 800, 3_000, "trickled header");
    writer.abort();

    // A connection that sends nothing at all owes a header too.
    let mut silent = connect(server.addr).await;
    assert_between(
        closed_after(&mut silent, Duration::from_secs(5)).await,
        800,
        3_000,
        "silent connection",
    );

    // Other clients are served all along.
    assert_eq!(
        get_within(server.addr, "/", Duration::from_secs(2)).await,
        (200, "hello".into())
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start(timeouts(30, 1)).await;
    let mut conn = connect(server.addr).await;
    assert_eq!(get_on(&mut conn, "/").await, (200, "hello".into()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Still open within the timeout, and a request starts it over.
    assert_eq!(get_on(&mut conn, "/").await, (200, "hello".into()));
    assert_between(
        closed_after(&mut conn, Duration::from_secs(5)).await,
        800,
        3_000,
        "idle keep-alive connection",
    );
}

#[tokio::test]
async fn requests_in_flight_are_not_cut() {
    let server = start(timeouts(1, 1)).await;
    let addr = server.addr;
    let slow_handler = async {
        let mut conn = connect(addr).await;
        assert_eq!(get_on(&mut conn, "/slow").await, (200, "done".into()));
    };
    let slow_download = async {
        let mut conn = connect(addr).await;
        assert_eq!(
            get_on(&mut conn, "/stream").await,
            (200, "chunk0;chunk1;chunk2;".into())
        );
    };
    let slow_upload = async {
        let mut conn = connect(addr).await;
        conn.get_mut()
            .write_all(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 3000\r\n\r\n")
            .await
            .unwrap();
        for _ in 0..3 {
            conn.get_mut().write_all(&[b'x'; 1000]).await.unwrap();
            tokio::time::sleep(GAP).await;
        }
        assert_eq!(read_response(&mut conn).await, (200, "3000".into()));
    };
    tokio::join!(slow_handler, slow_download, slow_upload);
}

#[tokio::test]
async fn past_the_connection_limit_a_new_client_is_still_answered() {
    // Timeouts far beyond the test: only making room can answer the new client.
    let server = start(ServerConfig {
        max_connections: 8,
        ..timeouts(60, 60)
    })
    .await;
    let mut half_open = Vec::new();
    for _ in 0..20 {
        let mut c = connect(server.addr).await;
        c.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHo")
            .await
            .unwrap();
        half_open.push(c);
    }
    for _ in 0..3 {
        assert_eq!(
            get_within(server.addr, "/", Duration::from_secs(3)).await,
            (200, "hello".into())
        );
    }
    // Room was made by closing half-open connections: at most 8 are open at once.
    let mut closed = 0;
    for c in &mut half_open {
        if closed_after(c, Duration::from_millis(50)).await.is_some() {
            closed += 1;
        }
    }
    assert!(
        closed >= 20 - 8,
        "only {closed} of 20 half-open connections were closed"
    );
    // A connection with a request in flight is never the one closed to make room.
    let busy = tokio::spawn(get_within(server.addr, "/slow", Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..10 {
        get_within(server.addr, "/", Duration::from_secs(3)).await;
    }
    assert_eq!(busy.await.unwrap(), (200, "done".into()));
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let server = start(ServerConfig::default()).await;
    let mut conn = connect(server.addr).await;
    let me = conn.get_ref().local_addr().unwrap();
    assert_eq!(get_on(&mut conn, "/peer").await, (200, me.to_string()));
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let server = start(ServerConfig::default()).await;
    let mut idle = connect(server.addr).await;
    assert_eq!(get_on(&mut idle, "/").await.0, 200);
    let slow = tokio::spawn(get_within(server.addr, "/slow", Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop.send(()).unwrap();
    // The idle connection is closed at once, the request in flight is answered, and
    // serve returns after it.
    assert!(closed_after(&mut idle, Duration::from_millis(500))
        .await
        .is_some());
    assert_eq!(slow.await.unwrap(), (200, "done".into()));
    tokio::time::timeout(Duration::from_secs(2), server.task)
        .await
        .expect("serve returns after draining")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}

/// The child process of [`a_low_open_files_limit_does_not_stop_other_clients`]: a server
/// with long timeouts in a process limited to 256 open files, on the address it prints,
/// until its standard input closes. Run alone it fails: it is no test of its own.
#[tokio::test]
#[ignore = "the child process of a_low_open_files_limit_does_not_stop_other_clients"]
async fn low_fd_limit_child() {
    let reserved = std::env::var("OXI_FD_CHILD_RESERVED")
        .expect("low_fd_limit_child runs only as the child of its parent test");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("LISTENING {}", listener.local_addr().unwrap());
    let config = ServerConfig {
        reserved_fds: reserved.parse().unwrap(),
        ..timeouts(60, 60)
    };
    serve_with(
        listener,
        app(),
        async {
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        },
        &config,
    )
    .await
    .unwrap();
}

/// 300 half-open connections against a server limited to 256 open files (the issue's
/// probe): other clients are still answered. Once with the default reserve of
/// descriptors (the connection budget stops short of the limit), once with none (accept
/// fails with EMFILE and the server must recover from it).
#[tokio::test]
async fn a_low_open_files_limit_does_not_stop_other_clients() {
    for reserved in ["128", "0"] {
        let exe = std::env::current_exe().unwrap();
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg("ulimit -n 256 && exec \"$0\" --exact low_fd_limit_child --ignored --nocapture")
            .arg(&exe)
            .env("OXI_FD_CHILD_RESERVED", reserved)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let addr: SocketAddr = loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line))
                .await
                .expect("the child prints its address")
                .unwrap();
            assert!(n > 0, "the child ended before listening");
            if let Some(a) = line.trim().strip_prefix("LISTENING ") {
                break a.parse().unwrap();
            }
        };
        let mut half_open = Vec::new();
        for _ in 0..300 {
            let mut c = connect(addr).await;
            c.get_mut()
                .write_all(b"GET / HTTP/1.1\r\nHo")
                .await
                .unwrap();
            half_open.push(c);
        }
        for i in 0..5 {
            let started = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(10), async {
                let mut conn = connect(addr).await;
                get_on(&mut conn, "/").await
            })
            .await
            .unwrap_or_else(|_| panic!("reserved {reserved}: request {i} got no answer"));
            assert_eq!(answer, (200, "hello".into()), "reserved {reserved}");
            eprintln!(
                "reserved {reserved}: request {i} answered in {:?}",
                started.elapsed()
            );
        }
        drop(half_open);
        drop(child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the child stops when its stdin closes")
            .unwrap();
        assert!(status.success(), "reserved {reserved}: child {status}");
    }
}
