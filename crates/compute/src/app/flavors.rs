//! Flavors: public ones for everyone, private ones for admins and the projects given
//! access; their extra specs; DevStack's defaults.

use std::collections::BTreeMap;

use api_common::{Error, Result};
use types::FlavorId;

use super::{Caller, Compute};
use crate::{
    model::{now, Flavor},
    policies::Rule,
    store,
};

/// A new flavor, as the API accepted it.
#[derive(Debug, Clone)]
pub struct FlavorCreate {
    pub id: Option<FlavorId>,
    pub name: String,
    pub ram: i64,
    pub vcpus: i64,
    pub disk: i64,
    pub ephemeral: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
}

/// Which flavors a list shows. `is_public` (admins only; others always see the public
/// ones and those open to their project): `Some(true)` (the default) those too,
/// `Some(false)` private ones only, `None` all (Nova's `is_public=true|false|none`).
#[derive(Debug, Clone, Default)]
pub struct FlavorFilter {
    pub is_public: Option<bool>,
    pub min_ram: Option<i64>,
    pub min_disk: Option<i64>,
}

/// DevStack's flavors: (id, name, ram MiB, disk GB, vcpus).
const DEFAULTS: &[(&str, &str, i64, i64, i64)] = &[
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("42", "m1.nano", 128, 1, 1),
];

fn flavor_not_found(id: &str) -> Error {
    Error::not_found(format!("Flavor {id} could not be found."))
}

impl Compute {
    /// The flavor, whoever may see it (for the conductor and the API's own checks).
    pub async fn flavor_by_id(&self, id: &FlavorId) -> Result<Flavor> {
        let mut c = self.conn().await?;
        store::flavors::get(&mut c, id)
            .await?
            .ok_or_else(|| flavor_not_found(id.as_str()))
    }

    /// Whether the caller may see the flavor (public, admin, or access given).
    async fn may_see(&self, caller: &Caller<'_>, f: &Flavor) -> Result<bool> {
        if f.is_public || caller.admin {
            return Ok(true);
        }
        let mut c = self.conn().await?;
        Ok(store::flavors::projects(&mut c, &f.id)
            .await?
            .iter()
            .any(|p| p == caller.project()))
    }

    /// A flavor the caller may see (a hidden one is not found).
    pub async fn flavor_show(&self, caller: &Caller<'_>, id: &str) -> Result<Flavor> {
        self.authorize_own(caller, Rule::Flavors)?;
        let id = FlavorId::parse(id).map_err(|_| flavor_not_found(id))?;
        let f = self.flavor_by_id(&id).await?;
        if !self.may_see(caller, &f).await? {
            return Err(flavor_not_found(id.as_str()));
        }
        Ok(f)
    }

    /// The flavors the caller may see, by Nova's order (flavorid).
    pub async fn flavor_list(
        &self,
        caller: &Caller<'_>,
        filter: &FlavorFilter,
    ) -> Result<Vec<Flavor>> {
        self.authorize_own(caller, Rule::Flavors)?;
        let mut c = self.conn().await?;
        let all = store::flavors::list(&mut c).await?;
        let open: Vec<String> = store::flavors::open_to(&mut c, caller.project()).await?;
        Ok(all
            .into_iter()
            .filter(|f| !f.disabled)
            .filter(|f| {
                let open = || open.iter().any(|o| o == f.id.as_str());
                match filter.is_public {
                    _ if !caller.admin => f.is_public || open(),
                    Some(true) => f.is_public || open(),
                    Some(false) => !f.is_public,
                    None => true,
                }
            })
            .filter(|f| filter.min_ram.is_none_or(|m| f.memory_mb >= m))
            .filter(|f| filter.min_disk.is_none_or(|m| f.root_gb >= m))
            .collect())
    }

    pub async fn flavor_create(&self, caller: &Caller<'_>, req: FlavorCreate) -> Result<Flavor> {
        self.authorize_own(caller, Rule::FlavorCreate)?;
        let f = Flavor {
            id: req.id.unwrap_or_else(FlavorId::generate),
            name: req.name,
            memory_mb: req.ram,
            vcpus: req.vcpus,
            root_gb: req.disk,
            ephemeral_gb: req.ephemeral,
            swap: req.swap,
            rxtx_factor: req.rxtx_factor,
            is_public: req.is_public,
            disabled: false,
            description: req.description,
            extra_specs: BTreeMap::new(),
            created_at: now(),
        };
        let mut tx = self.db.begin_write().await?;
        if store::flavors::get(&mut tx, &f.id).await?.is_some() {
            return Err(Error::conflict(format!(
                "Flavor with ID {} already exists.",
                f.id
            )));
        }
        if store::flavors::by_name(&mut tx, &f.name).await?.is_some() {
            return Err(Error::conflict(format!(
                "Flavor with name {} already exists.",
                f.name
            )));
        }
        store::flavors::insert(&mut tx, &f).await?;
        tx.commit().await?;
        Ok(f)
    }

