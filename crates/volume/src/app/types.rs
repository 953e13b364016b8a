//! Volume types: create, list, show, update, delete, extra specs and project access.

use api_common::{Error, Result};
use types::VolumeTypeId;

use super::{Caller, Volumes};
use crate::{
    model::{now, Metadata, VolumeType},
    policies::Rule,
    store,
};

/// Extra specs every reader sees (Cinder's user-visible keys); admins see all.
const USER_VISIBLE_SPECS: &[&str] = &[
    "multiattach",
    "RESKEY:availability_zones",
    "replication_enabled",
];

#[derive(Debug, Clone, Default)]
pub struct TypeCreate {
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: Metadata,
}

#[derive(Debug, Clone, Default)]
pub struct TypeUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_public: Option<bool>,
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 255 {
        return Err(Error::bad_request(
            "Volume type name can not be empty and must be at most 255 characters.",
        ));
    }
    Ok(())
}

fn check_specs(specs: &Metadata) -> Result<()> {
    for (k, v) in specs {
        if k.is_empty() || k.len() > 255 || v.len() > 255 {
            return Err(Error::bad_request(format!(
                "Invalid extra spec {k:?}: keys must be 1 to 255 characters and values at most 255."
            )));
        }
    }
    Ok(())
}

impl Volumes {
    /// A type as the caller may see it (a private type without access is not found).
    pub(crate) fn visible_type(
        &self,
        caller: &Caller,
        t: &VolumeType,
        projects: &[String],
    ) -> bool {
        t.is_public || caller.admin || projects.iter().any(|p| p == caller.project())
    }

