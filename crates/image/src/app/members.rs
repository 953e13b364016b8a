//! Image members: the projects a `shared` image is shared with. The owner adds and
//! removes them; each member accepts or rejects the image for itself.

use crate::policies::Rule;
use api_common::{Error, ErrorKind, Result};

use super::{Caller, Image};
use crate::model::*;

/// The longest member (project) id.
const MAX_MEMBER_ID: usize = 255;

impl Image {
    /// The image, if the caller may see it, for member calls (Glance's message differs).
    async fn member_image(&self, caller: &Caller<'_>, id: &str) -> Result<ImageRecord> {
        self.get(caller, id).await.map_err(|e| match e.kind {
            ErrorKind::NotFound => Error::not_found(format!("Image {id} not found.")),
            _ => e,
        })
    }

    /// Members the caller may see: all of them for the owner (and admins), its own
    /// membership for a member.
    fn member_visible(&self, caller: &Caller, img: &ImageRecord, m: &Member) -> bool {
        caller.admin
            || (caller.project().is_some()
                && (img.owner.as_deref() == caller.project()
                    || Some(m.member_id.as_str()) == caller.project()))
    }

    async fn lookup_member(
        &self,
        caller: &Caller<'_>,
        img: &ImageRecord,
        member: &str,
    ) -> Result<Member> {
        self.enforce(caller, Rule::GetMember, img)?;
        self.tables
            .member(&img.id, member)
            .await?
            .filter(|m| self.member_visible(caller, img, m))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "{member} not found in the member list of the image {}.",
                    img.id
                ))
            })
    }

    pub async fn add_member(&self, caller: &Caller<'_>, id: &str, member: &str) -> Result<Member> {
        // A member is a project id: no longer than Keystone's (and Glance's column).
        if member.chars().count() > MAX_MEMBER_ID {
            return Err(Error::bad_request(format!(
                "Member id is too long: a project id has at most {MAX_MEMBER_ID} characters."
            )));
        }
        let img = self.member_image(caller, id).await?;
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to create members for image {id}."
            )));
        }
        self.enforce(caller, Rule::AddMember, &img)?;
        let existing = self.tables.members(id).await?;
        if existing.iter().any(|m| m.member_id == member) {
            return Err(Error::conflict(format!(
                "Member {member} is duplicated for image {id}"
            )));
        }
        if existing.len() >= self.cfg.image_member_quota {
            return Err(Error::over_limit(format!(
                "Image member limit exceeded for image {id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: {}, Maximum: {}:",
                existing.len() + 1,
                self.cfg.image_member_quota
            )));
        }
        let t = now();
        let m = Member {
            image_id: id.into(),
            member_id: member.into(),
            status: MemberStatus::Pending,
            created_at: t.clone(),
            updated_at: t,
        };
        self.tables.insert_member(&m).await?;
        Ok(m)
    }

    pub async fn update_member(
        &self,
        caller: &Caller<'_>,
        id: &str,
        member: &str,
        status: &str,
    ) -> Result<Member> {
        let img = self.member_image(caller, id).await?;
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to update members for image {id}."
            )));
        }
        let mut m = self.lookup_member(caller, &img, member).await?;
        self.enforce(caller, Rule::ModifyMember, &img)?;
        m.status = MemberStatus::parse(status).ok_or_else(|| {
            Error::bad_request(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".",
            )
        })?;
        m.updated_at = now();
        self.tables.update_member(&m).await?;
        Ok(m)
    }

    pub async fn list_members(&self, caller: &Caller<'_>, id: &str) -> Result<Vec<Member>> {
        let img = self.member_image(caller, id).await?;
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to list members for image {id}: Only shared images have members."
            )));
        }
        self.enforce(caller, Rule::GetMembers, &img)?;
        let target = self.target(caller, &img);
        Ok(self
            .tables
            .members(id)
            .await?
            .into_iter()
            .filter(|m| {
                self.member_visible(caller, &img, m)
                    && self.allowed(caller, Rule::GetMember, &target)
            })
            .collect())
    }

    pub async fn show_member(&self, caller: &Caller<'_>, id: &str, member: &str) -> Result<Member> {
        let img = self.member_image(caller, id).await?;
        if img.visibility != Visibility::Shared {
            return Err(Error::not_found("Only shared images have members."));
        }
        self.lookup_member(caller, &img, member)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Forbidden => Error::not_found(e.message),
                _ => e,
            })
    }

    pub async fn remove_member(&self, caller: &Caller<'_>, id: &str, member: &str) -> Result<()> {
        let img = self.member_image(caller, id).await?;
        if img.visibility != Visibility::Shared {
            return Err(Error::forbidden(format!(
                "Not allowed to delete members for image {id}."
            )));
        }
        self.lookup_member(caller, &img, member).await?;
        self.enforce(caller, Rule::DeleteMember, &img)?;
        self.tables.delete_member(id, member).await
    }
}
