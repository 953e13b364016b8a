//! Image records: create, list, show, update (JSON patch), delete, tags, deactivate.

use crate::policies::Rule;
use std::collections::{BTreeMap, BTreeSet};

use api_common::{Error, ErrorKind, Result};
use serde_json::{Map, Value};

use super::{not_found, refused, Caller, Image};
use crate::{
    model::*,
    patch::{Change, Op, RESERVED, RESERVED_NAMESPACE},
    query::ListQuery,
};

/// Attributes Glance refuses in a create body (403, read-only).
const DISALLOWED: &[&str] = &["direct_url", "self", "file", "schema", "stores"];
/// Read-only attributes that reach Glance's image factory (403).
const FACTORY_READ_ONLY: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
];
/// Custom property names the image factory reserves (403).
const FACTORY_RESERVED: &[&str] = &[
    "owner",
    "locations",
    "deleted",
    "deleted_at",
    "direct_url",
    "self",
    "file",
    "schema",
];
/// Attributes that are columns, not custom properties.
const BASE: &[&str] = &[
    "checksum",
    "created_at",
    "container_format",
    "disk_format",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "size",
    "virtual_size",
    "status",
    "tags",
    "owner",
    "updated_at",
    "visibility",
    "protected",
    "os_hidden",
];

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    pub id: Option<String>,
    pub name: Option<String>,
    pub visibility: Option<Visibility>,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub tags: BTreeSet<String>,
    pub properties: BTreeMap<String, Option<String>>,
}

impl NewImage {
    /// Validate a create body as Glance's deserializer and image factory do.
    pub fn from_body(body: Map<String, Value>, schema: &Value) -> Result<NewImage> {
        for k in DISALLOWED {
            if body.contains_key(*k) {
                return Err(Error::forbidden(format!("Attribute '{k}' is read-only.")));
            }
        }
        crate::schemas::validate_image(schema, &body).map_err(|r| {
            Error::bad_request(format!(
                "Provided object does not match schema 'image': {r}"
            ))
        })?;
        let mut n = NewImage::default();
        let mut props = BTreeMap::new();
        for (k, v) in body {
            if FACTORY_READ_ONLY.contains(&k.as_str()) {
                return Err(Error::forbidden(format!("Attribute '{k}' is read-only.")));
            }
            let text = |v: &Value| v.as_str().map(str::to_owned);
            match k.as_str() {
                "id" => n.id = text(&v).map(|id| normalize_id(&id)),
                "name" => n.name = text(&v),
                "visibility" => n.visibility = v.as_str().and_then(Visibility::parse),
                "protected" => n.protected = v.as_bool().unwrap_or(false),
                "os_hidden" => n.os_hidden = v.as_bool().unwrap_or(false),
                "owner" => n.owner = text(&v),
                "disk_format" => n.disk_format = text(&v),
                "container_format" => n.container_format = text(&v),
                "min_disk" => n.min_disk = db_int("min_disk", &v)?,
                "min_ram" => n.min_ram = db_int("min_ram", &v)?,
                "tags" => {
                    n.tags = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(text)
                        .collect()
                }
                _ => {
                    if k.chars().count() > 255 {
                        return Err(Error::bad_request(
                            "Custom property should not be greater than 255 characters.",
                        ));
                    }
                    if RESERVED.contains(&k.as_str())
                        || k.starts_with(RESERVED_NAMESPACE)
                        || FACTORY_RESERVED.contains(&k.as_str())
                    {
                        return Err(Error::forbidden(format!("Attribute '{k}' is reserved.")));
                    }
                    props.insert(k, text(&v));
                }
            }
        }
        n.properties = props;
        Ok(n)
    }
}

