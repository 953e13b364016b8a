//! The verbs every resource shares (show, list, create, update, delete, retag), as
//! traits over the resource types, so the API's handlers and the tag calls are written
//! once for all of them. Each resource keeps its own logic in its own module; the
//! tables at the end name which method serves which verb.

use serde::de::DeserializeOwned;
use types::{kind, Id};

use super::{networks, Caller, Networking};
use crate::model::*;
use api_common::{Error, Result};

/// A resource of the API: its id's kind and how it is shown, listed and deleted.
pub(crate) trait Resource: Sized + Send + Sync + 'static {
    type Kind: types::Kind;

    /// NotFound in the resource's words (also for a malformed id: it names nothing).
    fn not_found(id: &str) -> Error;

    /// The resource, if the caller may see it.
    async fn show(svc: &Networking, caller: &Caller<'_>, id: &Id<Self::Kind>) -> Result<Self>;

    /// Every one the caller may see.
    async fn list(svc: &Networking, caller: &Caller<'_>) -> Result<Vec<Self>>;

    async fn delete(svc: &Networking, caller: &Caller<'_>, id: &Id<Self::Kind>) -> Result<()>;
}

/// A resource created from a request body.
pub(crate) trait Creatable: Resource {
    type Create: DeserializeOwned + Send;

    async fn create(svc: &Networking, caller: &Caller<'_>, req: Self::Create) -> Result<Self>;
}

/// A resource changed by a request body, at the revision `If-Match` names (when the
/// resource honours it).
pub(crate) trait Updatable: Resource {
    type Update: DeserializeOwned + Default + Send;

    async fn update(
        svc: &Networking,
        caller: &Caller<'_>,
        id: &Id<Self::Kind>,
        req: Self::Update,
        if_match: Option<i64>,
    ) -> Result<Self>;
}

/// A resource with tags (`/v2.0/{collection}/{id}/tags`).
pub(crate) trait Retaggable: Updatable + HasTags {
    /// Fails unless the caller may change the tags of `item` (by default: when it may
    /// update it, checked by an update that changes nothing).
    async fn may_retag(
        svc: &Networking,
        caller: &Caller<'_>,
        id: &Id<Self::Kind>,
        _item: &Self,
    ) -> Result<()> {
        Self::update(svc, caller, id, Default::default(), None).await?;
        Ok(())
    }
}

macro_rules! resources {
    ($($t:ident: $kind:ident, $missing:path, $show:ident, $list:ident, $delete:ident;)*) => {$(
        impl Resource for $t {
            type Kind = kind::$kind;

            fn not_found(id: &str) -> Error {
                $missing(id)
            }

            async fn show(
                svc: &Networking,
                caller: &Caller<'_>,
                id: &Id<kind::$kind>,
            ) -> Result<Self> {
                svc.$show(caller, id).await
            }

            async fn list(svc: &Networking, caller: &Caller<'_>) -> Result<Vec<Self>> {
                svc.$list(caller).await
            }

            async fn delete(
                svc: &Networking,
                caller: &Caller<'_>,
                id: &Id<kind::$kind>,
            ) -> Result<()> {
                svc.$delete(caller, id).await
            }
        }
    )*};
}

macro_rules! creatable {
    ($($t:ident: $req:ty => $create:ident;)*) => {$(
        impl Creatable for $t {
            type Create = $req;

            async fn create(svc: &Networking, caller: &Caller<'_>, req: $req) -> Result<Self> {
                svc.$create(caller, req).await
            }
        }
    )*};
}

macro_rules! updatable {
    (@call $svc:ident, $f:ident, $caller:ident, $id:ident, $req:ident, $if_match:ident, if_match) => {
        $svc.$f($caller, $id, $req, $if_match).await
    };
    (@call $svc:ident, $f:ident, $caller:ident, $id:ident, $req:ident, $if_match:ident, no_if_match) => {{
        let _ = $if_match;
        $svc.$f($caller, $id, $req).await
    }};
    ($($t:ident: $req:ty => $update:ident, $rev:ident;)*) => {$(
        impl Updatable for $t {
            type Update = $req;

            async fn update(
                svc: &Networking,
                caller: &Caller<'_>,
                id: &Id<Self::Kind>,
                req: $req,
                if_match: Option<i64>,
            ) -> Result<Self> {
                updatable!(@call svc, $update, caller, id, req, if_match, $rev)
            }
        }
    )*};
}

impl Networking {
    /// Every port the caller may see (the list without filters).
    async fn port_list_all(&self, caller: &Caller<'_>) -> Result<Vec<Port>> {
        self.port_list(caller, None, None).await
    }
}

// Which methods of [`Networking`] serve each verb of each resource.

resources! {
    Network: Network, networks::not_found, network_show, network_list, network_delete;
    Subnet: Subnet, super::subnets::not_found, subnet_show, subnet_list, subnet_delete;
    Port: Port, super::ports::not_found, port_show, port_list_all, port_delete;
    SecurityGroup: SecurityGroup, super::security_groups::not_found, group_show, group_list, group_delete;
    SecurityGroupRule: SecurityGroupRule, super::security_groups::rule_not_found, rule_show, rule_list, rule_delete;
    Router: Router, super::routers::not_found, router_show, router_list, router_delete;
    FloatingIp: FloatingIp, super::floating_ips::not_found, fip_show, fip_list, fip_delete;
    QosPolicy: QosPolicy, super::qos::not_found, qos_show, qos_list, qos_delete;
    RbacPolicy: RbacPolicy, super::rbac::not_found, rbac_show, rbac_list, rbac_delete;
    SubnetPool: SubnetPool, super::subnet_pools::pool_not_found, pool_show, pool_list, pool_delete;
    AddressScope: AddressScope, super::subnet_pools::scope_not_found, scope_show, scope_list, scope_delete;
}

creatable! {
    Network: super::NetworkCreate => network_create;
    Subnet: super::SubnetCreate => subnet_create;
    Port: super::PortCreate => port_create;
    SecurityGroup: super::GroupCreate => group_create;
    SecurityGroupRule: super::RuleCreate => rule_create;
    Router: super::RouterCreate => router_create;
    FloatingIp: super::FipCreate => fip_create;
    QosPolicy: super::QosCreate => qos_create;
    RbacPolicy: super::RbacCreate => rbac_create;
    SubnetPool: super::PoolCreate => pool_create;
    AddressScope: super::ScopeCreate => scope_create;
}

updatable! {
    Network: super::NetworkUpdate => network_update, if_match;
    Subnet: super::SubnetUpdate => subnet_update, if_match;
    Port: super::PortUpdate => port_update, if_match;
    SecurityGroup: super::GroupUpdate => group_update, if_match;
    Router: super::RouterUpdate => router_update, if_match;
    FloatingIp: super::FipUpdate => fip_update, if_match;
    QosPolicy: super::QosUpdate => qos_update, if_match;
    RbacPolicy: super::RbacUpdate => rbac_update, no_if_match;
    SubnetPool: super::PoolUpdate => pool_update, if_match;
    AddressScope: super::ScopeUpdate => scope_update, no_if_match;
}

impl Retaggable for Subnet {}
impl Retaggable for Port {}
impl Retaggable for SecurityGroup {}
impl Retaggable for Router {}
impl Retaggable for FloatingIp {}
impl Retaggable for QosPolicy {}
impl Retaggable for SubnetPool {}

/// A network's tags may change when the caller may update it; no update is made.
impl Retaggable for Network {
    async fn may_retag(
        svc: &Networking,
        caller: &Caller<'_>,
        _id: &Id<kind::Network>,
        item: &Self,
    ) -> Result<()> {
        svc.authorize(
            caller,
            crate::policies::Rule::UpdateNetwork,
            &networks::network_target(item),
        )
    }
}
