//! The five handlers every top-level resource shares (list, show, create, update,
//! delete), written once over [`Served`]: what differs between resources is their
//! names, their filterable attributes and how they render.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{body, if_match, path_id, query, render, ApiState, Created, JsonResult, ListQuery};
use crate::{
    app::{
        resource::{Creatable, Resource, Updatable},
        Caller,
    },
    model::*,
};

/// A resource as the API serves it.
pub(super) trait Served: Resource {
    /// The body key of one (`network`) and of the collection (`networks`).
    const MEMBER: &'static str;
    const COLLECTION: &'static str;
    /// The attributes a list may filter on.
    const ATTRS: &'static [&'static str];
    /// Whether a show honours `fields=`.
    const SHOW_FIELDS: bool = true;
    /// Whether an update honours `If-Match`.
    const IF_MATCH: bool = true;

    /// The URL the collection's links start from.
    fn base(st: &ApiState) -> String {
        st.base.to_string()
    }

    /// The items of a list; `None` when its filters name nothing that can exist (the
    /// answer is then an empty collection, as it stands).
    async fn list(
        st: &ApiState,
        caller: &Caller<'_>,
        _q: &ListQuery,
    ) -> Result<Option<Vec<Self>>, Error> {
        Ok(Some(<Self as Resource>::list(&st.svc, caller).await?))
    }

    /// Each item in Neutron's form.
    async fn render(
        st: &ApiState,
        caller: &Caller<'_>,
        items: &[Self],
    ) -> Result<Vec<Value>, Error>;
}

async fn render_one<R: Served>(
    st: &ApiState,
    caller: &Caller<'_>,
    item: &R,
) -> Result<Value, Error> {
    let mut v = R::render(st, caller, std::slice::from_ref(item)).await?;
    Ok(v.pop().unwrap_or(Value::Null))
}

pub(super) async fn list<R: Served>(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let caller = st.svc.caller(&ctx.0);
    let Some(items) = <R as Served>::list(&st, &caller, &q).await? else {
        return Ok(Json(json!({ (R::COLLECTION): [] })));
    };
    let items = R::render(&st, &caller, &items).await?;
    Ok(Json(q.apply(
        R::COLLECTION,
        &R::base(&st),
        R::ATTRS,
        items,
    )?))
}

pub(super) async fn show<R: Served>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = if R::SHOW_FIELDS {
        Some(query(&st, &q)?)
    } else {
        None
    };
    let id = path_id(&id, R::not_found)?;
    let caller = st.svc.caller(&ctx.0);
    let item = R::show(&st.svc, &caller, &id).await?;
    let v = render_one(&st, &caller, &item).await?;
    let v = match q {
        Some(q) => q.cut(v),
        None => v,
    };
    Ok(Json(json!({ (R::MEMBER): v })))
}

pub(super) async fn create<R: Served + Creatable>(
    State(st): State<ApiState>,
    ctx: Ctx,
    b: Bytes,
) -> Created {
    let req: R::Create = body(&b, R::MEMBER)?;
    let caller = st.svc.caller(&ctx.0);
    let item = R::create(&st.svc, &caller, req).await?;
    let v = render_one(&st, &caller, &item).await?;
    Ok((StatusCode::CREATED, Json(json!({ (R::MEMBER): v }))))
}

pub(super) async fn update<R: Served + Updatable>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, R::not_found)?;
    let req: R::Update = body(&b, R::MEMBER)?;
    let caller = st.svc.caller(&ctx.0);
    let revision = if R::IF_MATCH { if_match(&h)? } else { None };
    let item = R::update(&st.svc, &caller, &id, req, revision).await?;
    let v = render_one(&st, &caller, &item).await?;
    Ok(Json(json!({ (R::MEMBER): v })))
}

pub(super) async fn delete<R: Served>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, R::not_found)?;
    R::delete(&st.svc, &st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ the resources

/// Resources rendered from themselves alone.
macro_rules! served {
    ($($t:ident: $member:literal in $collection:literal, $attrs:expr, $render:expr,
        fields: $fields:literal, if_match: $if_match:literal;)*) => {$(
        impl Served for $t {
            const MEMBER: &'static str = $member;
            const COLLECTION: &'static str = $collection;
            const ATTRS: &'static [&'static str] = $attrs;
            const SHOW_FIELDS: bool = $fields;
            const IF_MATCH: bool = $if_match;

            async fn render(
                _: &ApiState,
                _: &Caller<'_>,
                items: &[Self],
            ) -> Result<Vec<Value>, Error> {
                Ok(items.iter().map($render).collect())
            }
        }
    )*};
}

