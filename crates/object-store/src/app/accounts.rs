//! Accounts: `AUTH_<project_id>`, created on first write (Swift's `account_autocreate`).

use api_common::Error;

use super::{check_account, check_meta, Caller, ObjectStore};
use crate::model::{AccountInfo, ContainerEntry, ListQuery, Meta, Timestamp};

impl ObjectStore {
    /// The account's totals and metadata (zeros for an account never written to).
    pub async fn account_show(&self, caller: &Caller, account: &str) -> Result<AccountInfo, Error> {
        check_account(account)?;
        self.authorize_owner(caller, account)?;
        Ok(self.account_info(account).await?.unwrap_or_default())
    }

    pub(crate) async fn account_info(&self, account: &str) -> Result<Option<AccountInfo>, Error> {
        self.read_any(account, |db| {
            Box::pin(async move { self.tables.account_info(&db).await })
        })
        .await
    }

    /// Create the account on every replica unless some replica has it.
    pub(crate) async fn account_ensure(&self, account: &str) -> Result<(), Error> {
        if self.account_info(account).await?.is_some() {
            return Ok(());
        }
        let now = Timestamp::now();
        self.on_quorum(account, |db| {
            Box::pin(async move { self.tables.account_create(&db, now).await.map(Some) })
        })
        .await
    }

    /// Set (or, with empty values, remove) account metadata.
    pub async fn account_update(
        &self,
        caller: &Caller,
        account: &str,
        meta: &Meta,
    ) -> Result<(), Error> {
        check_account(account)?;
        self.authorize_owner(caller, account)?;
        check_meta(meta)?;
        self.account_ensure(account).await?;
        self.on_quorum(account, |db| {
            Box::pin(async move { Ok(self.tables.account_post(&db, meta).await?.then_some(())) })
        })
        .await
    }

    /// A page of the account's containers, with its totals.
    pub async fn account_list(
        &self,
        caller: &Caller,
        account: &str,
        q: &ListQuery,
    ) -> Result<(AccountInfo, Vec<ContainerEntry>), Error> {
        let info = self.account_show(caller, account).await?;
        let list = self
            .read_any(account, |db| {
                Box::pin(async move { self.tables.list_containers(&db, q).await })
            })
            .await?
            .unwrap_or_default();
        Ok((info, list))
    }
}
