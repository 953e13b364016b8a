//! A token validator that knows its tokens in advance: for tests and development servers
//! where no identity service runs. Nothing in a running cloud uses it.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;

use crate::{AuthContext, Error, TokenValidator};

/// Tokens mapped to their callers.
#[derive(Default)]
pub struct FixedTokens(HashMap<String, Arc<AuthContext>>);

impl FixedTokens {
    /// `token` names user `user_id` (whose name is the token) of project `project`, with
    /// `roles` (list the implied roles too: nothing expands them here), for a day.
    pub fn with(mut self, token: &str, user_id: &str, project: &str, roles: &[&str]) -> Self {
        let ctx = AuthContext {
            token: token.into(),
            user_id: user_id.into(),
            user_name: token.into(),
            project_id: Some(project.into()),
            project_name: Some(project.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at: chrono::Utc::now() + chrono::Duration::days(1),
            ..Default::default()
        };
        self.0.insert(token.into(), Arc::new(ctx));
        self
    }
}

#[async_trait]
impl TokenValidator for FixedTokens {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, Error> {
        self.0
            .get(token)
            .cloned()
            .ok_or_else(|| Error::unauthenticated("The token is not valid."))
    }
}
