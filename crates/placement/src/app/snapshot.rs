//! The providers as the search of allocation candidates sees them, kept in memory between
//! requests and keyed by the database's change counter ([`store::changes`]).
//!
//! Every write transaction of placement counts itself in that counter as its last
//! statement ([`Placement::commit`]), whichever process makes it. A read takes the counter
//! first (one indexed row) and uses the kept snapshot when it was loaded at that count;
//! otherwise it loads a new one, after the counter, so a snapshot is never older than the
//! count it is kept under (at worst newer, which only costs a reload). So a request sees
//! every write committed before it started, as without the cache, also with several API
//! processes over one PostgreSQL.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use api_common::Result;
use sqlx::AnyConnection;

use super::{providers::no_such_traits, Placement};
use crate::{candidates::Snapshot, standard, store};

/// One load: every provider, and the custom traits and classes that exist.
#[derive(Debug, Default)]
pub struct World {
    /// The change counter read before the load.
    pub changes: i64,
    pub snap: Snapshot,
    pub custom_traits: HashSet<String>,
    pub custom_classes: HashSet<String>,
}

impl World {
    /// A resource class that exists (standard, or custom).
    pub fn class_exists(&self, rc: &str) -> bool {
        standard::is_standard_class(rc) || self.custom_classes.contains(rc)
    }

    /// Every trait exists, or a 400 naming the ones that do not.
    pub fn check_traits<'a>(&self, names: impl Iterator<Item = &'a String>) -> Result<()> {
        no_such_traits(
            names
                .filter(|t| !standard::is_standard_trait(t) && !self.custom_traits.contains(*t))
                .map(String::as_str)
                .collect(),
        )
    }
}

/// The last [`World`] loaded by this process.
#[derive(Debug, Default)]
pub struct Kept(Mutex<Option<Arc<World>>>);

impl Kept {
    fn at(&self, changes: i64) -> Option<Arc<World>> {
        let kept = self.0.lock().expect("snapshot cache poisoned");
        kept.as_ref().filter(|w| w.changes == changes).cloned()
    }

    /// Keep `w` unless a newer one is kept already.
    fn keep(&self, w: Arc<World>) {
        let mut kept = self.0.lock().expect("snapshot cache poisoned");
        if kept.as_ref().is_none_or(|k| k.changes <= w.changes) {
            *kept = Some(w);
        }
    }
}

impl Placement {
    /// The providers as of now: the kept snapshot when nothing changed since it was
    /// loaded, else a new one.
    pub(crate) async fn world(&self, conn: &mut AnyConnection) -> Result<Arc<World>> {
        let changes = store::changes(conn).await?;
        if let Some(w) = self.kept.at(changes) {
            return Ok(w);
        }
        let w = Arc::new(World {
            changes,
            snap: store::snapshot(conn, None).await?,
            custom_traits: store::custom_traits(conn).await?.into_iter().collect(),
            custom_classes: store::custom_classes(conn)
                .await?
                .into_iter()
                .map(|c| c.name)
                .collect(),
        });
        self.kept.keep(w.clone());
        Ok(w)
    }

    /// Commit a write of placement's data, counted as a change (see the module's doc).
    pub(crate) async fn commit(mut tx: sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
        store::note_change(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