served! {
    Subnet: "subnet" in "subnets", render::SUBNET_ATTRS, render::subnet,
        fields: true, if_match: true;
    SecurityGroup: "security_group" in "security_groups", render::GROUP_ATTRS, render::group,
        fields: true, if_match: true;
    SecurityGroupRule: "security_group_rule" in "security_group_rules", render::RULE_ATTRS,
        |r| render::rule(r, false), fields: true, if_match: true;
    Router: "router" in "routers", render::ROUTER_ATTRS, render::router,
        fields: true, if_match: true;
    RbacPolicy: "rbac_policy" in "rbac_policies", render::RBAC_ATTRS, render::rbac,
        fields: false, if_match: false;
    SubnetPool: "subnetpool" in "subnetpools", render::POOL_ATTRS, render::subnet_pool,
        fields: false, if_match: true;
    AddressScope: "address_scope" in "address_scopes", render::SCOPE_ATTRS,
        render::address_scope, fields: false, if_match: false;
}

/// Provider attributes are rendered for those who may see them.
impl Served for Network {
    const MEMBER: &'static str = "network";
    const COLLECTION: &'static str = "networks";
    const ATTRS: &'static [&'static str] = render::NETWORK_ATTRS;

    async fn render(
        st: &ApiState,
        caller: &Caller<'_>,
        items: &[Self],
    ) -> Result<Vec<Value>, Error> {
        Ok(items
            .iter()
            .map(|n| render::network(n, st.svc.sees_provider(caller, n)))
            .collect())
    }
}

/// Ports show their binding to those who may see it, and their network's QoS policy.
impl Served for Port {
    const MEMBER: &'static str = "port";
    const COLLECTION: &'static str = "ports";
    const ATTRS: &'static [&'static str] = render::PORT_ATTRS;

    /// `network_id` and `device_id` are filtered by the store; a `network_id` that is not
    /// a network id matches nothing.
    async fn list(
        st: &ApiState,
        caller: &Caller<'_>,
        q: &ListQuery,
    ) -> Result<Option<Vec<Self>>, Error> {
        let network = match q.filter("network_id") {
            Some(n) => match types::NetworkId::parse(n) {
                Ok(id) => Some(id),
                Err(_) => return Ok(None),
            },
            None => None,
        };
        let ports = st
            .svc
            .port_list(caller, network.as_ref(), q.filter("device_id"))
            .await?;
        Ok(Some(ports))
    }

    async fn render(
        st: &ApiState,
        caller: &Caller<'_>,
        items: &[Self],
    ) -> Result<Vec<Value>, Error> {
        let binding = st.svc.sees_binding(caller);
        let qos = st.svc.network_qos_policies().await?;
        Ok(items
            .iter()
            .map(|p| {
                let net_qos = qos.get(p.network_id.as_str()).and_then(Option::as_ref);
                render::port(p, binding, &st.svc.cfg.dns_domain, net_qos)
            })
            .collect())
    }
}

/// A floating IP shows its port forwardings.
impl Served for FloatingIp {
    const MEMBER: &'static str = "floatingip";
    const COLLECTION: &'static str = "floatingips";
    const ATTRS: &'static [&'static str] = render::FIP_ATTRS;

    async fn render(
        st: &ApiState,
        caller: &Caller<'_>,
        items: &[Self],
    ) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(items.len());
        for f in items {
            let pfs = st.svc.pf_list(caller, &f.id).await?;
            out.push(render::floating_ip(f, &pfs));
        }
        Ok(out)
    }
}

/// QoS policies live under `/v2.0/qos`.
impl Served for QosPolicy {
    const MEMBER: &'static str = "policy";
    const COLLECTION: &'static str = "policies";
    const ATTRS: &'static [&'static str] = render::QOS_ATTRS;
    const SHOW_FIELDS: bool = false;

    fn base(st: &ApiState) -> String {
        format!("{}/v2.0/qos", st.base)
    }

    async fn render(_: &ApiState, _: &Caller<'_>, items: &[Self]) -> Result<Vec<Value>, Error> {
        Ok(items.iter().map(render::qos_policy).collect())
    }
}