/// A (schema-validated) integer Glance stores in a 32-bit column: more is a 400, as
/// Glance's `_validate_db_int` answers, never a silent 0. Negative values are left to
/// [`check_min`], which names them.
fn db_int(name: &str, v: &Value) -> Result<i64> {
    match v.as_i64() {
        Some(n) if n <= MAX_DB_INT => Ok(n),
        _ => Err(Error::bad_request(format!(
            "'{name}' value out of range, must not exceed {MAX_DB_INT}"
        ))),
    }
}

fn check_min(name: &str, v: i64) -> Result<()> {
    if v < 0 {
        return Err(Error::bad_request(format!(
            "Invalid value '{v}' for parameter '{name}': Cannot be a negative value"
        )));
    }
    Ok(())
}

impl Image {
    fn check_limits(&self, img: &ImageRecord) -> Result<()> {
        check_min("min_disk", img.min_disk)?;
        check_min("min_ram", img.min_ram)?;
        let max = self.cfg.image_property_quota;
        if img.properties.len() > max {
            return Err(Error::over_limit(format!(
                "The limit has been exceeded on the number of allowed image properties. Attempted: {}, Maximum: {max}",
                img.properties.len()
            )));
        }
        let max = self.cfg.image_tag_quota;
        if img.tags.len() > max {
            return Err(Error::over_limit(format!(
                "The limit has been exceeded on the number of allowed image tags. Attempted: {}, Maximum: {max}",
                img.tags.len()
            )));
        }
        Ok(())
    }

    /// Enforce who may give an image a visibility (`publicize_image`, `communitize_image`).
    fn check_visibility(&self, caller: &Caller, target: &Value, v: Visibility) -> Result<()> {
        let rule = match v {
            Visibility::Public => Rule::PublicizeImage,
            Visibility::Community => Rule::CommunitizeImage,
            _ => return Ok(()),
        };
        if self.allowed(caller, rule, target) {
            Ok(())
        } else {
            Err(refused(rule))
        }
    }

