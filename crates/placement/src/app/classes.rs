//! Resource classes and traits: the standard ones (in code) and the custom ones (in the
//! database).

use api_common::{AuthContext, Error, Result};

use super::{codes, Placement};
use crate::{
    model::{ResourceClass, TraitNames},
    policies::Rule,
    standard, store,
};

fn not_custom_class(name: &str) -> Error {
    Error::bad_request(format!(
        "JSON does not validate: '{name}' does not match '^CUSTOM_[A-Z0-9_]+$'"
    ))
}

impl Placement {
    pub async fn classes(&self, ctx: &AuthContext) -> Result<Vec<ResourceClass>> {
        self.authorize(ctx, Rule::ResourceClassList)?;
        let mut out: Vec<ResourceClass> = standard::RESOURCE_CLASSES
            .iter()
            .map(|n| ResourceClass {
                name: (*n).to_owned(),
                updated_at: None,
            })
            .collect();
        out.extend(store::custom_classes(&mut *self.conn().await?).await?);
        Ok(out)
    }

    pub async fn class(&self, ctx: &AuthContext, name: &str) -> Result<ResourceClass> {
        self.authorize(ctx, Rule::ResourceClassShow)?;
        if standard::is_standard_class(name) {
            return Ok(ResourceClass {
                name: name.to_owned(),
                updated_at: None,
            });
        }
        store::custom_class(&mut *self.conn().await?, name)
            .await?
            .ok_or_else(|| Error::not_found(format!("No such resource class {name}.")))
    }

    /// `POST /resource_classes`.
    pub async fn class_create(&self, ctx: &AuthContext, name: &str) -> Result<()> {
        self.authorize(ctx, Rule::ResourceClassCreate)?;
        if !standard::is_custom(name) {
            return Err(not_custom_class(name));
        }
        if !self.insert_class(name).await? {
            return Err(Error::conflict(format!(
                "Conflicting resource class already exists: {name}"
            ))
            .with_code(codes::DUPLICATE_NAME));
        }
        Ok(())
    }

    /// `PUT /resource_classes/{name}` from 1.7: create it unless it exists (`true`:
    /// created).
    pub async fn class_ensure(&self, ctx: &AuthContext, name: &str) -> Result<bool> {
        self.authorize(ctx, Rule::ResourceClassUpdate)?;
        if standard::is_standard_class(name) {
            return Err(Error::bad_request(format!(
                "Cannot update standard resource class {name}"
            )));
        }
        if !standard::is_custom(name) {
            return Err(not_custom_class(name));
        }
        self.insert_class(name).await
    }

