//! Neutron v2.0, as Nova uses it: networks, ports (created, bound to a host with
//! `binding:host_id`, updated, deleted), security groups and floating IPs. Answers are
//! Neutron's JSON (the proxy APIs below 2.36 render them in Nova's form).

use reqwest::Method;
use serde_json::{json, Value};
use types::{Error, NetworkId, PortId, Result};

use super::{query, As, Http};

#[derive(Clone)]
pub struct NetworkClient {
    pub(crate) http: Http,
}

fn field(v: Value, key: &str) -> Result<Value> {
    match v {
        Value::Object(mut m) => m
            .remove(key)
            .ok_or_else(|| Error::unavailable(format!("The network service answered no {key}."))),
        _ => Err(Error::unavailable(format!(
            "The network service answered no {key}."
        ))),
    }
}

fn list(v: Value, key: &str) -> Result<Vec<Value>> {
    match field(v, key)? {
        Value::Array(a) => Ok(a),
        _ => Err(Error::unavailable(format!(
            "The network service answered no {key} list."
        ))),
    }
}

impl NetworkClient {
    /// Any GET below the endpoint (Neutron's JSON as it is).
    pub async fn http_get(&self, auth: As<'_>, path: &str) -> Result<Value> {
        self.get(auth, path).await
    }

    async fn get(&self, auth: As<'_>, path: &str) -> Result<Value> {
        self.http.json(auth, Method::GET, path, None).await
    }

    pub async fn networks(&self, auth: As<'_>, filters: &[(&str, &str)]) -> Result<Vec<Value>> {
        list(
            self.get(auth, &format!("/v2.0/networks{}", query(filters)))
                .await?,
            "networks",
        )
    }

    pub async fn network(&self, auth: As<'_>, id: &NetworkId) -> Result<Value> {
        field(
            self.get(auth, &format!("/v2.0/networks/{id}")).await?,
            "network",
        )
    }

    pub async fn ports(&self, auth: As<'_>, filters: &[(&str, &str)]) -> Result<Vec<Value>> {
        list(
            self.get(auth, &format!("/v2.0/ports{}", query(filters)))
                .await?,
            "ports",
        )
    }

    pub async fn subnet(&self, auth: As<'_>, id: &str) -> Result<Value> {
        field(
            self.get(auth, &format!("/v2.0/subnets/{id}")).await?,
            "subnet",
        )
    }

    pub async fn port(&self, auth: As<'_>, id: &PortId) -> Result<Value> {
        field(self.get(auth, &format!("/v2.0/ports/{id}")).await?, "port")
    }

    /// Create a port (`body` is the inner object: `network_id`, `fixed_ips`,
    /// `device_id`, `device_owner`, `binding:host_id`...).
    pub async fn create_port(&self, auth: As<'_>, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::POST,
                "/v2.0/ports",
                Some(&json!({"port": body})),
            )
            .await?;
        field(v, "port")
    }

    pub async fn update_port(&self, auth: As<'_>, id: &PortId, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::PUT,
                &format!("/v2.0/ports/{id}"),
                Some(&json!({"port": body})),
            )
            .await?;
        field(v, "port")
    }

    /// Delete a port; one already gone is deleted.
    pub async fn delete_port(&self, auth: As<'_>, id: &PortId) -> Result<()> {
        match self
            .http
            .json(auth, Method::DELETE, &format!("/v2.0/ports/{id}"), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == types::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn security_groups(
        &self,
        auth: As<'_>,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Value>> {
        list(
            self.get(auth, &format!("/v2.0/security-groups{}", query(filters)))
                .await?,
            "security_groups",
        )
    }

    pub async fn security_group(&self, auth: As<'_>, id: &str) -> Result<Value> {
        field(
            self.get(auth, &format!("/v2.0/security-groups/{id}"))
                .await?,
            "security_group",
        )
    }

    pub async fn create_security_group(&self, auth: As<'_>, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::POST,
                "/v2.0/security-groups",
                Some(&json!({"security_group": body})),
            )
            .await?;
        field(v, "security_group")
    }

    pub async fn update_security_group(
        &self,
        auth: As<'_>,
        id: &str,
        body: Value,
    ) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::PUT,
                &format!("/v2.0/security-groups/{id}"),
                Some(&json!({"security_group": body})),
            )
            .await?;
        field(v, "security_group")
    }

    pub async fn delete_security_group(&self, auth: As<'_>, id: &str) -> Result<()> {
        self.http
            .json(
                auth,
                Method::DELETE,
                &format!("/v2.0/security-groups/{id}"),
                None,
            )
            .await
            .map(drop)
    }

    pub async fn create_security_group_rule(&self, auth: As<'_>, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::POST,
                "/v2.0/security-group-rules",
                Some(&json!({"security_group_rule": body})),
            )
            .await?;
        field(v, "security_group_rule")
    }

    pub async fn delete_security_group_rule(&self, auth: As<'_>, id: &str) -> Result<()> {
        self.http
            .json(
                auth,
                Method::DELETE,
                &format!("/v2.0/security-group-rules/{id}"),
                None,
            )
            .await
            .map(drop)
    }

    pub async fn floating_ips(&self, auth: As<'_>, filters: &[(&str, &str)]) -> Result<Vec<Value>> {
        list(
            self.get(auth, &format!("/v2.0/floatingips{}", query(filters)))
                .await?,
            "floatingips",
        )
    }

    pub async fn floating_ip(&self, auth: As<'_>, id: &str) -> Result<Value> {
        field(
            self.get(auth, &format!("/v2.0/floatingips/{id}")).await?,
            "floatingip",
        )
    }

    pub async fn create_floating_ip(&self, auth: As<'_>, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::POST,
                "/v2.0/floatingips",
                Some(&json!({"floatingip": body})),
            )
            .await?;
        field(v, "floatingip")
    }

    /// Associate (`port_id`) or dissociate (`null`) a floating IP.
    pub async fn update_floating_ip(&self, auth: As<'_>, id: &str, body: Value) -> Result<Value> {
        let v = self
            .http
            .json(
                auth,
                Method::PUT,
                &format!("/v2.0/floatingips/{id}"),
                Some(&json!({"floatingip": body})),
            )
            .await?;
        field(v, "floatingip")
    }

    pub async fn delete_floating_ip(&self, auth: As<'_>, id: &str) -> Result<()> {
        self.http
            .json(
                auth,
                Method::DELETE,
                &format!("/v2.0/floatingips/{id}"),
                None,
            )
            .await
            .map(drop)
    }
}