    pub async fn create_image(&self, caller: &Caller<'_>, n: NewImage) -> Result<ImageRecord> {
        let owner = n
            .owner
            .clone()
            .or_else(|| caller.project().map(str::to_owned));
        let vis = n.visibility.unwrap_or(Visibility::Shared);
        let target = serde_json::json!({
            "project_id": owner, "owner": owner,
            "visibility": n.visibility.unwrap_or(Visibility::Private).as_str(),
        });
        if !self.allowed(caller, Rule::AddImage, &target) {
            if owner.as_deref() != caller.project() {
                return Err(Error::forbidden(format!(
                    "You are not permitted to create images owned by '{}'",
                    owner.unwrap_or_default()
                )));
            }
            return Err(refused(Rule::AddImage));
        }
        if let Some(v) = n.visibility {
            self.check_visibility(caller, &target, v)?;
        }
        if let Some(o) = caller.project() {
            self.check_image_count(o, 1).await?;
        }
        let t = now();
        let img = ImageRecord {
            id: n.id.unwrap_or_else(new_id),
            name: n.name,
            status: Status::Queued,
            visibility: vis,
            protected: n.protected,
            os_hidden: n.os_hidden,
            owner,
            disk_format: n.disk_format,
            container_format: n.container_format,
            min_disk: n.min_disk,
            min_ram: n.min_ram,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            location: None,
            properties: n.properties,
            tags: n.tags,
            created_at: t.clone(),
            updated_at: t,
        };
        self.check_limits(&img)?;
        if self.tables.id_used(&img.id).await? {
            return Err(Error::conflict(format!(
                "Image with identifier {} already exists!",
                img.id
            )));
        }
        self.tables
            .insert_image(&img)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Conflict => {
                    Error::conflict(format!("Image with identifier {} already exists!", img.id))
                }
                _ => e,
            })?;
        Ok(img)
    }

    /// One page of images, and whether the page is full (Glance then gives a `next`).
    pub async fn list_images(
        &self,
        caller: &Caller<'_>,
        q: &ListQuery,
    ) -> Result<(Vec<ImageRecord>, bool)> {
        self.authorize(
            caller,
            Rule::GetImages,
            serde_json::json!({"project_id": caller.project()}),
        )?;
        let limit = q
            .limit
            .unwrap_or(self.cfg.limit_param_default)
            .min(self.cfg.api_limit_max);
        let marker = match &q.marker {
            None => None,
            Some(m) => {
                let img = self.tables.image(m).await?;
                let visible = match &img {
                    Some(i) => self.visible(caller, i).await?,
                    None => false,
                };
                if !visible {
                    return Err(Error::bad_request(format!("No image found with ID {m}")));
                }
                img
            }
        };
        let images = self
            .tables
            .list_images(q, &caller.viewer(), limit, marker.as_ref())
            .await?;
        let full = !images.is_empty() && images.len() == limit;
        let images = images
            .into_iter()
            .filter(|i| self.allowed(caller, Rule::GetImage, &self.target(caller, i)))
            .collect();
        Ok((images, full))
    }

    /// Apply JSON-patch changes, as Glance's `ImagesController.update`.
    pub async fn update_image(
        &self,
        caller: &Caller<'_>,
        id: &str,
        changes: &[Change],
    ) -> Result<ImageRecord> {
        let mut img = self.get(caller, id).await?;
        let before = img.status;
        for c in changes {
            self.apply(caller, &mut img, c)?;
        }
        if changes.is_empty() {
            return Ok(img);
        }
        self.check_limits(&img)?;
        img.updated_at = now();
        if !self.tables.update_image(&img, Some(before)).await? {
            return Err(Error::conflict(
                "The image changed while it was being updated; retry.",
            ));
        }
        Ok(img)
    }

    fn apply(&self, caller: &Caller, img: &mut ImageRecord, c: &Change) -> Result<()> {
        let root = c.root();
        if root == "locations" {
            let verb = match c.op {
                Op::Add => "add",
                Op::Remove => "remove",
                Op::Replace => "update",
            };
            return Err(Error::forbidden(format!(
                "It's not allowed to {verb} locations if locations are invisible."
            )));
        }
        if c.op == Op::Replace && root == "owner" && !caller.admin {
            return Err(Error::forbidden("Owner can't be updated by non admin."));
        }
        // update_property: visibility has its own rule, then modify_image.
        if let (Some("visibility"), Some(Value::String(v))) = (Some(root), &c.value) {
            if let Some(v) = Visibility::parse(v) {
                self.check_visibility(caller, &self.target(caller, img), v)?;
            }
        }
        self.enforce(caller, Rule::ModifyImage, img)?;
        let is_base = BASE.contains(&root);
        match c.op {
            Op::Remove if is_base => Err(Error::forbidden(format!(
                "Property {root} may not be removed."
            ))),
            Op::Remove => match img.properties.remove(root) {
                Some(_) => Ok(()),
                None => Err(Error::conflict(format!("Property {root} does not exist."))),
            },
            Op::Replace if !is_base && !img.properties.contains_key(root) => {
                Err(Error::conflict(format!("Property {root} does not exist.")))
            }
            Op::Add | Op::Replace => {
                let v = c.value.clone().unwrap_or(Value::Null);
                if is_base {
                    set_base(img, root, &v)
                } else {
                    img.properties
                        .insert(root.to_owned(), v.as_str().map(str::to_owned));
                    Ok(())
                }
            }
        }
    }

    pub async fn delete_image(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let img = self.get(caller, id).await?;
        self.enforce(caller, Rule::DeleteImage, &img)?;
        if img.protected {
            return Err(Error::forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        Self::transition(img.status, Status::Deleted).map_err(|e| Error::bad_request(e.message))?;
        self.tables.delete_image(id).await?;
        if let Some(loc) = &img.location {
            if let Err(e) = self.store.delete(loc).await {
                tracing::warn!(image = id, error = %e, "could not delete image data");
            }
        }
        let _ = self.staging.delete(&self.staged_location(id)).await;
        Ok(())
    }

    pub async fn add_tag(&self, caller: &Caller<'_>, id: &str, tag: &str) -> Result<()> {
        let mut obj = Map::new();
        obj.insert("tags".into(), Value::Array(vec![Value::String(tag.into())]));
        crate::schemas::validate_image(&self.schema, &obj).map_err(|r| {
            Error::bad_request(format!(
                "Provided object does not match schema 'image': {r}"
            ))
        })?;
        let mut img = self.get(caller, id).await?;
        self.enforce(caller, Rule::ModifyImage, &img)?;
        if img.tags.insert(tag.to_owned()) {
            self.check_limits(&img).map_err(|e| {
                Error::over_limit(format!(
                    "Image tag limit exceeded for image {id}: {}:",
                    e.message
                ))
            })?;
            img.updated_at = now();
            self.tables.update_image(&img, None).await?;
        }
        Ok(())
    }

    pub async fn delete_tag(&self, caller: &Caller<'_>, id: &str, tag: &str) -> Result<()> {
        let mut img = self.get(caller, id).await?;
        self.enforce(caller, Rule::ModifyImage, &img)?;
        if !img.tags.remove(tag) {
            return Err(Error::not_found("The resource could not be found."));
        }
        img.updated_at = now();
        self.tables.update_image(&img, None).await?;
        Ok(())
    }

    pub async fn deactivate(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let img = self.get(caller, id).await?;
        self.enforce(caller, Rule::Deactivate, &img)?;
        match img.status {
            Status::Active => {
                self.tables
                    .set_status(id, Status::Active, Status::Deactivated)
                    .await?;
                Ok(())
            }
            Status::Deactivated => Ok(()),
            s => Err(Error::forbidden(format!(
                "Not allowed to deactivate image in status '{}'",
                s.as_str()
            ))),
        }
    }

    pub async fn reactivate(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let img = self.get(caller, id).await?;
        self.enforce(caller, Rule::Reactivate, &img)?;
        match img.status {
            Status::Deactivated => {
                self.tables
                    .set_status(id, Status::Deactivated, Status::Active)
                    .await?;
                Ok(())
            }
            Status::Active => Ok(()),
            s => Err(Error::forbidden(format!(
                "Not allowed to reactivate image in status '{}'",
                s.as_str()
            ))),
        }
    }

    /// An image by id for the caller (`GET /v2/images/{id}`).
    pub async fn show_image(&self, caller: &Caller<'_>, id: &str) -> Result<ImageRecord> {
        self.get(caller, id).await.map_err(|e| match e.kind {
            ErrorKind::NotFound => not_found(id),
            _ => e,
        })
    }
}

/// Set a base attribute from a (schema-validated) value.
fn set_base(img: &mut ImageRecord, name: &str, v: &Value) -> Result<()> {
    let text = || v.as_str().map(str::to_owned);
    match name {
        "name" => img.name = text(),
        "visibility" => {
            img.visibility = v.as_str().and_then(Visibility::parse).ok_or_else(|| {
                Error::bad_request("Visibility must be one of \"community\", \"public\", \"private\", or \"shared\"")
            })?
        }
        "protected" => img.protected = v.as_bool().unwrap_or(false),
        "os_hidden" => img.os_hidden = v.as_bool().unwrap_or(false),
        "owner" => img.owner = text(),
        "min_disk" => img.min_disk = db_int("min_disk", v)?,
        "min_ram" => img.min_ram = db_int("min_ram", v)?,
        "tags" => img.tags = v.as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        "disk_format" | "container_format" => {
            if !matches!(img.status, Status::Queued | Status::Importing) {
                return Err(Error::forbidden(format!("Attribute {name} can be only replaced for a queued image.")));
            }
            if name == "disk_format" {
                img.disk_format = text();
            } else {
                img.container_format = text();
            }
        }
        other => return Err(Error::forbidden(format!("Attribute '{other}' is read-only."))),
    }
    Ok(())
}