    /// Create a custom class (`false`: it exists).
    async fn insert_class(&self, name: &str) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let created = store::insert_class(&mut tx, name).await?;
        if created {
            Self::commit(tx).await?;
        }
        Ok(created)
    }

    /// `PUT /resource_classes/{name}` before 1.7: rename.
    pub async fn class_rename(
        &self,
        ctx: &AuthContext,
        old: &str,
        new: &str,
    ) -> Result<ResourceClass> {
        self.authorize(ctx, Rule::ResourceClassUpdate)?;
        if standard::is_standard_class(old) {
            return Err(Error::bad_request(format!(
                "Cannot update standard resource class {old}"
            )));
        }
        if !standard::is_custom(new) {
            return Err(not_custom_class(new));
        }
        let mut tx = self.db.begin_write().await?;
        if store::custom_class(&mut tx, old).await?.is_none() {
            return Err(Error::not_found(format!("No such resource class {old}.")));
        }
        if store::custom_class(&mut tx, new).await?.is_some() {
            return Err(
                Error::conflict(format!("Resource class already exists: {new}"))
                    .with_code(codes::DUPLICATE_NAME),
            );
        }
        store::rename_class(&mut tx, old, new).await?;
        let rc = store::custom_class(&mut tx, new)
            .await?
            .ok_or_else(|| Error::internal("a renamed class vanished"))?;
        Self::commit(tx).await?;
        Ok(rc)
    }

    pub async fn class_delete(&self, ctx: &AuthContext, name: &str) -> Result<()> {
        self.authorize(ctx, Rule::ResourceClassDelete)?;
        if standard::is_standard_class(name) {
            return Err(Error::bad_request(format!(
                "Cannot delete standard resource class {name}: Cannot delete standard resource class {name}"
            )));
        }
        let mut tx = self.db.begin_write().await?;
        if store::class_in_inventory(&mut tx, name).await? {
            return Err(Error::conflict(format!(
                "Unable to delete resource class {name}: Cannot delete resource class {name}. Class is in use in inventory."
            )));
        }
        if !store::delete_class(&mut tx, name).await? {
            return Err(Error::not_found(format!("No such resource class {name}.")));
        }
        Self::commit(tx).await?;
        Ok(())
    }

    // ------------------------------------------------------------------ traits

    /// `GET /traits`: standard and custom, filtered by name and by association.
    pub async fn traits(
        &self,
        ctx: &AuthContext,
        names: TraitNames,
        associated: Option<bool>,
    ) -> Result<Vec<String>> {
        self.authorize(ctx, Rule::TraitList)?;
        let mut conn = self.conn().await?;
        let mut all: Vec<String> = standard::traits().iter().map(|t| (*t).to_owned()).collect();
        all.extend(store::custom_traits(&mut conn).await?);
        all.sort();
        let assoc = match associated {
            Some(_) => Some(store::associated_traits(&mut conn).await?),
            None => None,
        };
        Ok(all
            .into_iter()
            .filter(|t| match &names {
                TraitNames::All => true,
                TraitNames::In(v) => v.contains(t),
                TraitNames::StartsWith(p) => t.starts_with(p.as_str()),
            })
            .filter(|t| match (&assoc, associated) {
                (Some(a), Some(want)) => a.contains(t) == want,
                _ => true,
            })
            .collect())
    }

    /// Whether a trait exists (`GET /traits/{name}`: 204 or 404).
    pub async fn trait_show(&self, ctx: &AuthContext, name: &str) -> Result<()> {
        self.authorize(ctx, Rule::TraitShow)?;
        if standard::is_standard_trait(name)
            || store::custom_trait_exists(&mut *self.conn().await?, name).await?
        {
            Ok(())
        } else {
            Err(Error::not_found(format!("No such trait(s): {name}")))
        }
    }

    /// `PUT /traits/{name}`: `true` when created.
    pub async fn trait_ensure(&self, ctx: &AuthContext, name: &str) -> Result<bool> {
        self.authorize(ctx, Rule::TraitUpdate)?;
        if !standard::is_custom(name) {
            return Err(Error::bad_request(
                "The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"",
            ));
        }
        if standard::is_standard_trait(name) {
            return Ok(false);
        }
        let mut tx = self.db.begin_write().await?;
        let created = store::insert_trait(&mut tx, name).await?;
        if created {
            Self::commit(tx).await?;
        }
        Ok(created)
    }

    pub async fn trait_delete(&self, ctx: &AuthContext, name: &str) -> Result<()> {
        self.authorize(ctx, Rule::TraitDelete)?;
        if standard::is_standard_trait(name) {
            return Err(Error::bad_request(format!(
                "Cannot delete standard trait {name}."
            )));
        }
        let mut tx = self.db.begin_write().await?;
        if !store::custom_trait_exists(&mut tx, name).await? {
            return Err(Error::not_found(format!("No such trait(s): {name}")));
        }
        if store::associated_traits(&mut tx).await?.contains(name) {
            return Err(Error::conflict(format!(
                "The trait {name} is in use by a resource provider."
            )));
        }
        store::delete_trait(&mut tx, name).await?;
        Self::commit(tx).await?;
        Ok(())
    }
}
