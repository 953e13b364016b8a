//! Through the proxy over real HTTP and websockets to a VNC server: a small fake RFB
//! server, and QEMU's own (`-vnc`), each answering the RFB version handshake.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use console_proxy::{api, tokens::MemoryTokens};
use futures::{SinkExt as _, StreamExt as _};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest as _, http::HeaderValue, Message,
};

const VERSION: &[u8] = b"RFB 003.008\n";

struct Proxy {
    addr: SocketAddr,
    tokens: Arc<MemoryTokens>,
    _server: api_common::server::Background,
}

async fn proxy(ttl: Duration) -> Proxy {
    let tokens = Arc::new(MemoryTokens::with_ttl(ttl));
    let api = api::api(
        tokens.clone(),
        api::Options {
            web: "/nonexistent/novnc".into(),
            ..Default::default()
        },
    );
    let server = api_common::server::serve_in_background(api.router)
        .await
        .unwrap();
    Proxy {
        addr: server.addr,
        tokens,
        _server: server,
    }
}

/// An RFB server that speaks the handshake up to the security result ("None" security).
async fn fake_vnc() -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(VERSION).await.unwrap();
        let mut version = [0u8; 12];
        s.read_exact(&mut version).await.unwrap();
        s.write_all(&[1, 1]).await.unwrap();
        let mut chosen = [0u8; 1];
        s.read_exact(&mut chosen).await.unwrap();
        s.write_all(&[0, 0, 0, 0]).await.unwrap();
        let mut heard = version.to_vec();
        heard.extend(chosen);
        heard
    });
    (addr, task)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(proxy: &Proxy, path: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://{}{path}", proxy.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
    req.headers_mut().insert(
        "Origin",
        HeaderValue::from_str(&format!("http://{}", proxy.addr)).unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "binary"
    );
    Ok(ws)
}

async fn next_binary(ws: &mut Ws, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the proxy answers in time")
            .expect("the websocket is open")
            .unwrap();
        match m {
            Message::Binary(b) => got.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("not refused by HTTP: {other}"),
    }
}

#[tokio::test]
async fn a_token_opens_its_console_and_the_handshake_goes_through() {
    let p = proxy(Duration::from_secs(600)).await;
    let (vnc, server) = fake_vnc().await;
    let token = p.tokens.issue(vnc);

    let mut ws = open(&p, &format!("/websockify?token={token}"))
        .await
        .unwrap();
    assert_eq!(next_binary(&mut ws, 12).await, VERSION);
    ws.send(Message::Binary(VERSION.to_vec().into()))
        .await
        .unwrap();
    assert_eq!(next_binary(&mut ws, 2).await, [1, 1]);
    ws.send(Message::Binary(vec![1].into())).await.unwrap();
    assert_eq!(next_binary(&mut ws, 4).await, [0, 0, 0, 0]);
    let heard = server.await.unwrap();
    assert_eq!(&heard[..12], VERSION);
    assert_eq!(heard[12], 1);
    // the server hung up: so does the proxy
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap();
    assert!(
        matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{end:?}"
    );

    // noVNC's page opens `?token=` at the root: the same console, again (Nova's
    // tokens serve until they expire)
    let (vnc2, _server2) = fake_vnc().await;
    let token2 = p.tokens.issue(vnc2);
    let mut ws = open(&p, &format!("/?token={token2}")).await.unwrap();
    assert_eq!(next_binary(&mut ws, 12).await, VERSION);
}

#[tokio::test]
async fn unknown_expired_or_foreign_requests_are_refused() {
    let p = proxy(Duration::from_millis(300)).await;
    let (vnc, _server) = fake_vnc().await;
    let token = p.tokens.issue(vnc);

    for path in ["/websockify?token=guessed", "/websockify", "/?token="] {
        let e = open(&p, path).await.expect_err(path);
        assert_eq!(status_of(e), 403, "{path}");
    }
    // another site's page
    let mut req = format!("ws://{}/websockify?token={token}", p.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    let e = tokio_tungstenite::connect_async(req)
        .await
        .expect_err("foreign origin");
    assert_eq!(status_of(e), 403);
    // expired
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = open(&p, &format!("/websockify?token={token}"))
        .await
        .expect_err("expired");
    assert_eq!(status_of(e), 403);
    // a token whose VNC server is gone: 503, not a hang
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let token = p.tokens.issue(gone);
    let e = open(&p, &format!("/websockify?token={token}"))
        .await
        .expect_err("gone");
    assert_eq!(status_of(e), 503);

    // the page without noVNC installed says so
    let r = reqwest_get(p.addr, "/vnc_auto.html").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(r.contains("noVNC is not installed"), "{r}");
    let r = reqwest_get(p.addr, "/../etc/passwd").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

/// A plain HTTP/1.1 GET, the raw answer as text.
async fn reqwest_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// QEMU, paused (`-S`: no guest runs), with its VNC server on `port`.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn through_the_proxy_to_qemus_vnc_server() {
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("qemu-system-x86_64 is missing: apt-get install qemu-system-x86");
    }
    // a free port above 5900 is a display number
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let display = port - 5900;
    let _qemu = Qemu(
        Command::new("qemu-system-x86_64")
            .args([
                "-accel",
                "tcg",
                "-m",
                "32",
                "-S",
                "-nodefaults",
                "-no-user-config",
            ])
            .args(["-display", "none", "-vnc", &format!("127.0.0.1:{display}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64"),
    );
    let vnc = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(vnc).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "QEMU's VNC server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = proxy(Duration::from_secs(600)).await;
    let token = p.tokens.issue(vnc);
    let mut ws = open(&p, &format!("/?token={token}")).await.unwrap();
    assert_eq!(next_binary(&mut ws, 12).await, VERSION);
    ws.send(Message::Binary(VERSION.to_vec().into()))
        .await
        .unwrap();
    // QEMU offers its security types: a count, then that many (1 = None)
    let types = next_binary(&mut ws, 2).await;
    assert!(types[0] >= 1, "{types:?}");
}
