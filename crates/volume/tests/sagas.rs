//! The volume sagas under the saga harness (every action twice, a failure at every
//! step, a crash at every step), on SQLite and PostgreSQL: a create ends with the
//! volume available and its file whole, or unwound to `error` (or never recorded) with
//! no file; a delete ends with no row and no file, or the volume kept (available, or
//! `error_deleting`).

use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use saga::{testing, Outcome, Saga};
use serde_json::{json, Value};
use types::VolumeId;
use volume::{
    model::{now, Metadata, Source, Status, Volume},
    sagas, store, Volumes,
};

struct Env {
    svc: Arc<Volumes>,
    dir: PathBuf,
    default_type: types::VolumeTypeId,
}

async fn env(db: db::Db) -> Env {
    db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
    db.migrate("volume", volume::MIGRATIONS).await.unwrap();
    let dir = std::env::temp_dir().join(format!("oxi-volume-saga-{}", uuid::Uuid::new_v4()));
    let token = service::ServiceToken::new(&Default::default(), "http://127.0.0.1:9/v3");
    let image = service::client::Http::new(token, &Default::default(), "image");
    let svc = volume::start(
        db,
        volume::Config::default(),
        &dir,
        None,
        image,
        "test-owner",
    )
    .await
    .unwrap();
    let mut conn = svc.db.pool.acquire().await.unwrap();
    let default_type = store::get_type_by_name(&mut conn, "__DEFAULT__")
        .await
        .unwrap()
        .unwrap()
        .id;
    Env {
        svc,
        dir: dir.join("volumes"),
        default_type,
    }
}

impl Env {
    fn volume(&self) -> Volume {
        Volume {
            id: VolumeId::generate(),
            project_id: uuid::Uuid::new_v4().simple().to_string(),
            user_id: "u1".into(),
            name: Some("v".into()),
            description: None,
            size: 1,
            status: Status::Creating,
            availability_zone: "nova".into(),
            bootable: false,
            readonly: false,
            volume_type_id: self.default_type.clone(),
            volume_type_name: "__DEFAULT__".into(),
            snapshot_id: None,
            source_volid: None,
            image_id: None,
            host: "oxistack@file#file".into(),
            backend: "file".into(),
            metadata: Metadata::from([("k".into(), "v".into())]),
            created_at: now(),
            updated_at: None,
        }
    }

    fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn files_of(&self, id: &str) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|f| f.contains(id))
            .collect()
    }

    async fn row(&self, id: &str) -> Option<Volume> {
        let mut conn = self.svc.db.pool.acquire().await.unwrap();
        store::get_volume(&mut conn, id).await.unwrap()
    }
}

fn id_of(p: &Value) -> String {
    p["volume"]["id"]
        .as_str()
        .or(p["volume_id"].as_str())
        .unwrap()
        .to_owned()
}

struct Create<'a>(&'a Env);

#[async_trait]
impl testing::Scenario for Create<'_> {
    type Ctx = Arc<Volumes>;
    fn saga(&self) -> Saga<Arc<Volumes>> {
        sagas::all()
            .into_iter()
            .find(|s| s.name == sagas::CREATE_VOLUME)
            .unwrap()
    }
    fn ctx(&self) -> Arc<Volumes> {
        self.0.svc.clone()
    }
    async fn setup(&self) -> Value {
        serde_json::to_value(sagas::CreateVolume {
            volume: self.0.volume(),
            source: Source::Empty,
            image_format: None,
        })
        .unwrap()
    }
    async fn check_done(&self, p: &Value) {
        let id = id_of(p);
        let v = self.0.row(&id).await.expect("the volume");
        assert_eq!(v.status, Status::Available);
        assert_eq!(v.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(self.0.files_of(&id), vec![format!("volume-{id}")]);
    }
    async fn check_undone(&self, p: &Value) {
        let id = id_of(p);
        if let Some(v) = self.0.row(&id).await {
            assert_eq!(v.status, Status::Error, "{id}");
        }
        assert!(self.0.files_of(&id).is_empty(), "{:?}", self.0.files());
    }
}

struct Delete<'a>(&'a Env);

#[async_trait]
impl testing::Scenario for Delete<'_> {
    type Ctx = Arc<Volumes>;
    fn saga(&self) -> Saga<Arc<Volumes>> {
        sagas::all()
            .into_iter()
            .find(|s| s.name == sagas::DELETE_VOLUME)
            .unwrap()
    }
    fn ctx(&self) -> Arc<Volumes> {
        self.0.svc.clone()
    }
    async fn setup(&self) -> Value {
        let v = self.0.volume();
        let params = sagas::CreateVolume {
            volume: v.clone(),
            source: Source::Empty,
            image_format: None,
        };
        let ex = &self.0.svc.sagas;
        let id = ex.create(sagas::CREATE_VOLUME, &params).await.unwrap();
        assert!(
            matches!(ex.execute(&self.0.svc, &id).await, Outcome::Done),
            "create"
        );
        json!({"volume_id": v.id, "cascade": false})
    }
    async fn check_done(&self, p: &Value) {
        let id = id_of(p);
        assert!(self.0.row(&id).await.is_none(), "{id} still recorded");
        assert!(self.0.files_of(&id).is_empty(), "{:?}", self.0.files());
    }
    async fn check_undone(&self, p: &Value) {
        let id = id_of(p);
        // failing after the last step ran: deleted all the same, nothing left
        let Some(v) = self.0.row(&id).await else {
            assert!(self.0.files_of(&id).is_empty(), "{:?}", self.0.files());
            return;
        };
        assert!(
            matches!(v.status, Status::Available | Status::ErrorDeleting),
            "{id}: {:?}",
            v.status
        );
    }
}

#[tokio::test]
async fn volume_create_saga() {
    for db in db::testing::engines().await {
        let e = env(db).await;
        let r = testing::check(&e.svc.db, &Create(&e)).await;
        assert!(r.runs > 1);
        let _ = std::fs::remove_dir_all(e.dir.parent().unwrap());
    }
}

#[tokio::test]
async fn volume_delete_saga() {
    for db in db::testing::engines().await {
        let e = env(db).await;
        let r = testing::check(&e.svc.db, &Delete(&e)).await;
        assert!(r.runs > 1);
        let _ = std::fs::remove_dir_all(e.dir.parent().unwrap());
    }
}
