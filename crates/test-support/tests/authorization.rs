//! Every route of every registered service refuses strangers.
//!
//! The routes come from each service's own route table (what its router was built from,
//! see `api_common::routes::Routes`), so a new route cannot escape this test: its methods
//! are found by asking (405 means "not a route"), and every (method, path) found must
//! have an entry in [`EXPECT`], or the test fails naming it. For each route:
//! (a) with no token the answer is 401 in the service's own fault format, except the
//!     public routes of [`PUBLIC`];
//! (b) a member of another project (not an admin), aiming at resources of a victim
//!     project in a domain of its own (path parameters filled with the victim's real
//!     ids), gets 403 or 404 (404 only, where the resource is hidden from it), or the
//!     answer the table allows for self-service; a success never mentions the victim's
//!     private ids; and the database is unchanged, but for rows that mention the caller's
//!     own user, project or the resource it just created.

use std::collections::BTreeSet;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use oxistack::services::SERVICES;
use serde_json::{json, Value};
use test_support::{changes, unique, Engine, Member, TestCloud};

/// What a stranger (member of another project) may get.
#[derive(Debug, Clone, Copy)]
enum Stranger {
    /// 403 or 404: the victim's resource exists but is not the caller's business.
    Denied,
    /// 404 only: the caller may not even know the resource exists.
    Hidden,
    /// Self-service, or something every user may read: these statuses, nothing of the
    /// victim in the answer, nothing of the victim changed.
    Allowed(&'static [u16]),
    /// The route creates in the caller's own project: this status; the rows of what it
    /// created are the caller's.
    CreatesOwn(u16),
}
use Stranger::*;

/// Routes anyone may call without a token (for (a)); HEAD follows GET.
#[rustfmt::skip]
const PUBLIC: &[(&str, &str)] = &[
    // version discovery: clients read it before they have a token
    ("identity", "GET /"),
    ("identity", "GET /v3"),
    ("identity", "GET /v3/"),
    // authenticating is how one gets a token
    ("identity", "POST /v3/auth/tokens"),
    ("image", "GET /"),
    ("image", "GET /versions"),
    ("image", "GET /v2"),
    ("image", "GET /v2/"),
    ("network", "GET /"),
    ("network", "GET /v2.0"),
    ("network", "GET /v2.0/"),
    ("placement", "GET /"),
    ("compute_api", "GET /"),
    ("compute_api", "GET /v2.1"),
    ("compute_api", "GET /v2.1/"),
    // the metadata service: a token is no credential there, the proxy's signature is
    // (as Nova's, any method: the versions at `/`, a refusal elsewhere)
    ("metadata", "GET /"),
    ("metadata", "POST /"),
    ("metadata", "PUT /"),
    ("metadata", "PATCH /"),
    ("metadata", "DELETE /"),
    ("metadata", "GET /{*path}"),
    ("metadata", "POST /{*path}"),
    ("metadata", "PUT /{*path}"),
    ("metadata", "PATCH /{*path}"),
    ("metadata", "DELETE /{*path}"),
    // Swift's capabilities
    ("object", "GET /info"),
    // the console proxy: noVNC's pages; the console token is the credential
    ("novncproxy", "GET /"),
    ("novncproxy", "GET /websockify"),
    ("novncproxy", "GET /{*file}"),
    ("volume", "GET /"),
    ("volume", "GET /v3"),
    ("volume", "GET /v3/"),
];

/// The authorization test of every route: (service, "METHOD path", what a stranger
/// gets, the body it sends). A HEAD without its own entry follows the GET of its path.
/// Bodies are JSON with `{placeholders}` for the victim's ids (see `Fixture::fill`); they
/// are valid requests, so that a refusal is the authorization and not a 400.
#[rustfmt::skip]
const EXPECT: &[(&str, &str, Stranger, &str)] = &[
    // ---- identity: discovery and tokens
    ("identity", "GET /", Allowed(&[300]), ""),
    ("identity", "GET /v3", Allowed(&[200]), ""),
    ("identity", "GET /v3/", Allowed(&[200]), ""),
    // rescoping one's own token to the victim's project
    ("identity", "POST /v3/auth/tokens", Allowed(&[401]),
        r#"{"auth": {"identity": {"methods": ["token"], "token": {"id": "{caller_token}"}},
            "scope": {"project": {"id": "{project}"}}}}"#),
    // the victim's token as X-Subject-Token: answered as an invalid token is (404), so a
    // stranger cannot tell a valid token from garbage
    ("identity", "GET /v3/auth/tokens", Hidden, ""),
    ("identity", "DELETE /v3/auth/tokens", Hidden, ""),
    // what the caller's own token may see
    ("identity", "GET /v3/auth/catalog", Allowed(&[200]), ""),
    ("identity", "GET /v3/auth/projects", Allowed(&[200]), ""),
    ("identity", "GET /v3/auth/domains", Allowed(&[200]), ""),
    ("identity", "GET /v3/auth/system", Allowed(&[200]), ""),
    // ---- identity: domains, projects, users, groups
    ("identity", "GET /v3/domains", Denied, ""),
    ("identity", "POST /v3/domains", Denied, r#"{"domain": {"name": "{new}"}}"#),
    ("identity", "GET /v3/domains/{id}", Denied, ""),
    ("identity", "PATCH /v3/domains/{id}", Denied, r#"{"domain": {"description": "x"}}"#),
    ("identity", "DELETE /v3/domains/{id}", Denied, ""),
    ("identity", "GET /v3/projects", Denied, ""),
    ("identity", "POST /v3/projects", Denied,
        r#"{"project": {"name": "{new}", "domain_id": "{domain}"}}"#),
    ("identity", "GET /v3/projects/{id}", Denied, ""),
    ("identity", "PATCH /v3/projects/{id}", Denied, r#"{"project": {"description": "x"}}"#),
    ("identity", "DELETE /v3/projects/{id}", Denied, ""),
    ("identity", "GET /v3/projects/{id}/tags", Denied, ""),
    ("identity", "PUT /v3/projects/{id}/tags", Denied, r#"{"tags": ["x"]}"#),
    ("identity", "DELETE /v3/projects/{id}/tags", Denied, ""),
    ("identity", "GET /v3/projects/{id}/tags/{tag}", Denied, ""),
    ("identity", "PUT /v3/projects/{id}/tags/{tag}", Denied, ""),
    ("identity", "DELETE /v3/projects/{id}/tags/{tag}", Denied, ""),
    ("identity", "GET /v3/users", Denied, ""),
    ("identity", "POST /v3/users", Denied,
        r#"{"user": {"name": "{new}", "domain_id": "{domain}", "password": "x"}}"#),
    ("identity", "GET /v3/users/{id}", Denied, ""),
    ("identity", "PATCH /v3/users/{id}", Denied, r#"{"user": {"password": "stolen"}}"#),
    ("identity", "DELETE /v3/users/{id}", Denied, ""),
    // Keystone authenticates a password change with the original password, not the
    // token: a wrong one is a 401
    ("identity", "POST /v3/users/{id}/password", Allowed(&[401, 403, 404]),
        r#"{"user": {"original_password": "guess", "password": "stolen"}}"#),
    ("identity", "GET /v3/users/{id}/groups", Denied, ""),
    ("identity", "GET /v3/users/{id}/projects", Denied, ""),
    ("identity", "GET /v3/users/{id}/application_credentials", Denied, ""),
    ("identity", "POST /v3/users/{id}/application_credentials", Denied,
        r#"{"application_credential": {"name": "{new}"}}"#),
    ("identity", "GET /v3/users/{id}/application_credentials/{ac}", Denied, ""),
    ("identity", "DELETE /v3/users/{id}/application_credentials/{ac}", Denied, ""),
    ("identity", "GET /v3/groups", Denied, ""),
    ("identity", "POST /v3/groups", Denied,
        r#"{"group": {"name": "{new}", "domain_id": "{domain}"}}"#),
    ("identity", "GET /v3/groups/{id}", Denied, ""),
    ("identity", "PATCH /v3/groups/{id}", Denied, r#"{"group": {"description": "x"}}"#),
    ("identity", "DELETE /v3/groups/{id}", Denied, ""),
    ("identity", "GET /v3/groups/{id}/users", Denied, ""),
    ("identity", "PUT /v3/groups/{id}/users/{user}", Denied, ""),
    ("identity", "HEAD /v3/groups/{id}/users/{user}", Denied, ""),
    ("identity", "GET /v3/groups/{id}/users/{user}", Denied, ""),
    ("identity", "DELETE /v3/groups/{id}/users/{user}", Denied, ""),
    // ---- identity: roles
    ("identity", "GET /v3/roles", Denied, ""),
    ("identity", "POST /v3/roles", Denied, r#"{"role": {"name": "{new}"}}"#),
    ("identity", "GET /v3/roles/{id}", Denied, ""),
    ("identity", "PATCH /v3/roles/{id}", Denied, r#"{"role": {"name": "{new}"}}"#),
    ("identity", "DELETE /v3/roles/{id}", Denied, ""),
    ("identity", "GET /v3/roles/{id}/implies", Denied, ""),
    ("identity", "PUT /v3/roles/{id}/implies/{implied}", Denied, ""),
    ("identity", "GET /v3/roles/{id}/implies/{implied}", Denied, ""),
    ("identity", "HEAD /v3/roles/{id}/implies/{implied}", Denied, ""),
    ("identity", "DELETE /v3/roles/{id}/implies/{implied}", Denied, ""),
    ("identity", "GET /v3/role_inferences", Denied, ""),
    ("identity", "GET /v3/role_assignments", Denied, ""),
    // ---- identity: grants (the role is `admin`: the grant a stranger wants most)
    ("identity", "GET /v3/projects/{t}/users/{a}/roles", Denied, ""),
    ("identity", "GET /v3/projects/{t}/groups/{a}/roles", Denied, ""),
    ("identity", "GET /v3/domains/{t}/users/{a}/roles", Denied, ""),
    ("identity", "GET /v3/domains/{t}/groups/{a}/roles", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/projects/{t}/users/{a}/roles/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/projects/{t}/groups/{a}/roles/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/domains/{t}/users/{a}/roles/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/domains/{t}/groups/{a}/roles/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/system/users/{a}/roles", Denied, ""),
    ("identity", "GET /v3/system/groups/{a}/roles", Denied, ""),
    ("identity", "PUT /v3/projects/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/projects/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/projects/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/projects/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "PUT /v3/projects/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/projects/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/projects/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/projects/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "PUT /v3/domains/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/domains/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/domains/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/domains/{t}/users/{a}/roles/{r}", Denied, ""),
    ("identity", "PUT /v3/domains/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/domains/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/domains/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/domains/{t}/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "PUT /v3/OS-INHERIT/projects/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "HEAD /v3/OS-INHERIT/projects/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/projects/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "DELETE /v3/OS-INHERIT/projects/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "PUT /v3/OS-INHERIT/projects/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "HEAD /v3/OS-INHERIT/projects/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/projects/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "DELETE /v3/OS-INHERIT/projects/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "PUT /v3/OS-INHERIT/domains/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "HEAD /v3/OS-INHERIT/domains/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/domains/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "DELETE /v3/OS-INHERIT/domains/{t}/users/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "PUT /v3/OS-INHERIT/domains/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "HEAD /v3/OS-INHERIT/domains/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "GET /v3/OS-INHERIT/domains/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "DELETE /v3/OS-INHERIT/domains/{t}/groups/{a}/roles/{r}/inherited_to_projects", Denied, ""),
    ("identity", "PUT /v3/system/users/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/system/users/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/system/users/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/system/users/{a}/roles/{r}", Denied, ""),
    ("identity", "PUT /v3/system/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "HEAD /v3/system/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "GET /v3/system/groups/{a}/roles/{r}", Denied, ""),
    ("identity", "DELETE /v3/system/groups/{a}/roles/{r}", Denied, ""),
    // ---- identity: the catalog. Regions are readable by every user (as in Keystone).
    ("identity", "GET /v3/regions", Allowed(&[200]), ""),
    ("identity", "POST /v3/regions", Denied, r#"{"region": {"description": "x"}}"#),
    ("identity", "GET /v3/regions/{id}", Allowed(&[200]), ""),
    ("identity", "PATCH /v3/regions/{id}", Denied, r#"{"region": {"description": "x"}}"#),
    ("identity", "DELETE /v3/regions/{id}", Denied, ""),
    ("identity", "GET /v3/services", Denied, ""),
    ("identity", "POST /v3/services", Denied, r#"{"service": {"type": "x", "name": "{new}"}}"#),
    ("identity", "GET /v3/services/{id}", Denied, ""),
    ("identity", "PATCH /v3/services/{id}", Denied, r#"{"service": {"name": "{new}"}}"#),
    ("identity", "DELETE /v3/services/{id}", Denied, ""),
    ("identity", "GET /v3/endpoints", Denied, ""),
    ("identity", "POST /v3/endpoints", Denied,
        r#"{"endpoint": {"interface": "public", "url": "http://x.example", "service_id": "{service}"}}"#),
    ("identity", "GET /v3/endpoints/{id}", Denied, ""),
    ("identity", "PATCH /v3/endpoints/{id}", Denied, r#"{"endpoint": {"url": "http://y.example"}}"#),
    ("identity", "DELETE /v3/endpoints/{id}", Denied, ""),
    // ---- image: discovery, listing and creating in one's own project
    ("image", "GET /", Allowed(&[300]), ""),
    ("image", "GET /versions", Allowed(&[200]), ""),
    ("image", "GET /v2", Allowed(&[300]), ""),
    ("image", "GET /v2/", Allowed(&[300]), ""),
    ("image", "GET /v2/images", Allowed(&[200]), ""),
    ("image", "POST /v2/images", CreatesOwn(201),
        r#"{"name": "{new}", "disk_format": "raw", "container_format": "bare"}"#),
    ("image", "GET /v2/schemas/image", Allowed(&[200]), ""),
    ("image", "GET /v2/schemas/images", Allowed(&[200]), ""),
    ("image", "GET /v2/schemas/member", Allowed(&[200]), ""),
    ("image", "GET /v2/schemas/members", Allowed(&[200]), ""),
    ("image", "GET /v2/info/import", Allowed(&[200]), ""),
    ("image", "GET /v2/info/stores", Allowed(&[200]), ""),
    ("image", "GET /v2/info/stores/detail", Denied, ""),
    ("image", "GET /v2/info/usage", Allowed(&[200]), ""),
    // ---- image: the victim's private image (its shared one for members) is hidden
    ("image", "GET /v2/images/{id}", Hidden, ""),
    ("image", "PATCH /v2/images/{id}", Hidden, r#"[{"op": "replace", "path": "/name", "value": "x"}]"#),
    ("image", "DELETE /v2/images/{id}", Hidden, ""),
    ("image", "PUT /v2/images/{id}/file", Hidden, "data"),
    ("image", "GET /v2/images/{id}/file", Hidden, ""),
    ("image", "PUT /v2/images/{id}/stage", Hidden, "data"),
    ("image", "POST /v2/images/{id}/import", Hidden, r#"{"method": {"name": "glance-direct"}}"#),
    ("image", "POST /v2/images/{id}/actions/deactivate", Hidden, ""),
    ("image", "POST /v2/images/{id}/actions/reactivate", Hidden, ""),
    ("image", "PUT /v2/images/{id}/tags/{tag}", Hidden, ""),
    ("image", "DELETE /v2/images/{id}/tags/{tag}", Hidden, ""),
    ("image", "GET /v2/images/{id}/members", Hidden, ""),
    ("image", "POST /v2/images/{id}/members", Hidden, r#"{"member": "{caller_project}"}"#),
    ("image", "GET /v2/images/{id}/members/{member_id}", Hidden, ""),
    ("image", "PUT /v2/images/{id}/members/{member_id}", Hidden, r#"{"status": "accepted"}"#),
    ("image", "DELETE /v2/images/{id}/members/{member_id}", Hidden, ""),
    // ---- network: discovery, and listing and creating in one's own project
    ("network", "GET /", Allowed(&[200]), ""),
    ("network", "GET /v2.0", Allowed(&[200]), ""),
    ("network", "GET /v2.0/", Allowed(&[200]), ""),
    ("network", "GET /v2.0/extensions", Allowed(&[200]), ""),
    ("network", "GET /v2.0/extensions/{alias}", Allowed(&[200]), ""),
    ("network", "GET /v2.0/availability_zones", Allowed(&[200]), ""),
    ("network", "GET /v2.0/networks", Allowed(&[200]), ""),
    ("network", "POST /v2.0/networks", CreatesOwn(201), r#"{"network": {"name": "{new}"}}"#),
    ("network", "GET /v2.0/subnets", Allowed(&[200]), ""),
    ("network", "GET /v2.0/ports", Allowed(&[200]), ""),
    ("network", "GET /v2.0/security-groups", Allowed(&[200]), ""),
    ("network", "POST /v2.0/security-groups", CreatesOwn(201), r#"{"security_group": {"name": "{new}"}}"#),
    ("network", "GET /v2.0/security-group-rules", Allowed(&[200]), ""),
    // ---- network: the victim's network, subnet, port, group and rule are hidden
    ("network", "GET /v2.0/networks/{id}", Hidden, ""),
    ("network", "PUT /v2.0/networks/{id}", Hidden, r#"{"network": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/networks/{id}", Hidden, ""),
    ("network", "POST /v2.0/subnets", Hidden,
        r#"{"subnet": {"network_id": "{network}", "cidr": "10.99.0.0/24", "ip_version": 4}}"#),
    ("network", "GET /v2.0/subnets/{id}", Hidden, ""),
    ("network", "PUT /v2.0/subnets/{id}", Hidden, r#"{"subnet": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/subnets/{id}", Hidden, ""),
    ("network", "POST /v2.0/ports", Hidden, r#"{"port": {"network_id": "{network}"}}"#),
    ("network", "GET /v2.0/ports/{id}", Hidden, ""),
    ("network", "PUT /v2.0/ports/{id}", Hidden, r#"{"port": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/ports/{id}", Hidden, ""),
    ("network", "GET /v2.0/security-groups/{id}", Hidden, ""),
    ("network", "PUT /v2.0/security-groups/{id}", Hidden, r#"{"security_group": {"description": "x"}}"#),
    ("network", "DELETE /v2.0/security-groups/{id}", Hidden, ""),
    ("network", "POST /v2.0/security-group-rules", Hidden,
        r#"{"security_group_rule": {"security_group_id": "{security_group}", "direction": "ingress", "protocol": "tcp"}}"#),
    ("network", "GET /v2.0/security-group-rules/{id}", Hidden, ""),
    ("network", "DELETE /v2.0/security-group-rules/{id}", Hidden, ""),
    ("network", "GET /v2.0/routers", Allowed(&[200]), ""),
    ("network", "POST /v2.0/routers", CreatesOwn(201), r#"{"router": {"name": "{new}"}}"#),
    ("network", "GET /v2.0/routers/{id}", Hidden, ""),
    ("network", "PUT /v2.0/routers/{id}", Hidden, r#"{"router": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/routers/{id}", Hidden, ""),
    ("network", "PUT /v2.0/routers/{id}/add_router_interface", Hidden, r#"{"subnet_id": "{subnet}"}"#),
    ("network", "PUT /v2.0/routers/{id}/remove_router_interface", Hidden, r#"{"subnet_id": "{subnet}"}"#),
    ("network", "GET /v2.0/floatingips", Allowed(&[200]), ""),
    ("network", "POST /v2.0/floatingips", Hidden, r#"{"floatingip": {"floating_network_id": "{network}"}}"#),
    ("network", "GET /v2.0/floatingips/{id}", Hidden, ""),
    ("network", "PUT /v2.0/floatingips/{id}", Hidden, r#"{"floatingip": {"description": "x"}}"#),
    ("network", "DELETE /v2.0/floatingips/{id}", Hidden, ""),
    ("network", "GET /v2.0/floatingips/{id}/port_forwardings", Hidden, ""),
    ("network", "POST /v2.0/floatingips/{id}/port_forwardings", Hidden,
        r#"{"port_forwarding": {"protocol": "tcp", "internal_port_id": "{port}", "internal_ip_address": "10.98.0.5", "internal_port": 22, "external_port": 2222}}"#),
    ("network", "GET /v2.0/floatingips/{id}/port_forwardings/{pf}", Hidden, ""),
    ("network", "DELETE /v2.0/floatingips/{id}/port_forwardings/{pf}", Hidden, ""),
    ("network", "GET /v2.0/qos/policies", Allowed(&[200]), ""),
    ("network", "POST /v2.0/qos/policies", Denied, r#"{"policy": {"name": "{new}"}}"#),
    ("network", "GET /v2.0/qos/policies/{id}", Hidden, ""),
    ("network", "PUT /v2.0/qos/policies/{id}", Hidden, r#"{"policy": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/qos/policies/{id}", Hidden, ""),
    ("network", "GET /v2.0/qos/policies/{id}/bandwidth_limit_rules", Hidden, ""),
    ("network", "POST /v2.0/qos/policies/{id}/bandwidth_limit_rules", Hidden, r#"{"bandwidth_limit_rule": {"max_kbps": 1000}}"#),
    ("network", "GET /v2.0/qos/policies/{id}/bandwidth_limit_rules/{rule}", Hidden, ""),
    ("network", "PUT /v2.0/qos/policies/{id}/bandwidth_limit_rules/{rule}", Hidden, r#"{"bandwidth_limit_rule": {"max_kbps": 10}}"#),
    ("network", "DELETE /v2.0/qos/policies/{id}/bandwidth_limit_rules/{rule}", Hidden, ""),
    ("network", "GET /v2.0/qos/rule-types", Allowed(&[200]), ""),
    ("network", "GET /v2.0/rbac-policies", Allowed(&[200]), ""),
    ("network", "POST /v2.0/rbac-policies", Hidden,
        r#"{"rbac_policy": {"object_type": "network", "object_id": "{network}", "action": "access_as_shared", "target_tenant": "{caller_project}"}}"#),
    ("network", "GET /v2.0/rbac-policies/{id}", Hidden, ""),
    ("network", "PUT /v2.0/rbac-policies/{id}", Hidden, r#"{"rbac_policy": {"target_tenant": "{caller_project}"}}"#),
    ("network", "DELETE /v2.0/rbac-policies/{id}", Hidden, ""),
    ("network", "GET /v2.0/subnetpools", Allowed(&[200]), ""),
    ("network", "POST /v2.0/subnetpools", CreatesOwn(201), r#"{"subnetpool": {"name": "{new}", "prefixes": ["10.200.0.0/16"]}}"#),
    ("network", "GET /v2.0/subnetpools/{id}", Hidden, ""),
    ("network", "PUT /v2.0/subnetpools/{id}", Hidden, r#"{"subnetpool": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/subnetpools/{id}", Hidden, ""),
    ("network", "GET /v2.0/address-scopes", Allowed(&[200]), ""),
    ("network", "POST /v2.0/address-scopes", CreatesOwn(201), r#"{"address_scope": {"name": "{new}", "ip_version": 4}}"#),
    ("network", "GET /v2.0/address-scopes/{id}", Hidden, ""),
    ("network", "PUT /v2.0/address-scopes/{id}", Hidden, r#"{"address_scope": {"name": "x"}}"#),
    ("network", "DELETE /v2.0/address-scopes/{id}", Hidden, ""),
    ("network", "GET /v2.0/{collection}/{id}/tags", Hidden, ""),
    ("network", "PUT /v2.0/{collection}/{id}/tags", Hidden, r#"{"tags": ["x"]}"#),
    ("network", "DELETE /v2.0/{collection}/{id}/tags", Hidden, ""),
    ("network", "GET /v2.0/{collection}/{id}/tags/{tag}", Hidden, ""),
    ("network", "PUT /v2.0/{collection}/{id}/tags/{tag}", Hidden, ""),
    ("network", "DELETE /v2.0/{collection}/{id}/tags/{tag}", Hidden, ""),
    // ---- network: quotas and agents are the admin's
    ("network", "GET /v2.0/quotas", Denied, ""),
    ("network", "GET /v2.0/quotas/{project}", Denied, ""),
    ("network", "PUT /v2.0/quotas/{project}", Denied, r#"{"quota": {"network": 5}}"#),
    ("network", "DELETE /v2.0/quotas/{project}", Denied, ""),
    ("network", "GET /v2.0/quotas/{project}/default", Denied, ""),
    ("network", "GET /v2.0/quotas/{project}/details", Denied, ""),
    ("network", "GET /v2.0/agents", Denied, ""),
    ("network", "GET /v2.0/agents/{id}", Denied, ""),
    ("network", "PUT /v2.0/agents/{id}", Denied, r#"{"agent": {"admin_state_up": false}}"#),
    ("network", "DELETE /v2.0/agents/{id}", Denied, ""),
    // ---- placement: all of it is the admin's and the services' (a project's readers may
    // see only their own project's usages)
    ("placement", "GET /", Allowed(&[200]), ""),
    ("placement", "GET /resource_providers", Denied, ""),
    ("placement", "POST /resource_providers", Denied, r#"{"name": "{new}"}"#),
    ("placement", "GET /resource_providers/{uuid}", Denied, ""),
    ("placement", "PUT /resource_providers/{uuid}", Denied, r#"{"name": "{new}"}"#),
    ("placement", "DELETE /resource_providers/{uuid}", Denied, ""),
    ("placement", "GET /resource_providers/{uuid}/inventories", Denied, ""),
    ("placement", "POST /resource_providers/{uuid}/inventories", Denied, r#"{"resource_class": "DISK_GB", "total": 10}"#),
    ("placement", "PUT /resource_providers/{uuid}/inventories", Denied,
        r#"{"resource_provider_generation": {rp_generation}, "inventories": {"VCPU": {"total": 1}}}"#),
    ("placement", "DELETE /resource_providers/{uuid}/inventories", Denied, ""),
    ("placement", "GET /resource_providers/{uuid}/inventories/{resource_class}", Denied, ""),
    ("placement", "PUT /resource_providers/{uuid}/inventories/{resource_class}", Denied,
        r#"{"resource_provider_generation": {rp_generation}, "total": 1}"#),
    ("placement", "DELETE /resource_providers/{uuid}/inventories/{resource_class}", Denied, ""),
    ("placement", "GET /resource_providers/{uuid}/usages", Denied, ""),
    ("placement", "GET /resource_providers/{uuid}/aggregates", Denied, ""),
    ("placement", "PUT /resource_providers/{uuid}/aggregates", Denied,
        r#"{"aggregates": ["5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978"], "resource_provider_generation": {rp_generation}}"#),
    ("placement", "GET /resource_providers/{uuid}/traits", Denied, ""),
    ("placement", "PUT /resource_providers/{uuid}/traits", Denied,
        r#"{"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": {rp_generation}}"#),
    ("placement", "DELETE /resource_providers/{uuid}/traits", Denied, ""),
    ("placement", "GET /resource_providers/{uuid}/allocations", Denied, ""),
    ("placement", "POST /allocations", Denied,
        r#"{"{consumer}": {"allocations": {}, "project_id": "{caller_project}", "user_id": "x", "consumer_generation": 1, "consumer_type": "INSTANCE"}}"#),
    ("placement", "GET /allocations/{consumer_uuid}", Denied, ""),
    ("placement", "PUT /allocations/{consumer_uuid}", Denied,
        r#"{"allocations": {"{rp}": {"resources": {"VCPU": 2}}}, "project_id": "{caller_project}", "user_id": "x", "consumer_generation": 1, "consumer_type": "INSTANCE"}"#),
    ("placement", "DELETE /allocations/{consumer_uuid}", Denied, ""),
    ("placement", "GET /allocation_candidates", Denied, ""),
    ("placement", "GET /usages", Denied, ""),
    ("placement", "POST /reshaper", Denied, r#"{"inventories": {}, "allocations": {}}"#),
    ("placement", "GET /resource_classes", Denied, ""),
    ("placement", "POST /resource_classes", Denied, r#"{"name": "CUSTOM_STRANGER"}"#),
    ("placement", "GET /resource_classes/{name}", Denied, ""),
    ("placement", "PUT /resource_classes/{name}", Denied, ""),
    ("placement", "DELETE /resource_classes/{name}", Denied, ""),
    ("placement", "GET /traits", Denied, ""),
    ("placement", "GET /traits/{name}", Denied, ""),
    ("placement", "PUT /traits/{name}", Denied, ""),
    ("placement", "DELETE /traits/{name}", Denied, ""),
    // ---- compute: discovery, public flavors, one's own keypairs, servers and groups
    ("compute_api", "GET /", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/extensions", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/extensions/{alias}", Allowed(&[404]), ""),
    ("compute_api", "GET /v2.1/flavors", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/flavors/detail", Allowed(&[200]), ""),
    ("compute_api", "POST /v2.1/flavors", Denied, r#"{"flavor": {"name": "{new}", "ram": 64, "vcpus": 1, "disk": 1}}"#),
    // the admin's private flavor is hidden; changing flavors is the admin's
    ("compute_api", "GET /v2.1/flavors/{id}", Hidden, ""),
    ("compute_api", "PUT /v2.1/flavors/{id}", Denied, r#"{"flavor": {"description": "x"}}"#),
    ("compute_api", "DELETE /v2.1/flavors/{id}", Denied, ""),
    ("compute_api", "GET /v2.1/flavors/{id}/os-extra_specs", Hidden, ""),
    ("compute_api", "POST /v2.1/flavors/{id}/os-extra_specs", Denied, r#"{"extra_specs": {"k": "v"}}"#),
    ("compute_api", "GET /v2.1/flavors/{id}/os-extra_specs/{key}", Hidden, ""),
    ("compute_api", "PUT /v2.1/flavors/{id}/os-extra_specs/{key}", Denied, r#"{"vkey": "v"}"#),
    ("compute_api", "DELETE /v2.1/flavors/{id}/os-extra_specs/{key}", Denied, ""),
    ("compute_api", "GET /v2.1/flavors/{id}/os-flavor-access", Denied, ""),
    ("compute_api", "POST /v2.1/flavors/{id}/action", Denied, r#"{"addTenantAccess": {"tenant": "{caller_project}"}}"#),
    ("compute_api", "GET /v2.1/os-keypairs", Allowed(&[200]), ""),
    ("compute_api", "POST /v2.1/os-keypairs", CreatesOwn(200), r#"{"keypair": {"name": "{new}"}}"#),
    ("compute_api", "GET /v2.1/os-keypairs/{name}", Hidden, ""),
    ("compute_api", "DELETE /v2.1/os-keypairs/{name}", Hidden, ""),
    ("compute_api", "GET /v2.1/servers", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/servers/detail", Allowed(&[200]), ""),
    // booting from the victim's private image: not found, so a 400
    ("compute_api", "POST /v2.1/servers", Allowed(&[400]), r#"{"server": {"name": "{new}", "imageRef": "{image}", "flavorRef": "1"}}"#),
    ("compute_api", "GET /v2.1/os-server-groups", Allowed(&[200]), ""),
    ("compute_api", "POST /v2.1/os-server-groups", CreatesOwn(200), r#"{"server_group": {"name": "{new}", "policies": ["affinity"]}}"#),
    ("compute_api", "GET /v2.1/limits", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/os-availability-zone", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/os-quota-sets/{project}/defaults", Allowed(&[200]), ""),
    // ---- compute: the victim's server, its parts, its group are hidden
    ("compute_api", "GET /v2.1/servers/{id}", Hidden, ""),
    ("compute_api", "PUT /v2.1/servers/{id}", Hidden, r#"{"server": {"name": "x"}}"#),
    ("compute_api", "DELETE /v2.1/servers/{id}", Hidden, ""),
    ("compute_api", "POST /v2.1/servers/{id}/action", Hidden, r#"{"os-stop": null}"#),
    ("compute_api", "POST /v2.1/servers/{id}/remote-consoles", Hidden, r#"{"remote_console": {"protocol": "vnc", "type": "novnc"}}"#),
    ("compute_api", "GET /v2.1/servers/{id}/metadata", Hidden, ""),
    ("compute_api", "POST /v2.1/servers/{id}/metadata", Hidden, r#"{"metadata": {"k": "v"}}"#),
    ("compute_api", "PUT /v2.1/servers/{id}/metadata", Hidden, r#"{"metadata": {"k": "v"}}"#),
    ("compute_api", "GET /v2.1/servers/{id}/metadata/{key}", Hidden, ""),
    ("compute_api", "PUT /v2.1/servers/{id}/metadata/{key}", Hidden, r#"{"meta": {"vkey": "v"}}"#),
    ("compute_api", "DELETE /v2.1/servers/{id}/metadata/{key}", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/os-server-password", Hidden, ""),
    ("compute_api", "DELETE /v2.1/servers/{id}/os-server-password", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/tags", Hidden, ""),
    ("compute_api", "PUT /v2.1/servers/{id}/tags", Hidden, r#"{"tags": ["x"]}"#),
    ("compute_api", "DELETE /v2.1/servers/{id}/tags", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/tags/{tag}", Hidden, ""),
    ("compute_api", "PUT /v2.1/servers/{id}/tags/{tag}", Hidden, ""),
    ("compute_api", "DELETE /v2.1/servers/{id}/tags/{tag}", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/os-instance-actions", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/os-instance-actions/{request}", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/os-interface", Hidden, ""),
    ("compute_api", "POST /v2.1/servers/{id}/os-interface", Hidden, r#"{"interfaceAttachment": {"port_id": "{port}"}}"#),
    ("compute_api", "GET /v2.1/servers/{id}/os-interface/{port}", Hidden, ""),
    ("compute_api", "DELETE /v2.1/servers/{id}/os-interface/{port}", Hidden, ""),
    ("compute_api", "GET /v2.1/servers/{id}/os-security-groups", Hidden, ""),
    ("compute_api", "GET /v2.1/os-server-groups/{id}", Hidden, ""),
    ("compute_api", "DELETE /v2.1/os-server-groups/{id}", Hidden, ""),
    // ---- compute: quotas, usage, hosts and aggregates are the admin's
    ("compute_api", "GET /v2.1/os-quota-sets/{project}", Denied, ""),
    ("compute_api", "PUT /v2.1/os-quota-sets/{project}", Denied, r#"{"quota_set": {"instances": 50}}"#),
    ("compute_api", "DELETE /v2.1/os-quota-sets/{project}", Denied, ""),
    ("compute_api", "GET /v2.1/os-quota-sets/{project}/detail", Denied, ""),
    ("compute_api", "GET /v2.1/os-simple-tenant-usage", Denied, ""),
    ("compute_api", "GET /v2.1/os-simple-tenant-usage/{project}", Denied, ""),
    ("compute_api", "GET /v2.1/os-availability-zone/detail", Denied, ""),
    ("compute_api", "GET /v2.1/os-services", Denied, ""),
    ("compute_api", "PUT /v2.1/os-services/{id}", Denied, r#"{"host": "host1", "binary": "nova-compute"}"#),
    ("compute_api", "DELETE /v2.1/os-services/{id}", Denied, ""),
    ("compute_api", "GET /v2.1/os-hypervisors", Denied, ""),
    ("compute_api", "GET /v2.1/os-hypervisors/detail", Denied, ""),
    ("compute_api", "GET /v2.1/os-hypervisors/statistics", Denied, ""),
    ("compute_api", "GET /v2.1/os-hypervisors/{id}", Denied, ""),
    ("compute_api", "GET /v2.1/os-aggregates", Denied, ""),
    ("compute_api", "POST /v2.1/os-aggregates", Denied, r#"{"aggregate": {"name": "{new}"}}"#),
    ("compute_api", "GET /v2.1/os-aggregates/{id}", Denied, ""),
    ("compute_api", "PUT /v2.1/os-aggregates/{id}", Denied, r#"{"aggregate": {"name": "x"}}"#),
    ("compute_api", "DELETE /v2.1/os-aggregates/{id}", Denied, ""),
    ("compute_api", "POST /v2.1/os-server-external-events", Denied, r#"{"events": [{"name": "network-changed", "server_uuid": "6b1d3c2e-1f7a-4c55-9d3e-2a4b5c6d7e8f"}]}"#),
    ("compute_api", "POST /v2.1/os-aggregates/{id}/action", Denied, r#"{"add_host": {"host": "host1"}}"#),
    // ---- compute: the network proxies (below 2.36) pass the caller's token to Neutron
    ("compute_api", "GET /v2.1/os-security-groups", Allowed(&[200]), ""),
    ("compute_api", "POST /v2.1/os-security-groups", CreatesOwn(200), r#"{"security_group": {"name": "{new}", "description": "x"}}"#),
    ("compute_api", "GET /v2.1/os-security-groups/{id}", Hidden, ""),
    ("compute_api", "PUT /v2.1/os-security-groups/{id}", Hidden, r#"{"security_group": {"name": "x", "description": "y"}}"#),
    ("compute_api", "DELETE /v2.1/os-security-groups/{id}", Hidden, ""),
    ("compute_api", "POST /v2.1/os-security-group-rules", Denied,
        r#"{"security_group_rule": {"parent_group_id": "{security_group}", "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}}"#),
    ("compute_api", "DELETE /v2.1/os-security-group-rules/{id}", Denied, ""),
    ("compute_api", "GET /v2.1/os-floating-ips", Allowed(&[200]), ""),
    ("compute_api", "POST /v2.1/os-floating-ips", Denied, r#"{"pool": "no-such-pool"}"#),
    ("compute_api", "GET /v2.1/os-floating-ips/{id}", Hidden, ""),
    ("compute_api", "DELETE /v2.1/os-floating-ips/{id}", Hidden, ""),
    ("compute_api", "GET /v2.1/os-tenant-networks", Allowed(&[200]), ""),
    ("compute_api", "GET /v2.1/os-tenant-networks/{id}", Hidden, ""),
    // ---- metadata: the EC2 versions to anyone; an instance's content only to a
    // request the proxy signed (a token without a signed X-Instance-ID: 400)
    ("metadata", "GET /", Allowed(&[200]), ""),
    ("metadata", "POST /", Allowed(&[200]), ""),
    ("metadata", "PUT /", Allowed(&[200]), ""),
    ("metadata", "PATCH /", Allowed(&[200]), ""),
    ("metadata", "DELETE /", Allowed(&[200]), ""),
    ("metadata", "GET /{*path}", Allowed(&[400]), ""),
    ("metadata", "POST /{*path}", Allowed(&[400]), "c2VjcmV0"),
    ("metadata", "PUT /{*path}", Allowed(&[400]), ""),
    ("metadata", "PATCH /{*path}", Allowed(&[400]), ""),
    ("metadata", "DELETE /{*path}", Allowed(&[400]), ""),
    // ---- novncproxy: noVNC's pages (404 where noVNC is not installed); a websocket
    // opens only with a console token
    ("novncproxy", "GET /", Allowed(&[200, 404]), ""),
    ("novncproxy", "GET /websockify", Allowed(&[200, 404]), ""),
    ("novncproxy", "GET /{*file}", Allowed(&[200, 404]), ""),
    // ---- volume: discovery; types (admins manage them; a private type is hidden)
    ("volume", "GET /", Allowed(&[300]), ""),
    ("volume", "GET /v3", Allowed(&[200]), ""),
    ("volume", "GET /v3/", Allowed(&[200]), ""),
    ("volume", "GET /v3/{project_id}/types", Allowed(&[200]), ""),
    ("volume", "POST /v3/{project_id}/types", Denied, r#"{"volume_type": {"name": "{new}"}}"#),
    ("volume", "GET /v3/{project_id}/types/{id}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/types/{id}", Denied, r#"{"volume_type": {"description": "x"}}"#),
    ("volume", "DELETE /v3/{project_id}/types/{id}", Denied, ""),
    ("volume", "GET /v3/{project_id}/types/{id}/extra_specs", Hidden, ""),
    ("volume", "POST /v3/{project_id}/types/{id}/extra_specs", Denied, r#"{"extra_specs": {"a": "b"}}"#),
    ("volume", "GET /v3/{project_id}/types/{id}/extra_specs/{key}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/types/{id}/extra_specs/{key}", Denied, r#"{"vkey": "x"}"#),
    ("volume", "DELETE /v3/{project_id}/types/{id}/extra_specs/{key}", Denied, ""),
    ("volume", "GET /v3/{project_id}/types/{id}/os-volume-type-access", Denied, ""),
    ("volume", "POST /v3/{project_id}/types/{id}/action", Denied, r#"{"addProjectAccess": {"project": "{caller_project}"}}"#),
    // ---- volume: volumes and snapshots of the victim are hidden; lists show one's own
    ("volume", "GET /v3/{project_id}/volumes", Allowed(&[200]), ""),
    ("volume", "GET /v3/{project_id}/volumes/detail", Allowed(&[200]), ""),
    // from the victim's snapshot: not found
    ("volume", "POST /v3/{project_id}/volumes", Hidden, r#"{"volume": {"size": 1, "snapshot_id": "{snapshot}"}}"#),
    ("volume", "GET /v3/{project_id}/volumes/{id}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/volumes/{id}", Hidden, r#"{"volume": {"name": "x"}}"#),
    ("volume", "DELETE /v3/{project_id}/volumes/{id}", Hidden, ""),
    ("volume", "POST /v3/{project_id}/volumes/{id}/action", Hidden, r#"{"os-extend": {"new_size": 5}}"#),
    ("volume", "GET /v3/{project_id}/volumes/{id}/metadata", Hidden, ""),
    ("volume", "POST /v3/{project_id}/volumes/{id}/metadata", Hidden, r#"{"metadata": {"a": "b"}}"#),
    ("volume", "PUT /v3/{project_id}/volumes/{id}/metadata", Hidden, r#"{"metadata": {"a": "b"}}"#),
    ("volume", "GET /v3/{project_id}/volumes/{id}/metadata/{key}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/volumes/{id}/metadata/{key}", Hidden, r#"{"meta": {"vkey": "x"}}"#),
    ("volume", "DELETE /v3/{project_id}/volumes/{id}/metadata/{key}", Hidden, ""),
    ("volume", "GET /v3/{project_id}/snapshots", Allowed(&[200]), ""),
    ("volume", "GET /v3/{project_id}/snapshots/detail", Allowed(&[200]), ""),
    ("volume", "POST /v3/{project_id}/snapshots", Hidden, r#"{"snapshot": {"volume_id": "{volume}"}}"#),
    ("volume", "GET /v3/{project_id}/snapshots/{id}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/snapshots/{id}", Hidden, r#"{"snapshot": {"name": "x"}}"#),
    ("volume", "DELETE /v3/{project_id}/snapshots/{id}", Hidden, ""),
    ("volume", "GET /v3/{project_id}/snapshots/{id}/metadata", Hidden, ""),
    ("volume", "POST /v3/{project_id}/snapshots/{id}/metadata", Hidden, r#"{"metadata": {"a": "b"}}"#),
    ("volume", "PUT /v3/{project_id}/snapshots/{id}/metadata", Hidden, r#"{"metadata": {"a": "b"}}"#),
    ("volume", "GET /v3/{project_id}/snapshots/{id}/metadata/{key}", Hidden, ""),
    ("volume", "PUT /v3/{project_id}/snapshots/{id}/metadata/{key}", Hidden, r#"{"meta": {"vkey": "x"}}"#),
    ("volume", "DELETE /v3/{project_id}/snapshots/{id}/metadata/{key}", Hidden, ""),
    // ---- volume: the victim's quotas; one's own limits, the zones; services to admins
    ("volume", "GET /v3/{project_id}/os-quota-sets/{project}", Denied, ""),
    ("volume", "PUT /v3/{project_id}/os-quota-sets/{project}", Denied, r#"{"quota_set": {"volumes": 5}}"#),
    ("volume", "DELETE /v3/{project_id}/os-quota-sets/{project}", Denied, ""),
    ("volume", "GET /v3/{project_id}/os-quota-sets/{project}/defaults", Denied, ""),
    ("volume", "GET /v3/{project_id}/limits", Allowed(&[200]), ""),
    ("volume", "GET /v3/{project_id}/os-availability-zone", Allowed(&[200]), ""),
    ("volume", "GET /v3/{project_id}/os-services", Denied, ""),
    // ---- object: the victim's account (AUTH_<its project>) belongs to its project's
    // members; a stranger's token is refused (403) whether the container exists or not
    ("object", "GET /info", Allowed(&[200]), ""),
    ("object", "GET /v1/{account}", Denied, ""),
    ("object", "POST /v1/{account}", Denied, ""),
    ("object", "GET /v1/{account}/{container}", Denied, ""),
    ("object", "PUT /v1/{account}/{container}", Denied, ""),
    ("object", "POST /v1/{account}/{container}", Denied, ""),
    ("object", "DELETE /v1/{account}/{container}", Denied, ""),
    ("object", "GET /v1/{account}/{container}/{*object}", Denied, ""),
    ("object", "PUT /v1/{account}/{container}/{*object}", Denied, "data"),
    ("object", "POST /v1/{account}/{container}/{*object}", Denied, ""),
    ("object", "DELETE /v1/{account}/{container}/{*object}", Denied, ""),
];

/// The image routes again, aimed at images of the victim the stranger can see: a public
/// one (third column), and a shared one of which the stranger's project is an accepted
/// member (fourth column; `{member_id}` is then the stranger's project). It sees them,
/// answers for its own membership, and changes nothing else. Every route on an image
/// needs an entry here too.
#[rustfmt::skip]
const VISIBLE: &[(&str, &str, Stranger, Stranger)] = &[
    ("image", "GET /v2/images/{id}", Allowed(&[200]), Allowed(&[200])),
    ("image", "PATCH /v2/images/{id}", Denied, Denied),
    ("image", "DELETE /v2/images/{id}", Denied, Denied),
    ("image", "PUT /v2/images/{id}/file", Denied, Denied),
    // no data yet
    ("image", "GET /v2/images/{id}/file", Allowed(&[204]), Allowed(&[204])),
    ("image", "PUT /v2/images/{id}/stage", Denied, Denied),
    ("image", "POST /v2/images/{id}/import", Denied, Denied),
    ("image", "POST /v2/images/{id}/actions/deactivate", Denied, Denied),
    ("image", "POST /v2/images/{id}/actions/reactivate", Denied, Denied),
    ("image", "PUT /v2/images/{id}/tags/{tag}", Denied, Denied),
    ("image", "DELETE /v2/images/{id}/tags/{tag}", Denied, Denied),
    // a member sees its own membership, and accepts or rejects it
    ("image", "GET /v2/images/{id}/members", Denied, Allowed(&[200])),
    ("image", "POST /v2/images/{id}/members", Denied, Denied),
    ("image", "GET /v2/images/{id}/members/{member_id}", Denied, Allowed(&[200])),
    ("image", "PUT /v2/images/{id}/members/{member_id}", Denied, Allowed(&[200])),
    ("image", "DELETE /v2/images/{id}/members/{member_id}", Denied, Denied),
];

const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The victim's resources, made by the admin, and the stranger.
struct Fixture {
    victim: Member,
    group: String,
    role: String,
    implied: String,
    admin_role: String,
    app_cred: String,
    region: String,
    service: String,
    endpoint: String,
    image: String,
    shared_image: String,
    /// A public image of the victim's project: every user sees it.
    public_image: String,
    /// A shared image of the victim's project, accepted by the stranger's project.
    caller_image: String,
    /// A project the shared image is shared with.
    image_member: String,
    network: String,
    subnet: String,
    port: String,
    security_group: String,
    rule: String,
    router: String,
    floating_ip: String,
    qos_policy: String,
    qos_rule: String,
    rbac: String,
    subnet_pool: String,
    address_scope: String,
    /// A resource provider with inventory and an allocation of the victim's project.
    provider: String,
    consumer: String,
    custom_class: String,
    custom_trait: String,
    /// The admin's private flavor, the victim's server, keypair and server group.
    flavor: String,
    server: String,
    server_request: String,
    keypair: String,
    server_group: String,
    /// The victim's volume (with metadata `vkey`) and its snapshot; a private volume
    /// type shared with the victim's project (extra spec `vkey`).
    volume: String,
    snapshot: String,
    volume_type: String,
    /// The victim's Swift account, with its container `vcontainer` holding `vobject`.
    swift_account: String,
    stranger: Member,
}

impl Fixture {
    async fn make(tc: &TestCloud) -> Fixture {
        let admin = tc.admin_token().await;
        let domain = tc
            .create(
                &admin,
                "/v3/domains",
                json!({"domain": {"name": unique("victim")}}),
            )
            .await;
        let victim = tc.new_member_in(&domain).await;
        let group = tc
            .create(
                &admin,
                "/v3/groups",
                json!({"group": {"name": unique("group"), "domain_id": domain}}),
            )
            .await;
        let member_role = tc.role_id("member").await;
        let admin_role = tc.role_id("admin").await;
        for path in [
            format!("/v3/groups/{group}/users/{}", victim.user_id),
            format!(
                "/v3/projects/{}/groups/{group}/roles/{member_role}",
                victim.project_id
            ),
            format!(
                "/v3/domains/{domain}/users/{}/roles/{member_role}",
                victim.user_id
            ),
            format!("/v3/domains/{domain}/groups/{group}/roles/{member_role}"),
        ] {
            ok(
                tc.call("identity", Method::PUT, &path, Some(&admin), None)
                    .await,
                &path,
            );
        }
        let role = tc
            .create(
                &admin,
                "/v3/roles",
                json!({"role": {"name": unique("role")}}),
            )
            .await;
        let implied = tc
            .create(
                &admin,
                "/v3/roles",
                json!({"role": {"name": unique("role")}}),
            )
            .await;
        let path = format!("/v3/roles/{role}/implies/{implied}");
        ok(
            tc.call("identity", Method::PUT, &path, Some(&admin), None)
                .await,
            &path,
        );
        let path = format!("/v3/projects/{}/tags/vtag", victim.project_id);
        ok(
            tc.call("identity", Method::PUT, &path, Some(&admin), None)
                .await,
            &path,
        );
        let app_cred = tc
            .create(
                &victim.token,
                &format!("/v3/users/{}/application_credentials", victim.user_id),
                json!({"application_credential": {"name": unique("ac")}}),
            )
            .await;
        let region = tc
            .create(
                &admin,
                "/v3/regions",
                json!({"region": {"id": unique("region")}}),
            )
            .await;
        let service = tc
            .create(
                &admin,
                "/v3/services",
                json!({"service": {"type": "victim", "name": unique("svc")}}),
            )
            .await;
        let endpoint = tc
            .create(
                &admin,
                "/v3/endpoints",
                json!({"endpoint": {"interface": "public", "url": "http://victim.example",
                    "service_id": service, "region_id": region}}),
            )
            .await;
        let image_member = tc.new_member().await.project_id;
        let image = new_image(tc, &victim.token, json!({"visibility": "private"}), &[]).await;
        let shared_image = new_image(
            tc,
            &victim.token,
            json!({"visibility": "shared"}),
            &[&image_member],
        )
        .await;
        let public_image = new_image(
            tc,
            &admin,
            json!({"visibility": "public", "owner": victim.project_id}),
            &[],
        )
        .await;
        let stranger = tc.new_member().await;
        let caller_image = new_image(
            tc,
            &victim.token,
            json!({"visibility": "shared"}),
            &[&stranger.project_id],
        )
        .await;
        let path = format!("/v2/images/{caller_image}/members/{}", stranger.project_id);
        let r = tc
            .call(
                "image",
                Method::PUT,
                &path,
                Some(&stranger.token),
                Some(json!({"status": "accepted"})),
            )
            .await;
        ok(r, &path);
        let network = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/networks",
                json!({"network": {"name": unique("net"), "tags": ["vtag"]}}),
            )
            .await;
        let subnet = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/subnets",
                json!({"subnet": {"network_id": network, "cidr": "10.98.0.0/24", "ip_version": 4}}),
            )
            .await;
        let port = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/ports",
                json!({"port": {"network_id": network}}),
            )
            .await;
        let security_group = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/security-groups",
                json!({"security_group": {"name": unique("sg")}}),
            )
            .await;
        let rule = tc
            .create_in("network", &victim.token, "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": security_group, "direction": "ingress", "protocol": "icmp"}}))
            .await;
        // An external network (the admin's), a router of the victim gatewayed to it with
        // an interface on the victim's subnet, and a floating IP of the victim.
        let public = tc
            .create_in("network", &admin, "/v2.0/networks",
                json!({"network": {"name": unique("ext"), "router:external": true, "provider:network_type": "flat", "provider:physical_network": unique("phys")}}))
            .await;
        tc.create_in(
            "network",
            &admin,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": public, "cidr": "198.51.100.0/24", "ip_version": 4}}),
        )
        .await;
        let router = tc
            .create_in("network", &victim.token, "/v2.0/routers",
                json!({"router": {"name": unique("r"), "external_gateway_info": {"network_id": public}}}))
            .await;
        let path = format!("/v2.0/routers/{router}/add_router_interface");
        ok(
            tc.call(
                "network",
                Method::PUT,
                &path,
                Some(&victim.token),
                Some(json!({"subnet_id": subnet})),
            )
            .await,
            &path,
        );
        let floating_ip = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/floatingips",
                json!({"floatingip": {"floating_network_id": public}}),
            )
            .await;
        // A QoS policy (the admin's, for the victim's project) with a rule, and an RBAC
        // policy sharing the victim's network with a third project.
        let qos_policy = tc
            .create_in(
                "network",
                &admin,
                "/v2.0/qos/policies",
                json!({"policy": {"name": unique("qos"), "project_id": victim.project_id}}),
            )
            .await;
        let qos_rule = tc
            .create_in(
                "network",
                &admin,
                &format!("/v2.0/qos/policies/{qos_policy}/bandwidth_limit_rules"),
                json!({"bandwidth_limit_rule": {"max_kbps": 1000}}),
            )
            .await;
        let rbac = tc
            .create_in("network", &victim.token, "/v2.0/rbac-policies",
                json!({"rbac_policy": {"object_type": "network", "object_id": network, "action": "access_as_shared", "target_tenant": image_member}}))
            .await;
        let address_scope = tc
            .create_in(
                "network",
                &victim.token,
                "/v2.0/address-scopes",
                json!({"address_scope": {"name": unique("scope"), "ip_version": 4}}),
            )
            .await;
        let subnet_pool = tc
            .create_in("network", &victim.token, "/v2.0/subnetpools",
                json!({"subnetpool": {"name": unique("pool"), "prefixes": ["10.210.0.0/16"], "address_scope_id": address_scope}}))
            .await;
        let (provider, consumer, custom_class, custom_trait) =
            placement_fixture(tc, &admin, &victim.project_id).await;
        let (flavor, server, server_request, keypair, server_group) =
            compute_fixture(tc, &admin, &victim, &network).await;
        let (volume, snapshot, volume_type) = volume_fixture(tc, &admin, &victim).await;
        let swift_account = object_fixture(tc, &victim).await;
        Fixture {
            volume,
            snapshot,
            volume_type,
            swift_account,
            provider,
            consumer,
            custom_class,
            custom_trait,
            flavor,
            server,
            server_request,
            keypair,
            server_group,
            victim,
            group,
            role,
            implied,
            admin_role,
            app_cred,
            region,
            service,
            endpoint,
            image,
            shared_image,
            public_image,
            caller_image,
            image_member,
            network,
            subnet,
            port,
            security_group,
            rule,
            router,
            floating_ip,
            qos_policy,
            qos_rule,
            rbac,
            subnet_pool,
            address_scope,
            stranger,
        }
    }

    /// The ids of the victim that no stranger of service `svc` may see. (Images show
    /// their owner: the victim's public image names the victim's project to all.)
    fn secrets(&self, svc: &str) -> Vec<&str> {
        let mut v = vec![
            &self.victim.user_id,
            &self.victim.domain_id,
            &self.victim.token,
            &self.group,
            &self.app_cred,
            &self.image,
            &self.shared_image,
            &self.network,
            &self.subnet,
            &self.port,
            &self.security_group,
            &self.rule,
            &self.router,
            &self.floating_ip,
            &self.qos_policy,
            &self.qos_rule,
            &self.rbac,
            &self.subnet_pool,
            &self.address_scope,
            &self.server,
            &self.server_group,
            &self.flavor,
            &self.volume,
            &self.snapshot,
            &self.volume_type,
        ];
        if svc != "image" {
            v.push(&self.victim.project_id);
        }
        v.into_iter().map(String::as_str).collect()
    }

    /// `path` with its parameters filled with the victim's ids (`target`: which image).
    fn path(&self, path: &str, target: Target) -> String {
        let segs: Vec<&str> = path.split('/').collect();
        let mut out = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            if !seg.starts_with('{') {
                out.push(seg.to_string());
                continue;
            }
            let prev = segs[i - 1];
            let v = match (prev, *seg) {
                ("domains", "{id}" | "{t}") => &self.victim.domain_id,
                ("projects", "{id}" | "{t}") => &self.victim.project_id,
                ("users", "{id}" | "{a}" | "{user}") => &self.victim.user_id,
                ("groups", "{id}" | "{a}") => &self.group,
                ("roles", "{id}") => &self.role,
                ("roles", "{r}") => &self.admin_role,
                ("implies", "{implied}") => &self.implied,
                ("application_credentials", "{ac}") => &self.app_cred,
                ("regions", "{id}") => &self.region,
                ("services", "{id}") => &self.service,
                ("endpoints", "{id}") => &self.endpoint,
                ("tags", "{tag}") => "vtag",
                ("images", "{id}") if target == Target::Public => &self.public_image,
                ("images", "{id}") if target == Target::SharedWithCaller => &self.caller_image,
                ("members", "{member_id}") if target == Target::SharedWithCaller => {
                    &self.stranger.project_id
                }
                ("images", "{id}") if path.contains("/members") => &self.shared_image,
                ("images", "{id}") => &self.image,
                ("members", "{member_id}") => &self.image_member,
                ("v2.0", "{collection}") => "networks",
                ("{collection}" | "networks", "{id}") => &self.network,
                ("subnets", "{id}") => &self.subnet,
                ("ports", "{id}") => &self.port,
                ("security-groups", "{id}") => &self.security_group,
                ("security-group-rules", "{id}") => &self.rule,
                ("routers", "{id}") => &self.router,
                ("policies", "{id}") => &self.qos_policy,
                ("bandwidth_limit_rules", "{rule}") => &self.qos_rule,
                ("rbac-policies", "{id}") => &self.rbac,
                ("subnetpools", "{id}") => &self.subnet_pool,
                ("address-scopes", "{id}") => &self.address_scope,
                ("floatingips", "{id}") => &self.floating_ip,
                ("port_forwardings", "{pf}") => "6b2a0b4e-0d7c-4b0e-9a57-2f4e8d7c1a12",
                ("quotas", "{project}") => &self.victim.project_id,
                ("agents", "{id}") => "6b2a0b4e-0d7c-4b0e-9a57-2f4e8d7c1a11",
                ("extensions", "{alias}") => "agent",
                ("resource_providers", "{uuid}") => &self.provider,
                ("inventories", "{resource_class}") => "VCPU",
                ("allocations", "{consumer_uuid}") => &self.consumer,
                ("resource_classes", "{name}") => &self.custom_class,
                ("traits", "{name}") => &self.custom_trait,
                ("flavors", "{id}") => &self.flavor,
                ("os-extra_specs", "{key}") => "vkey",
                ("os-keypairs", "{name}") => &self.keypair,
                ("servers", "{id}") => &self.server,
                ("metadata", "{key}") => "vkey",
                ("os-instance-actions", "{request}") => &self.server_request,
                ("os-interface", "{port}") => &self.port,
                ("os-server-groups", "{id}") => &self.server_group,
                ("os-quota-sets" | "os-simple-tenant-usage", "{project}") => {
                    &self.victim.project_id
                }
                ("os-services", "{id}") => "disable",
                ("os-hypervisors", "{id}") => "1",
                ("os-aggregates", "{id}") => "1",
                ("os-security-groups", "{id}") => &self.security_group,
                ("os-security-group-rules", "{id}") => &self.rule,
                ("os-floating-ips", "{id}") => &self.floating_ip,
                ("os-tenant-networks", "{id}") => &self.network,
                ("v3", "{project_id}") => &self.victim.project_id,
                ("volumes", "{id}") => &self.volume,
                ("snapshots", "{id}") => &self.snapshot,
                ("types", "{id}") => &self.volume_type,
                ("extra_specs", "{key}") => "vkey",
                ("", "{*path}") => "openstack/latest/meta_data.json",
                ("", "{*file}") => "vnc_auto.html",
                ("v1", "{account}") => &self.swift_account,
                ("{account}", "{container}") => "vcontainer",
                ("{container}", "{*object}") => "vobject",
                _ => panic!("no victim id for {seg} in {path}: add one to Fixture::path"),
            };
            out.push(v.to_string());
        }
        out.join("/")
    }

    /// A body template with the victim's (and the caller's) ids filled in.
    fn body(&self, template: &str) -> String {
        template
            .replace("{new}", &unique("new"))
            .replace("{caller_token}", &self.stranger.token)
            .replace("{caller_project}", &self.stranger.project_id)
            .replace("{project}", &self.victim.project_id)
            .replace("{domain}", &self.victim.domain_id)
            .replace("{service}", &self.service)
            .replace("{network}", &self.network)
            .replace("{security_group}", &self.security_group)
            .replace("{subnet}", &self.subnet)
            .replace("{port}", &self.port)
            .replace("{rp}", &self.provider)
            .replace("{rp_generation}", "2")
            .replace("{consumer}", &self.consumer)
            .replace("{image}", &self.image)
            .replace("{volume}", &self.volume)
            .replace("{snapshot}", &self.snapshot)
    }
}

/// Placement's victims: a provider with VCPUs (generation 2 after its inventory and the
/// allocation), an allocation of the victim's project on it, a custom class and trait.
async fn placement_fixture(
    tc: &TestCloud,
    admin: &str,
    project: &str,
) -> (String, String, String, String) {
    let call = |method: Method, path: String, body: Option<Value>| async move {
        let mut b = Request::builder()
            .method(method)
            .uri(&path)
            .header("x-auth-token", admin)
            .header("openstack-api-version", "placement 1.28");
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
        let r = tc.send("placement", b.body(body).expect("a request")).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text());
        r
    };
    let rp = call(
        Method::POST,
        "/resource_providers".into(),
        Some(json!({"name": unique("victim-rp")})),
    )
    .await
    .json()["uuid"]
        .as_str()
        .expect("a provider uuid")
        .to_owned();
    call(
        Method::PUT,
        format!("/resource_providers/{rp}/inventories"),
        Some(json!({"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}})),
    )
    .await;
    let consumer = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a".to_owned();
    call(
        Method::PUT,
        format!("/allocations/{consumer}"),
        Some(
            json!({"allocations": {rp.clone(): {"resources": {"VCPU": 1}}},
            "project_id": project, "user_id": "victim-user", "consumer_generation": null}),
        ),
    )
    .await;
    call(
        Method::POST,
        "/resource_classes".into(),
        Some(json!({"name": "CUSTOM_VICTIM"})),
    )
    .await;
    call(Method::PUT, "/traits/CUSTOM_VICTIM".into(), None).await;
    (rp, consumer, "CUSTOM_VICTIM".into(), "CUSTOM_VICTIM".into())
}

/// The victim's Swift account, with a container `vcontainer` and its object `vobject`.
async fn object_fixture(tc: &TestCloud, victim: &Member) -> String {
    let account = format!("AUTH_{}", victim.project_id);
    let path = format!("/v1/{account}/vcontainer");
    ok(
        tc.call("object", Method::PUT, &path, Some(&victim.token), None)
            .await,
        &path,
    );
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("{path}/vobject"))
        .header("x-auth-token", &victim.token)
        .header("content-length", "6")
        .body(Body::from("secret"))
        .expect("a valid request");
    let r = tc.send("object", req).await;
    assert!(
        r.status.is_success(),
        "{path}/vobject: {} {}",
        r.status,
        r.text()
    );
    account
}

/// A success, else panic with the answer.
/// The compute side of the victim: a private flavor of the admin (with an extra spec),
/// and the victim's keypair, server group and server (on an image with data, with
/// metadata; without compute hosts it ends in ERROR, which is fine here). Returns
/// (flavor, server, the server's create request id, keypair, server group).
/// A volume of the victim's (metadata `vkey`) with a snapshot (metadata `vkey`), both
/// available, and a private volume type shared with the victim's project (extra spec
/// `vkey`): (volume, snapshot, type).
async fn volume_fixture(tc: &TestCloud, admin: &str, victim: &Member) -> (String, String, String) {
    let base = format!("/v3/{}", victim.project_id);
    let post = |token: &str, path: String, body: Value| {
        let token = token.to_owned();
        async move {
            let r = tc
                .call("volume", Method::POST, &path, Some(&token), Some(body))
                .await;
            assert!(r.status.is_success(), "POST {path}: {}", r.text());
            r.json()
        }
    };
    let wait = |path: String, key: &'static str| async move {
        for _ in 0..300 {
            let r = tc
                .call("volume", Method::GET, &path, Some(&victim.token), None)
                .await;
            if r.json()[key]["status"] == "available" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{path} never became available");
    };
    let t = post(admin, format!("{base}/types"),
        json!({"volume_type": {"name": unique("vtype"), "os-volume-type-access:is_public": false, "extra_specs": {"vkey": "v"}}})).await;
    let volume_type = t["volume_type"]["id"]
        .as_str()
        .expect("a type id")
        .to_owned();
    let r = tc
        .call(
            "volume",
            Method::POST,
            &format!("{base}/types/{volume_type}/action"),
            Some(admin),
            Some(json!({"addProjectAccess": {"project": victim.project_id}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let v = post(&victim.token, format!("{base}/volumes"),
        json!({"volume": {"size": 1, "name": unique("vol"), "volume_type": volume_type, "metadata": {"vkey": "v"}}})).await;
    let volume = v["volume"]["id"].as_str().expect("a volume id").to_owned();
    wait(format!("{base}/volumes/{volume}"), "volume").await;
    let sn = post(
        &victim.token,
        format!("{base}/snapshots"),
        json!({"snapshot": {"volume_id": volume, "metadata": {"vkey": "v"}}}),
    )
    .await;
    let snapshot = sn["snapshot"]["id"]
        .as_str()
        .expect("a snapshot id")
        .to_owned();
    wait(format!("{base}/snapshots/{snapshot}"), "snapshot").await;
    (volume, snapshot, volume_type)
}

async fn compute_fixture(
    tc: &TestCloud,
    admin: &str,
    victim: &Member,
    network: &str,
) -> (String, String, String, String, String) {
    let nova = |token: &str, path: &str, body: Value| {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("x-auth-token", token)
            .header("content-type", "application/json")
            .header("openstack-api-version", "compute 2.64")
            .body(Body::from(body.to_string()))
            .expect("a valid request");
        let path = path.to_owned();
        async move {
            let r = tc.send("compute_api", req).await;
            assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text());
            r.json()
        }
    };
    let flavor = unique("flavor");
    nova(admin, "/v2.1/flavors", json!({"flavor": {"name": flavor, "id": flavor, "ram": 64, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": false}})).await;
    nova(
        admin,
        &format!("/v2.1/flavors/{flavor}/os-extra_specs"),
        json!({"extra_specs": {"vkey": "v"}}),
    )
    .await;
    nova(
        admin,
        &format!("/v2.1/flavors/{flavor}/action"),
        json!({"addTenantAccess": {"tenant": victim.project_id}}),
    )
    .await;
    let keypair = unique("key");
    nova(
        &victim.token,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": keypair}}),
    )
    .await;
    let group = nova(
        &victim.token,
        "/v2.1/os-server-groups",
        json!({"server_group": {"name": unique("group"), "policy": "affinity"}}),
    )
    .await;
    let group = group["server_group"]["id"].as_str().unwrap().to_owned();
    let image = new_image(tc, &victim.token, json!({"visibility": "private"}), &[]).await;
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v2/images/{image}/file"))
        .header("x-auth-token", &victim.token)
        .header("content-type", "application/octet-stream")
        .body(Body::from(vec![0u8; 512]))
        .expect("a valid request");
    let r = tc.send("image", req).await;
    assert!(r.status.is_success(), "upload: {} {}", r.status, r.text());
    let server = nova(
        &victim.token,
        "/v2.1/servers",
        json!({
            "server": {"name": unique("server"), "imageRef": image, "flavorRef": flavor,
                       "networks": [{"uuid": network}], "metadata": {"vkey": "v"}},
            "os:scheduler_hints": {"group": group},
        }),
    )
    .await;
    let server = server["server"]["id"].as_str().unwrap().to_owned();
    // its boot settles (no host here: ERROR) before the walk compares the database
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = tc
            .call(
                "compute_api",
                Method::GET,
                &format!("/v2.1/servers/{server}"),
                Some(&victim.token),
                None,
            )
            .await;
        if r.json()["server"]["status"] != "BUILD" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the victim's server stays in BUILD"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = tc
        .call(
            "compute_api",
            Method::GET,
            &format!("/v2.1/servers/{server}/os-instance-actions"),
            Some(&victim.token),
            None,
        )
        .await;
    let request = r.json()["instanceActions"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (flavor, server, request, keypair, group)
}

/// The microversion a route is walked at: placement's every route at its latest (each
/// reaches its policy check); compute's at 2.1 (the table's bodies are 2.1's) except the
/// routes that exist only later.
fn microversion(svc: &str, method: &Method, path: &str) -> Option<&'static str> {
    const LATER: &[(&str, Method, &str, &str)] = &[(
        "compute_api",
        Method::PUT,
        "/v2.1/flavors/{id}",
        "compute 2.55",
    )];
    if svc == "placement" {
        return Some("placement latest");
    }
    LATER
        .iter()
        .find(|(s, m, p, _)| *s == svc && m == method && *p == path)
        .map(|(.., v)| *v)
}

fn ok(r: test_support::Resp, what: &str) {
    assert!(r.status.is_success(), "{what}: {} {}", r.status, r.text());
}

/// An image with `attrs` (a shared one with `members`), tagged `vtag`.
async fn new_image(tc: &TestCloud, token: &str, attrs: Value, members: &[&str]) -> String {
    let mut body = json!({"name": unique("img"), "tags": ["vtag"],
        "disk_format": "raw", "container_format": "bare"});
    if let (Some(b), Some(a)) = (body.as_object_mut(), attrs.as_object()) {
        b.extend(a.clone());
    }
    let r = tc
        .call("image", Method::POST, "/v2/images", Some(token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    for m in members {
        let r = tc
            .call(
                "image",
                Method::POST,
                &format!("/v2/images/{id}/members"),
                Some(token),
                Some(json!({"member": m})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    id
}

/// A request of the walk: the victim's token as the subject of token routes, and the
/// content type each body needs.
fn request(fx: &Fixture, probe: &Probe, token: Option<&str>, body: &str) -> Request<Body> {
    let (method, path) = (&probe.method, probe.path);
    let mut b = Request::builder()
        .method(method.clone())
        .uri(fx.path(path, probe.target));
    if let Some(t) = token {
        b = b.header("x-auth-token", t);
    }
    if path == "/v3/auth/tokens" {
        b = b.header("x-subject-token", &fx.victim.token);
    }
    if let Some(v) = microversion(probe.svc, method, path) {
        b = b.header("openstack-api-version", v);
    }
    if !body.is_empty() {
        let ctype = if body == "data" {
            "application/octet-stream"
        } else if path.starts_with("/v2/images/") && *method == Method::PATCH {
            "application/openstack-images-v2.1-json-patch"
        } else {
            "application/json"
        };
        b = b.header("content-type", ctype);
    }
    b.body(Body::from(fx.body(body))).expect("a valid request")
}

fn key(method: &Method, path: &str) -> String {
    format!("{method} {path}")
}

/// The entry of a route in `table` (HEAD follows GET).
fn lookup<T: Copy>(
    table: &[(&str, &str, Stranger, T)],
    svc: &str,
    method: &Method,
    path: &str,
) -> Option<(Stranger, T)> {
    let find = |m: &Method| {
        table
            .iter()
            .find(|(s, k, _, _)| *s == svc && *k == key(m, path))
            .map(|(_, _, st, b)| (*st, *b))
    };
    find(method).or_else(|| {
        (*method == Method::HEAD)
            .then(|| find(&Method::GET))
            .flatten()
    })
}

fn is_public(svc: &str, method: &Method, path: &str) -> bool {
    let is = |m: &Method| PUBLIC.contains(&(svc, key(m, path).as_str()));
    is(method) || (*method == Method::HEAD && is(&Method::GET))
}

/// The ids in an answer's resource (top level, or one level down), for CreatesOwn.
fn created_ids(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(id) = v["id"].as_str() {
        out.push(id.to_owned());
    }
    if let Some(o) = v.as_object() {
        out.extend(
            o.values()
                .filter_map(|x| x["id"].as_str().map(str::to_owned)),
        );
    }
    out
}

/// Which image of the victim `{id}` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Its private image (its shared one, not shared with the caller, for members).
    Hidden,
    /// Its public image.
    Public,
    /// Its shared image of which the caller's project is an accepted member.
    SharedWithCaller,
}

/// One request of the walk.
struct Probe<'a> {
    svc: &'static str,
    method: Method,
    path: &'a str,
    target: Target,
}

impl Probe<'_> {
    fn route(&self) -> String {
        let on = match self.target {
            Target::Hidden => "",
            Target::Public => " (a public image)",
            Target::SharedWithCaller => " (an image shared with the caller)",
        };
        format!("{} {} {}{on}", self.svc, self.method, self.path)
    }
}

/// Whether a service renders its faults as Swift does.
fn swift(svc: &str) -> bool {
    SERVICES
        .iter()
        .any(|s| s.name() == svc && s.fault_style() == api_common::FaultStyle::Swift)
}

/// (a): no token, no body. `None` when the path has no such method (405).
async fn unauthenticated(
    tc: &TestCloud,
    fx: &Fixture,
    p: &Probe<'_>,
    failures: &mut Vec<String>,
) -> Option<()> {
    let r = tc.send(p.svc, request(fx, p, None, "")).await;
    if r.status == StatusCode::METHOD_NOT_ALLOWED {
        return None;
    }
    let route = p.route();
    if is_public(p.svc, &p.method, p.path) {
        if r.status.is_server_error() {
            failures.push(format!("{route}: {} without a token", r.status));
        }
    } else if r.status != StatusCode::UNAUTHORIZED {
        failures.push(format!("{route}: {} without a token, not 401", r.status));
    } else if p.method != Method::HEAD && swift(p.svc) {
        // Swift's keystoneauth answers with swob's page
        if !r.text().contains("<h1>Unauthorized</h1>") {
            failures.push(format!("{route}: the 401 is not Swift's: {}", r.text()));
        }
    } else if p.method != Method::HEAD
        && serde_json::from_slice::<Value>(&r.body).map_or(true, |v| v["error"]["code"] != 401)
    {
        // identity's and keystonemiddleware's (so image's) 401 is Keystone's fault
        failures.push(format!(
            "{route}: the 401 is not a fault of {}: {}",
            p.svc,
            r.text()
        ));
    }
    Some(())
}

/// (b): the stranger's request, checked against `want`.
async fn stranger(
    tc: &TestCloud,
    fx: &Fixture,
    p: &Probe<'_>,
    want: Stranger,
    body: &str,
    failures: &mut Vec<String>,
) {
    let route = p.route();
    let before = tc.fingerprint().await;
    let r = tc
        .send(p.svc, request(fx, p, Some(&fx.stranger.token), body))
        .await;
    let after = tc.fingerprint().await;
    let code = r.status.as_u16();
    let fine = match want {
        Denied => code == 403 || code == 404,
        Hidden => code == 404,
        Allowed(codes) => codes.contains(&code),
        CreatesOwn(c) => code == c,
    };
    let text = r.text();
    if !fine {
        let shown: String = text.chars().take(200).collect();
        failures.push(format!(
            "{route}: a stranger got {} ({want:?} expected): {shown}",
            r.status
        ));
    }
    // the public image shows its owner (the victim's project) to all, as Glance does
    if r.status.is_success() && p.target == Target::Hidden {
        for s in fx.secrets(p.svc) {
            if text.contains(s) {
                failures.push(format!(
                    "{route}: the answer to a stranger shows the victim's {s}"
                ));
            }
        }
    }
    let mut own = vec![fx.stranger.user_id.clone(), fx.stranger.project_id.clone()];
    if matches!(want, CreatesOwn(_)) {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            own.extend(created_ids(&v));
        }
    }
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let changed = changes(&before, &after, &own);
    if !changed.is_empty() {
        failures.push(format!(
            "{route}: a stranger's request ({}) changed the database: {}",
            r.status,
            changed.join("; ")
        ));
    }
}

async fn walk(engine: Engine) {
    let started = std::time::Instant::now();
    let tc = TestCloud::start_on(engine).await;
    let fx = Fixture::make(&tc).await;
    let mut failures = Vec::new();
    let mut walked = 0;
    for svc in SERVICES {
        let name = svc.name();
        let routes = tc.routes(name).to_vec();
        assert!(!routes.is_empty(), "{name} has no routes");
        let mut seen = BTreeSet::new();
        for path in &routes {
            for method in METHODS {
                let p = Probe {
                    svc: name,
                    method: method.clone(),
                    path,
                    target: Target::Hidden,
                };
                if unauthenticated(&tc, &fx, &p, &mut failures).await.is_none() {
                    continue;
                }
                seen.insert(key(&p.method, path));
                walked += 1;
                let Some((want, body)) = lookup(EXPECT, name, &p.method, path) else {
                    failures.push(format!(
                        "route {} has no authorization test: add it to EXPECT",
                        p.route()
                    ));
                    continue;
                };
                stranger(&tc, &fx, &p, want, body, &mut failures).await;
                if !path.starts_with("/v2/images/{id}") {
                    continue;
                }
                for target in [Target::Public, Target::SharedWithCaller] {
                    let p = Probe {
                        target,
                        method: p.method.clone(),
                        ..p
                    };
                    let want = lookup(VISIBLE, name, &p.method, path).map(|(public, shared)| {
                        (
                            if target == Target::Public {
                                public
                            } else {
                                shared
                            },
                            (),
                        )
                    });
                    match want {
                        Some((want, ())) => stranger(&tc, &fx, &p, want, body, &mut failures).await,
                        None => failures.push(format!(
                            "route {} has no authorization test: add it to VISIBLE",
                            p.route()
                        )),
                    }
                }
            }
        }
        // every entry of the tables is a route (so the tables do not rot)
        let named = EXPECT.iter().map(|(s, k, _, _)| (s, k));
        for (s, k) in named.chain(VISIBLE.iter().map(|(s, k, _, _)| (s, k))) {
            if *s == name && !seen.contains(*k) {
                failures.push(format!("the table names {name} {k}, which is no route"));
            }
        }
    }
    eprintln!(
        "walked {walked} routes of {} services on {engine:?} in {:.1?}",
        SERVICES.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} authorization failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_strangers_on_sqlite() {
    walk(Engine::Sqlite).await;
}

/// Without a server named by `OXISTACK_TEST_PG_URL` this fails under `scripts/test` and
/// CI (which start one) and, in a bare `cargo test`, says by name that it skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_strangers_on_postgres() {
    if !Engine::available().contains(&Engine::Postgres) {
        db::testing::missing(&format!(
            "no PostgreSQL: {} is not set",
            test_support::PG_URL_ENV
        ));
        return;
    }
    walk(Engine::Postgres).await;
}

/// The walk sees only what went through `api_common::routes::Routes`: no service source
/// builds an axum router (or adds routes to one) any other way.
#[test]
fn routers_are_built_only_through_the_route_table() {
    // The checkout whose tests run, not the one a reused test binary was built in.
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let crates = std::path::Path::new(&dir).join("..");
    let allowed = crates.join("api-common/src/routes.rs");
    let mut found = Vec::new();
    // the benchmarks serve bare baseline routes of their own, not a service's
    let mut dirs: Vec<_> = std::fs::read_dir(&crates)
        .expect("the crates directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.ends_with("bench"))
        .map(|p| p.join("src"))
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("api-common/src/routes.rs")
                && path != allowed
            {
                let text = std::fs::read_to_string(&path).expect("a source file");
                // a module's own unit tests may build a throwaway router
                let text = text.split("#[cfg(test)]").next().unwrap_or("");
                for bad in [
                    "Router::new(",
                    ".route_service(",
                    ".nest(",
                    ".nest_service(",
                ] {
                    if text.contains(bad) {
                        found.push(format!("{}: {bad}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "build routers with api_common::routes::Routes, so the authorization walk sees \
         every route:\n{}",
        found.join("\n")
    );
}
