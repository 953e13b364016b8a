//! The image API alone on a port, with fixed tokens instead of Keystone, for trying
//! real clients against it:
//!
//! ```text
//! cargo run -p image --example dev_server -- 127.0.0.1:9292 /tmp/image-dev
//! glance --os-image-url http://127.0.0.1:9292 --os-auth-token member-a image-list
//! ```
//!
//! Tokens: `admin-a` (admin of project a), `member-a`, `member-b`.

use std::sync::Arc;

use api_common::{auth::AuthLayerState, fixed_tokens::FixedTokens};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9292".into());
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/image-dev".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = db::Db::connect(&format!("sqlite://{}/image.db", dir.display()), 4)
        .await
        .unwrap();
    db.migrate("image", image::MIGRATIONS).await.unwrap();
    db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
    let cfg = image::Config {
        web_download_allowed: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    let svc = image::start(db, cfg, &dir, None, "dev-server")
        .await
        .unwrap();
    svc.requeue_interrupted().await.unwrap();
    let tokens = FixedTokens::default()
        .with("admin-a", "admin-a", "a", &["admin", "member", "reader"])
        .with("member-a", "member-a", "a", &["member", "reader"])
        .with("member-b", "member-b", "b", &["member", "reader"]);
    let auth = AuthLayerState {
        validator: Arc::new(tokens),
        identity_uri: "http://127.0.0.1:5000/v3".into(),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    println!("image API on {base}, data in {}", dir.display());
    let background = svc.background(std::future::pending());
    let serve = axum::serve(listener, image::api::router(svc, base, auth));
    tokio::select! {
        r = serve => r.unwrap(),
        () = background => {}
    }
}
