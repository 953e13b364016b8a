//! The in-process cloud answers over HTTP on the ports it picked, with the catalog naming
//! them, and its users' tokens work.

use axum::http::{Method, StatusCode};
use test_support::{unique, TestCloud};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_answers_on_its_own_ports() {
    let tc = TestCloud::start().await;
    let http = reqwest::Client::new();
    let demo = tc.demo_token().await;
    let member = tc.new_member().await;
    assert_ne!(member.project_id, tc.new_member().await.project_id);
    let identity = tc.url("identity");
    let r = http
        .get(format!("{identity}/v3/auth/catalog"))
        .header("x-auth-token", &member.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let catalog = r.text().await.unwrap();
    let image = tc.url("image");
    assert!(catalog.contains(&image), "{image} not in {catalog}");
    let r = http
        .get(format!("{image}/v2/images"))
        .header("x-auth-token", &demo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let admin = tc.admin_token().await;
    let r = tc
        .call("identity", Method::GET, "/v3/users", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains(&member.name));
    assert_ne!(unique("x"), unique("x"));
    let dir = tc.data_dir().clone();
    tc.stop().await;
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
