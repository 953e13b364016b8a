//! The import sagas under the saga harness: every action twice, a failure at every
//! step, a crash at every step; each ends with the image active, or queued (or as it
//! was) with no stray file in the store or the staging area.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use common::*;
use image::{model::Status, sagas::import, Image};
use md5::{Digest, Md5};
use saga::{testing, Saga};
use serde_json::{json, Value};

fn payload() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8).collect()
}

struct Import<'a> {
    env: &'a Env,
    /// For web-download, where the payload is served.
    uri: Option<String>,
}

impl Import<'_> {
    fn id(p: &Value) -> String {
        p["image_id"].as_str().unwrap().to_owned()
    }

    /// Nothing of the saga in the store, no temporary file anywhere, no lock.
    async fn no_leftovers(&self, id: &str) -> image::model::ImageRecord {
        let e = self.env;
        assert!(
            e.stored_files().iter().all(|f| !f.contains(id)),
            "{id}: stray file in the store: {:?}",
            e.stored_files()
        );
        let tmp: Vec<String> = e
            .stored_files()
            .into_iter()
            .chain(e.staged_files())
            .filter(|f| f.starts_with(".tmp-"))
            .collect();
        assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
        let img = e.svc.tables.image(id).await.unwrap().unwrap();
        assert!(
            !img.properties.contains_key(import::LOCK),
            "{id}: still locked"
        );
        img
    }
}

#[async_trait]
impl testing::Scenario for Import<'_> {
    type Ctx = Arc<Image>;

    fn saga(&self) -> Saga<Arc<Image>> {
        match self.uri {
            None => import::glance_direct(),
            Some(_) => import::web_download(),
        }
    }

    fn ctx(&self) -> Arc<Image> {
        self.env.svc.clone()
    }

    async fn setup(&self) -> Value {
        let e = self.env;
        let img = e
            .create(
                MEMBER_A,
                json!({"disk_format": "raw", "container_format": "bare"}),
            )
            .await;
        let id = img["id"].as_str().unwrap().to_owned();
        let from = match &self.uri {
            None => {
                assert_eq!(
                    e.stage(&id, MEMBER_A, payload()).await.status,
                    StatusCode::NO_CONTENT
                );
                "uploading"
            }
            Some(_) => "queued",
        };
        json!({"image_id": id, "from": from, "uri": self.uri})
    }

    async fn check_done(&self, p: &Value) {
        let id = Self::id(p);
        let e = self.env;
        let img = e.svc.tables.image(&id).await.unwrap().unwrap();
        assert_eq!(img.status, Status::Active, "{id}");
        assert_eq!(img.checksum, Some(hex::encode(Md5::digest(payload()))));
        assert_eq!(img.size, i64::try_from(payload().len()).ok());
        assert_eq!(
            img.properties.get(import::IMPORTING),
            Some(&Some(String::new()))
        );
        assert!(!img.properties.contains_key(import::LOCK));
        assert_eq!(e.stored_files().iter().filter(|f| **f == id).count(), 1);
        assert!(!e.staged_files().contains(&id), "{id}: stage left");
        let data = std::fs::read(e.store_dir.join(&id)).unwrap();
        assert!(data == payload());
    }

    async fn check_undone(&self, p: &Value) {
        let id = Self::id(p);
        let img = self.no_leftovers(&id).await;
        let staged = self.env.staged_files().contains(&id);
        match img.status {
            // as Glance leaves a failed import, or (web-download, the lock never
            // taken) as before
            Status::Queued => {
                let failed = img.properties.get(import::FAILED);
                let untouched = self.uri.is_some() && failed.is_none();
                assert!(
                    untouched || failed == Some(&Some("file".into())),
                    "{id}: {failed:?}"
                );
                assert!(!staged, "{id}: stage left on a queued image");
                assert_eq!(img.size, None);
            }
            // the lock never taken: as before
            Status::Uploading if self.uri.is_none() => {
                assert!(staged, "{id}: the stage of an untouched image is gone");
                assert_eq!(img.size, i64::try_from(payload().len()).ok());
            }
            other => panic!("{id}: unwound to {other:?}"),
        }
        assert_eq!(img.location, None);
    }
}

#[tokio::test]
async fn glance_direct_import_saga() {
    let e = env().await;
    let r = testing::check(&e.svc.tables.db, &Import { env: &e, uri: None }).await;
    assert_eq!(r.runs, 1 + 5 * 4);
}

#[tokio::test]
async fn web_download_import_saga() {
    let served = payload();
    let web = axum::Router::new().route(
        "/images/disk.raw",
        axum::routing::get(move || async move { served.clone() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, web).await.unwrap() });
    let cfg = image::Config {
        web_download_allowed: vec![format!("http://{addr}/images/")],
        ..Default::default()
    };
    let e = env_with(cfg).await;
    let uri = Some(format!("http://{addr}/images/disk.raw"));
    let r = testing::check(&e.svc.tables.db, &Import { env: &e, uri }).await;
    assert_eq!(r.runs, 1 + 5 * 3);
    server.abort();
}
