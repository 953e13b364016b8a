//! Containers: created, updated, listed and deleted (only when empty) in the account's
//! listing databases.

use api_common::Error;

use super::{access, check_container, check_meta, tempurl, Caller, Need, ObjectStore};
use crate::model::{ContainerInfo, ContainerUpdate, ListQuery, ObjectEntry, Timestamp};

impl ObjectStore {
    /// The container, if the caller may `need` it: the owner may do anything; others
    /// what its ACLs grant. A container that does not exist is 404 for the owner and a
    /// refusal for everyone else (who may not learn which containers exist).
    pub(crate) async fn container_for(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        need: Need,
    ) -> Result<ContainerInfo, Error> {
        check_container(container)?;
        let owner = self.owns(caller, account);
        let info = self
            .read_any(account, |db| {
                Box::pin(async move { self.tables.container_info(&db, container).await })
            })
            .await?;
        match info {
            Some(c) if owner || access::acl_allows(caller, &c.read_acl, &c.write_acl, need) => {
                Ok(c)
            }
            Some(c) if need != Need::List && self.temp_url_allows(caller, account, &c).await? => {
                Ok(c)
            }
            None if owner => Err(Error::not_found("")),
            _ => Err(access::refused(caller)),
        }
    }

    /// Whether the request's TempURL is signed with a key of the account or container.
    async fn temp_url_allows(
        &self,
        caller: &Caller,
        account: &str,
        c: &ContainerInfo,
    ) -> Result<bool, Error> {
        let Some(t) = &caller.temp_url else {
            return Ok(false);
        };
        let account_meta = self.account_info(account).await?.unwrap_or_default().meta;
        let keys = tempurl::keys(&account_meta).chain(tempurl::keys(&c.meta));
        Ok(tempurl::valid(t, &t.method, Timestamp::now().secs(), keys))
    }

    /// Create a container, or update an existing one's metadata and ACLs; `true` when
    /// it was created.
    pub async fn container_create(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        update: &ContainerUpdate,
    ) -> Result<bool, Error> {
        check_container(container)?;
        self.authorize_owner(caller, account)?;
        check_update(update)?;
        self.account_ensure(account).await?;
        let now = Timestamp::now();
        self.on_quorum(account, |db| {
            Box::pin(async move { self.tables.container_put(&db, container, now, update).await })
        })
        .await
    }

    pub async fn container_update(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        update: &ContainerUpdate,
    ) -> Result<(), Error> {
        check_container(container)?;
        self.authorize_owner(caller, account)?;
        check_update(update)?;
        let found = self
            .on_quorum(account, |db| {
                Box::pin(async move { self.tables.container_post(&db, container, update).await })
            })
            .await;
        match found {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::not_found("")),
            // an account never written to has no databases: no such container
            Err(_) if self.account_info(account).await?.is_none() => Err(Error::not_found("")),
            Err(e) => Err(e),
        }
    }

    pub async fn container_show(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
    ) -> Result<ContainerInfo, Error> {
        self.container_for(caller, account, container, Need::List)
            .await
    }

    /// A page of the container's objects, with its totals.
    pub async fn container_list(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        q: &ListQuery,
    ) -> Result<(ContainerInfo, Vec<ObjectEntry>), Error> {
        let info = self
            .container_for(caller, account, container, Need::List)
            .await?;
        let list = self
            .read_any(account, |db| {
                Box::pin(async move { self.tables.list_objects(&db, container, q).await })
            })
            .await?
            .unwrap_or_default();
        Ok((info, list))
    }

    /// Delete an empty container (409 when it holds objects).
    pub async fn container_delete(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
    ) -> Result<(), Error> {
        check_container(container)?;
        self.authorize_owner(caller, account)?;
        if self.account_info(account).await?.is_none() {
            return Err(Error::not_found(""));
        }
        let deleted = self
            .on_quorum(account, |db| {
                Box::pin(async move { self.tables.container_delete(&db, container).await })
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(Error::not_found(""))
        }
    }
}

fn check_update(u: &ContainerUpdate) -> Result<(), Error> {
    check_meta(&u.meta)?;
    if let Some(r) = &u.read_acl {
        access::check_acl(r, true)?;
    }
    if let Some(w) = &u.write_acl {
        access::check_acl(w, false)?;
    }
    Ok(())
}