    /// The extra specs the caller may read.
    pub fn shown_specs(&self, caller: &Caller, t: &VolumeType) -> Metadata {
        if self.allowed(caller, Rule::ReadTypeExtraSpecs, caller.project()) {
            return t.extra_specs.clone();
        }
        t.extra_specs
            .iter()
            .filter(|(k, _)| USER_VISIBLE_SPECS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The type named by id or name (`default`: the default type), if the caller may
    /// see it.
    pub(crate) async fn find_type(
        &self,
        caller: &Caller<'_>,
        id_or_name: &str,
    ) -> Result<VolumeType> {
        let mut conn = self.conn().await?;
        let name = if id_or_name == "default" {
            self.cfg.default_volume_type.as_str()
        } else {
            id_or_name
        };
        let t = match store::get_type(&mut conn, name).await? {
            Some(t) => Some(t),
            None => store::get_type_by_name(&mut conn, name).await?,
        };
        let missing = || {
            Error::not_found(format!(
                "Volume type with name or id {id_or_name} could not be found."
            ))
        };
        let t = t.ok_or_else(missing)?;
        let projects = if t.is_public {
            Vec::new()
        } else {
            store::type_projects(&mut conn, &t.id).await?
        };
        if !self.visible_type(caller, &t, &projects) {
            return Err(missing());
        }
        Ok(t)
    }

    /// The default type (Cinder's `__DEFAULT__` unless configured), made if missing.
    pub async fn ensure_default_type(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        if store::get_type_by_name(&mut conn, &self.cfg.default_volume_type)
            .await?
            .is_some()
        {
            return Ok(());
        }
        store::insert_type(
            &mut conn,
            &VolumeType {
                id: VolumeTypeId::generate(),
                name: self.cfg.default_volume_type.clone(),
                description: Some("Default Volume Type".into()),
                is_public: true,
                extra_specs: Metadata::new(),
                created_at: now(),
                updated_at: None,
            },
        )
        .await
        .map(drop)
    }

    pub async fn type_create(&self, caller: &Caller<'_>, req: TypeCreate) -> Result<VolumeType> {
        self.authorize(caller, Rule::ManageTypes, caller.project())?;
        check_name(&req.name)?;
        check_specs(&req.extra_specs)?;
        let t = VolumeType {
            id: VolumeTypeId::generate(),
            name: req.name.trim().to_owned(),
            description: req.description,
            is_public: req.is_public,
            extra_specs: req.extra_specs,
            created_at: now(),
            updated_at: None,
        };
        let mut tx = self.db.begin_write().await?;
        if !store::insert_type(&mut tx, &t).await? {
            return Err(Error::conflict(format!(
                "Volume Type {} already exists.",
                t.name
            )));
        }
        tx.commit().await?;
        Ok(t)
    }

    /// The types the caller may see; `is_public` narrows an admin's list.
    pub async fn type_list(
        &self,
        caller: &Caller<'_>,
        is_public: Option<bool>,
    ) -> Result<Vec<VolumeType>> {
        self.authorize(caller, Rule::GetAllTypes, caller.project())?;
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        for t in store::list_types(&mut conn).await? {
            let projects = if t.is_public {
                Vec::new()
            } else {
                store::type_projects(&mut conn, &t.id).await?
            };
            let shown = if caller.admin {
                is_public.is_none_or(|p| p == t.is_public)
            } else {
                self.visible_type(caller, &t, &projects)
            };
            if shown {
                out.push(t);
            }
        }
        Ok(out)
    }

    pub async fn type_show(&self, caller: &Caller<'_>, id: &str) -> Result<VolumeType> {
        self.authorize(caller, Rule::GetType, caller.project())?;
        self.find_type(caller, id).await
    }

    pub async fn type_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        req: TypeUpdate,
    ) -> Result<VolumeType> {
        self.authorize(caller, Rule::ManageTypes, caller.project())?;
        let mut t = self.find_type(caller, id).await?;
        if let Some(name) = req.name {
            check_name(&name)?;
            if t.name == self.cfg.default_volume_type && name != t.name {
                return Err(Error::bad_request(
                    "The default volume type cannot be renamed.",
                ));
            }
            t.name = name.trim().to_owned();
        }
        if let Some(d) = req.description {
            t.description = d;
        }
        if let Some(p) = req.is_public {
            t.is_public = p;
        }
        t.updated_at = Some(now());
        let mut tx = self.db.begin_write().await?;
        if let Some(other) = store::get_type_by_name(&mut tx, &t.name).await? {
            if other.id != t.id {
                return Err(Error::conflict(format!(
                    "Volume Type {} already exists.",
                    t.name
                )));
            }
        }
        if !store::update_type(&mut tx, &t).await? {
            return Err(Error::not_found_id(&t.id));
        }
        tx.commit().await?;
        Ok(t)
    }

    pub async fn type_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        self.authorize(caller, Rule::ManageTypes, caller.project())?;
        let t = self.find_type(caller, id).await?;
        if t.name == self.cfg.default_volume_type {
            return Err(Error::bad_request(
                "Default volume type can not be deleted.",
            ));
        }
        let mut tx = self.db.begin_write().await?;
        if store::type_volumes(&mut tx, &t.id).await? > 0 {
            return Err(Error::bad_request(format!(
                "Target volume type is still in use: volumes of type {} exist.",
                t.id
            )));
        }
        store::delete_type(&mut tx, &t.id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn type_specs(&self, caller: &Caller<'_>, id: &str) -> Result<Metadata> {
        self.authorize(caller, Rule::GetType, caller.project())?;
        let t = self.find_type(caller, id).await?;
        Ok(self.shown_specs(caller, &t))
    }

    /// Set extra specs (others kept); the specs set are returned.
    pub async fn type_specs_set(
        &self,
        caller: &Caller<'_>,
        id: &str,
        specs: Metadata,
    ) -> Result<Metadata> {
        self.authorize(caller, Rule::ManageTypes, caller.project())?;
        check_specs(&specs)?;
        let t = self.find_type(caller, id).await?;
        let mut tx = self.db.begin_write().await?;
        store::EXTRA_SPECS
            .upsert(&mut tx, t.id.as_str(), &specs)
            .await?;
        tx.commit().await?;
        Ok(specs)
    }

    pub async fn type_spec_delete(&self, caller: &Caller<'_>, id: &str, key: &str) -> Result<()> {
        self.authorize(caller, Rule::ManageTypes, caller.project())?;
        let t = self.find_type(caller, id).await?;
        let mut conn = self.conn().await?;
        if !store::EXTRA_SPECS
            .remove(&mut conn, t.id.as_str(), key)
            .await?
        {
            return Err(Error::not_found(format!(
                "Volume Type {} has no extra specs with key {key}.",
                t.id
            )));
        }
        Ok(())
    }

    /// The projects a private type is shared with.
    pub async fn type_access_list(&self, caller: &Caller<'_>, id: &str) -> Result<Vec<String>> {
        self.authorize(caller, Rule::TypeAccessList, caller.project())?;
        let t = self.find_type(caller, id).await?;
        if t.is_public {
            return Err(Error::not_found(
                "Access list not available for public volume types.",
            ));
        }
        let mut conn = self.conn().await?;
        store::type_projects(&mut conn, &t.id).await
    }

    /// Share a private type with a project (`add`) or stop sharing it.
    pub async fn type_access(
        &self,
        caller: &Caller<'_>,
        id: &str,
        project: &str,
        add: bool,
    ) -> Result<()> {
        let rule = if add {
            Rule::TypeAccessAdd
        } else {
            Rule::TypeAccessRemove
        };
        self.authorize(caller, rule, caller.project())?;
        let t = self.find_type(caller, id).await?;
        if t.is_public {
            return Err(Error::bad_request(
                "Invalid volume type: Type access modification is not applicable to public volume type.",
            ));
        }
        let mut tx = self.db.begin_write().await?;
        if add {
            if !store::add_type_project(&mut tx, &t.id, project).await? {
                return Err(Error::conflict(format!(
                    "Volume type access for {} / {project} combination already exists.",
                    t.id
                )));
            }
        } else if !store::remove_type_project(&mut tx, &t.id, project).await? {
            return Err(Error::not_found(format!(
                "Volume type access not found for {} / {project} combination.",
                t.id
            )));
        }
        tx.commit().await?;
        Ok(())
    }
}
