//! The baseline: a bare axum "hello" route, served by this same executable in a child
//! process (`bench hello-server --port N`) on a multi-threaded runtime as oxistack's, so
//! that the HTTP stack's own ceiling is measured in the same run as the service.

use std::{
    net::{SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::{Method, StatusCode, Uri};

use crate::client::Conn;

pub const PATH: &str = "/hello";

/// Serve `GET /hello` on 127.0.0.1:`port` until killed (the child process's body).
pub fn serve(port: u16) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = axum::Router::new().route(PATH, axum::routing::get(|| async { "hello" }));
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(l, app).await?;
        Ok(())
    })
}

/// The hello server, killed on drop.
pub struct Hello {
    child: Child,
    pub addr: SocketAddr,
}

impl Hello {
    pub async fn start() -> anyhow::Result<Hello> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .args(["hello-server", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start the hello server")?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t0 = Instant::now();
        loop {
            if let Ok(mut c) = Conn::connect(addr).await {
                let req = c.request(
                    Method::GET,
                    &Uri::from_static(PATH),
                    &[],
                    Default::default(),
                );
                if matches!(c.send(req).await, Ok(r) if r.status == StatusCode::OK) {
                    return Ok(Hello { child, addr });
                }
            }
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("the hello server did not answer within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
