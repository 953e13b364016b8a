//! The providers as the search of allocation candidates sees them, kept in memory between
//! requests and keyed by the database's change counter ([`store::changes`]).
//!
//! Every write transaction of placement counts itself in that counter as its last
//! statement ([`Placement::commit`]), whichever process makes it. A read takes the counter
//! first (one indexed row) and uses the kept snapshot when it was loaded at that count;
//! otherwise it loads a new one, after the counter, so a snapshot is never older than the
//! count it is kept under (at worst newer, which only costs a reload). A second count,
//! of the changes that were more than allocations, lets a snapshot whose providers have
//! not changed be brought up to date by reading the usages alone (what each claim of
//! a boot changes). So a request sees
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
    /// The count of changes beyond allocations, read with it.
    pub structure: i64,
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
    /// The kept world, when it was loaded under the same count of structural changes.
    fn at(&self, structure: i64) -> Option<Arc<World>> {
        let kept = self.0.lock().expect("snapshot cache poisoned");
        kept.as_ref().filter(|w| w.structure == structure).cloned()
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
        let (changes, structure) = store::changes(conn).await?;
        let kept = self.kept.at(structure);
        if let Some(w) = kept.as_ref().filter(|w| w.changes == changes) {
            return Ok(w.clone());
        }
        let w = Arc::new(match kept {
            // only allocations changed since: the same providers, their usages read again
            Some(k) => {
                let used = store::usages_all(conn).await?;
                let mut snap = k.snap.clone();
                for n in &mut snap.nodes {
                    for (rc, (_, u)) in &mut n.inventory {
                        *u = used
                            .get(&(n.uuid.to_string(), rc.clone()))
                            .copied()
                            .unwrap_or(0);
                    }
                }
                World {
                    changes,
                    structure,
                    snap,
                    custom_traits: k.custom_traits.clone(),
                    custom_classes: k.custom_classes.clone(),
                }
            }
            None => World {
                changes,
                structure,
                snap: store::snapshot(conn, None).await?,
                custom_traits: store::custom_traits(conn).await?.into_iter().collect(),
                custom_classes: store::custom_classes(conn)
                    .await?
                    .into_iter()
                    .map(|c| c.name)
                    .collect(),
            },
        });
        self.kept.keep(w.clone());
        Ok(w)
    }

    /// Commit a write of placement's data, counted as a change (see the module's doc).
    pub(crate) async fn commit(mut tx: sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
        store::note_change(&mut tx, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Placement::commit`] of a write of allocations only (consumers and provider
    /// generations aside): the next snapshot re-reads the usages, not the providers.
    pub(crate) async fn commit_allocations(
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<()> {
        store::note_change(&mut tx, false).await?;
        tx.commit().await?;
        Ok(())
    }
}