    /// Change the description (2.55), the only thing of a flavor that changes.
    pub async fn flavor_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        description: Option<String>,
    ) -> Result<Flavor> {
        self.authorize_own(caller, Rule::FlavorUpdate)?;
        let mut f = self.flavor_show(caller, id).await?;
        let mut c = self.conn().await?;
        store::flavors::set_description(&mut c, &f.id, description.as_deref()).await?;
        f.description = description;
        Ok(f)
    }

    pub async fn flavor_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        self.authorize_own(caller, Rule::FlavorDelete)?;
        let f = self.flavor_show(caller, id).await?;
        let mut c = self.conn().await?;
        if !store::flavors::delete(&mut c, &f.id).await? {
            return Err(flavor_not_found(id));
        }
        Ok(())
    }

    /// The extra specs of a flavor the caller may see.
    pub async fn flavor_specs(
        &self,
        caller: &Caller<'_>,
        id: &str,
    ) -> Result<BTreeMap<String, String>> {
        self.authorize_own(caller, Rule::FlavorSpecsIndex)?;
        Ok(self.flavor_show(caller, id).await?.extra_specs)
    }

    pub async fn flavor_spec(&self, caller: &Caller<'_>, id: &str, key: &str) -> Result<String> {
        self.authorize_own(caller, Rule::FlavorSpecsShow)?;
        let f = self.flavor_show(caller, id).await?;
        f.extra_specs.get(key).cloned().ok_or_else(|| {
            Error::not_found(format!("Flavor {id} has no extra specs with key {key}."))
        })
    }

    /// Add or change extra specs (`rule`: create or update).
    pub async fn flavor_set_specs(
        &self,
        caller: &Caller<'_>,
        id: &str,
        specs: BTreeMap<String, String>,
        rule: Rule,
    ) -> Result<BTreeMap<String, String>> {
        self.authorize_own(caller, rule)?;
        let f = self.flavor_show(caller, id).await?;
        let mut tx = self.db.begin_write().await?;
        for (k, v) in &specs {
            store::flavors::set_spec(&mut tx, &f.id, k, v).await?;
        }
        tx.commit().await?;
        Ok(specs)
    }

    pub async fn flavor_delete_spec(&self, caller: &Caller<'_>, id: &str, key: &str) -> Result<()> {
        self.authorize_own(caller, Rule::FlavorSpecsDelete)?;
        let f = self.flavor_show(caller, id).await?;
        let mut c = self.conn().await?;
        if !store::flavors::delete_spec(&mut c, &f.id, key).await? {
            return Err(Error::not_found(format!(
                "Flavor {id} has no extra specs with key {key}."
            )));
        }
        Ok(())
    }

    /// The projects a private flavor is open to.
    pub async fn flavor_access(
        &self,
        caller: &Caller<'_>,
        id: &str,
    ) -> Result<(FlavorId, Vec<String>)> {
        self.authorize_own(caller, Rule::FlavorAccess)?;
        let f = self.flavor_show(caller, id).await?;
        if f.is_public {
            return Err(Error::not_found(
                "Access list not available for public flavors.",
            ));
        }
        let mut c = self.conn().await?;
        Ok((f.id.clone(), store::flavors::projects(&mut c, &f.id).await?))
    }

    /// Open (`add`) or close a private flavor to a project.
    pub async fn flavor_access_change(
        &self,
        caller: &Caller<'_>,
        id: &str,
        project: &str,
        add: bool,
    ) -> Result<(FlavorId, Vec<String>)> {
        self.authorize_own(
            caller,
            if add {
                Rule::FlavorAccessAdd
            } else {
                Rule::FlavorAccessRemove
            },
        )?;
        let f = self.flavor_show(caller, id).await?;
        if f.is_public {
            return Err(Error::conflict("Can not add access to a public flavor."));
        }
        let mut c = self.conn().await?;
        if add {
            if !store::flavors::add_project(&mut c, &f.id, project).await? {
                return Err(Error::conflict(format!(
                    "Flavor access already exists for flavor {id} and project {project} combination."
                )));
            }
        } else if !store::flavors::remove_project(&mut c, &f.id, project).await? {
            return Err(Error::not_found(format!(
                "Flavor access not found for {id} / {project} combination."
            )));
        }
        Ok((f.id.clone(), store::flavors::projects(&mut c, &f.id).await?))
    }

    /// Create DevStack's flavors unless they exist (by id or name).
    pub async fn bootstrap_flavors(&self) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        for (id, name, ram, disk, vcpus) in DEFAULTS {
            let id = FlavorId::parse(id).map_err(|e| Error::internal(e.to_string()))?;
            if store::flavors::get(&mut tx, &id).await?.is_some()
                || store::flavors::by_name(&mut tx, name).await?.is_some()
            {
                continue;
            }
            store::flavors::insert(
                &mut tx,
                &Flavor {
                    id,
                    name: (*name).into(),
                    memory_mb: *ram,
                    vcpus: *vcpus,
                    root_gb: *disk,
                    ephemeral_gb: 0,
                    swap: 0,
                    rxtx_factor: 1.0,
                    is_public: true,
                    disabled: false,
                    description: None,
                    extra_specs: BTreeMap::new(),
                    created_at: now(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
