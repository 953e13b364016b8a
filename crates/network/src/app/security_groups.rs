//! Security groups and their rules, and each project's `default` group (made on first
//! use, with Neutron's default rules: all egress, ingress from members of the group).

use serde::Deserialize;
use serde_json::json;
use types::{SecurityGroupId, SecurityGroupRuleId};

use super::{check_revision, target, Caller, Networking};
use crate::{
    ipam::invalid,
    model::{now, Direction, SecurityGroup, SecurityGroupRule},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/security-groups`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `PUT /v2.0/security-groups/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
}

/// `POST /v2.0/security-group-rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCreate {
    pub security_group_id: SecurityGroupId,
    pub direction: String,
    pub ethertype: Option<String>,
    pub protocol: Option<serde_json::Value>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<SecurityGroupId>,
    pub remote_address_group_id: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Security group {id} does not exist"))
        .with_code("SecurityGroupNotFound")
}

pub(super) fn rule_not_found(id: &str) -> Error {
    Error::not_found(format!("Security group rule {id} does not exist"))
        .with_code("SecurityGroupRuleNotFound")
}

/// Protocol names Neutron knows, with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("ipv6-encap", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("pgm", 113),
    ("ipip", 4),
    ("vrrp", 112),
    ("sctp", 132),
    ("dccp", 33),
    ("udplite", 136),
];

/// The IP protocol number of a rule's protocol (`None`: any).
pub fn protocol_number(p: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == p)
        .map(|(_, v)| *v)
        .or_else(|| p.parse().ok())
}

fn new_rule(
    group: &SecurityGroup,
    direction: Direction,
    ethertype: &str,
    remote_group: Option<SecurityGroupId>,
) -> SecurityGroupRule {
    let ts = now();
    SecurityGroupRule {
        id: SecurityGroupRuleId::generate(),
        project_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction,
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote_group,
        description: String::new(),
        revision: 1,
        created_at: ts.clone(),
        updated_at: ts,
    }
}

impl Networking {
    /// The project's `default` group, made on first use.
    pub async fn default_group(&self, project: &str) -> Result<SecurityGroupId> {
        let mut conn = self.conn().await?;
        if let Some(id) = store::default_group(&mut conn, project).await? {
            return Ok(id);
        }
        drop(conn);
        let ts = now();
        let mut g = SecurityGroup {
            id: SecurityGroupId::generate(),
            project_id: project.to_owned(),
            name: "default".into(),
            description: "Default security group".into(),
            stateful: true,
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            rules: Vec::new(),
            tags: Vec::new(),
        };
        g.rules = vec![
            new_rule(&g, Direction::Egress, "IPv4", None),
            new_rule(&g, Direction::Egress, "IPv6", None),
            new_rule(&g, Direction::Ingress, "IPv4", Some(g.id.clone())),
            new_rule(&g, Direction::Ingress, "IPv6", Some(g.id.clone())),
        ];
        let mut tx = self.db.begin_write().await?;
        store::insert_group(&mut tx, &g).await?;
        if store::claim_default_group(&mut tx, project, &g.id).await? {
            tx.commit().await?;
            return Ok(g.id);
        }
        // Another request made it first: use that one.
        drop(tx);
        let mut conn = self.conn().await?;
        store::default_group(&mut conn, project)
            .await?
            .ok_or_else(|| Error::internal("the default security group vanished"))
    }

    async fn visible_group(
        &self,
        caller: &Caller<'_>,
        id: &SecurityGroupId,
    ) -> Result<SecurityGroup> {
        let mut conn = self.conn().await?;
        let g = store::get_group(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetSecurityGroup, &target(&g.project_id, &[])) {
            return Err(not_found(id.as_str()));
        }
        Ok(g)
    }

    pub async fn group_show(
        &self,
        caller: &Caller<'_>,
        id: &SecurityGroupId,
    ) -> Result<SecurityGroup> {
        self.visible_group(caller, id).await
    }

    pub async fn group_list(&self, caller: &Caller<'_>) -> Result<Vec<SecurityGroup>> {
        if !caller.project().is_empty() {
            self.default_group(caller.project()).await?;
        }
        let mut conn = self.conn().await?;
        let groups = store::list_groups(&mut conn, caller.scope()).await?;
        Ok(groups
            .into_iter()
            .filter(|g| self.allowed(caller, Rule::GetSecurityGroup, &target(&g.project_id, &[])))
            .collect())
    }

    pub async fn group_create(
        &self,
        caller: &Caller<'_>,
        req: GroupCreate,
    ) -> Result<SecurityGroup> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        self.authorize(caller, Rule::CreateSecurityGroup, &target(&project, &[]))?;
        let name = req.name.unwrap_or_default();
        if name == "default" {
            // Make sure the real one exists; a second `default` is refused.
            self.default_group(&project).await?;
            return Err(Error::conflict("Default security group already exists.")
                .with_code("SecurityGroupDefaultAlreadyExists"));
        }
        self.default_group(&project).await?;
        self.check_quota(&project, "security_group", 1).await?;
        let ts = now();
        let mut g = SecurityGroup {
            id: SecurityGroupId::generate(),
            project_id: project,
            name,
            description: req.description.unwrap_or_default(),
            stateful: req.stateful.unwrap_or(true),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            rules: Vec::new(),
            tags: req.tags.unwrap_or_default(),
        };
        g.rules = vec![
            new_rule(&g, Direction::Egress, "IPv4", None),
            new_rule(&g, Direction::Egress, "IPv6", None),
        ];
        let mut tx = self.db.begin_write().await?;
        store::insert_group(&mut tx, &g).await?;
        tx.commit().await?;
        Ok(g)
    }

    pub async fn group_update(
        &self,
        caller: &Caller<'_>,
        id: &SecurityGroupId,
        req: GroupUpdate,
        if_match: Option<i64>,
    ) -> Result<SecurityGroup> {
        let mut g = self.visible_group(caller, id).await?;
        check_revision(if_match, g.revision)?;
        self.authorize(
            caller,
            Rule::UpdateSecurityGroup,
            &target(&g.project_id, &[]),
        )?;
        let revision = g.revision;
        if let Some(n) = req.name {
            if g.name == "default" && n != "default" {
                return Err(
                    Error::conflict("Updating default security group not allowed.")
                        .with_code("SecurityGroupCannotUpdateDefault"),
                );
            }
            g.name = n;
        }
        if let Some(d) = req.description {
            g.description = d;
        }
        if let Some(s) = req.stateful {
            g.stateful = s;
        }
        g.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_group(&mut conn, &g, revision).await? {
            return Err(super::revision_mismatch());
        }
        g.revision = revision + 1;
        self.changed();
        Ok(g)
    }

    pub async fn group_delete(&self, caller: &Caller<'_>, id: &SecurityGroupId) -> Result<()> {
        let g = self.visible_group(caller, id).await?;
        self.authorize(
            caller,
            Rule::DeleteSecurityGroup,
            &target(&g.project_id, &[]),
        )?;
        let mut tx = self.db.begin_write().await?;
        if g.name == "default"
            && store::default_group(&mut tx, &g.project_id).await?.as_ref() == Some(id)
            && !caller.admin
        {
            return Err(
                Error::conflict("Removing default security group not allowed.")
                    .with_code("SecurityGroupCannotRemoveDefault"),
            );
        }
        if store::group_users(&mut tx, id).await? > 0 {
            return Err(Error::conflict(format!("Security Group {id} in use."))
                .with_code("SecurityGroupInUse"));
        }
        store::delete_group(&mut tx, id).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    async fn visible_rule(
        &self,
        caller: &Caller<'_>,
        id: &SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        let mut conn = self.conn().await?;
        let r = store::get_rule(&mut conn, id)
            .await?
            .ok_or_else(|| rule_not_found(id.as_str()))?;
        let group = store::get_group(&mut conn, &r.security_group_id).await?;
        let owner = group.map(|g| g.project_id).unwrap_or_default();
        let t = target(&r.project_id, &[("group_project_id", json!(owner))]);
        if !self.allowed(caller, Rule::GetSecurityGroupRule, &t) {
            return Err(rule_not_found(id.as_str()));
        }
        Ok(r)
    }

    pub async fn rule_show(
        &self,
        caller: &Caller<'_>,
        id: &SecurityGroupRuleId,
    ) -> Result<SecurityGroupRule> {
        self.visible_rule(caller, id).await
    }

    pub async fn rule_list(&self, caller: &Caller<'_>) -> Result<Vec<SecurityGroupRule>> {
        if !caller.project().is_empty() {
            self.default_group(caller.project()).await?;
        }
        let mut conn = self.conn().await?;
        store::list_rules(&mut conn, caller.scope()).await
    }

    pub async fn rule_create(
        &self,
        caller: &Caller<'_>,
        req: RuleCreate,
    ) -> Result<SecurityGroupRule> {
        let group = self.visible_group(caller, &req.security_group_id).await?;
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[("group_project_id", json!(group.project_id))]);
        self.authorize(caller, Rule::CreateSecurityGroupRule, &t)?;
        let rule = self.check_rule(&group, req).await?;
        if group.rules.iter().any(|r| same_rule(r, &rule)) {
            let existing = group
                .rules
                .iter()
                .find(|r| same_rule(r, &rule))
                .map(|r| r.id.to_string())
                .unwrap_or_default();
            return Err(Error::conflict(format!(
                "Security group rule already exists. Rule id is {existing}."
            ))
            .with_code("SecurityGroupRuleExists"));
        }
        self.check_quota(&group.project_id, "security_group_rule", 1)
            .await?;
        let mut tx = self.db.begin_write().await?;
        store::insert_rule(&mut tx, &rule).await?;
        store::touch(&mut tx, "security_groups", group.id.as_str()).await?;
        tx.commit().await?;
        self.changed();
        Ok(rule)
    }

    async fn check_rule(
        &self,
        group: &SecurityGroup,
        req: RuleCreate,
    ) -> Result<SecurityGroupRule> {
        let direction: Direction = req.direction.parse().map_err(|_| {
            invalid(format_args!(
                "'{}' is not in ['ingress', 'egress']",
                req.direction
            ))
        })?;
        let ethertype = req.ethertype.unwrap_or_else(|| "IPv4".into());
        let ethertype = match ethertype.to_ascii_lowercase().as_str() {
            "ipv4" => "IPv4",
            "ipv6" => "IPv6",
            _ => return Err(Error::bad_request(format!("Security group rule for ethertype '{ethertype}' not supported. Allowed values are ['IPv4', 'IPv6'].")).with_code("SecurityGroupRuleInvalidEtherType")),
        };
        let protocol = match req.protocol {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("any") => {
                None
            }
            Some(serde_json::Value::String(s)) => Some(s.to_ascii_lowercase()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(invalid(format_args!("'{other}' is not a protocol"))),
        };
        if let Some(p) = &protocol {
            match protocol_number(p) {
                Some(_) if p.parse::<i64>().map_or(true, |n| (0..=255).contains(&n)) => {}
                _ => return Err(Error::bad_request(format!("Security group rule protocol {p} not supported. Only protocol values [None, 'tcp', 'udp', 'icmp', ...] and integer representations [0 to 255] are supported.")).with_code("SecurityGroupRuleInvalidProtocol")),
            }
        }
        let port = |v: Option<i64>, what: &str| -> Result<Option<u16>> {
            v.map(|n| {
                u16::try_from(n).map_err(|_| {
                    Error::bad_request(format!("Invalid value for port {n}"))
                        .with_code("SecurityGroupInvalidPortValue")
                        .with_detail(what.to_owned())
                })
            })
            .transpose()
        };
        let min = port(req.port_range_min, "min")?;
        let max = port(req.port_range_max, "max")?;
        let number = protocol.as_deref().and_then(protocol_number);
        match number {
            Some(6) | Some(17) | Some(132) | Some(33) | Some(136) => {
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        return Err(Error::bad_request(
                            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                        )
                        .with_code("SecurityGroupInvalidPortRange"));
                    }
                }
                if min == Some(0) || max == Some(0) {
                    return Err(Error::bad_request("Invalid value for port 0")
                        .with_code("SecurityGroupInvalidPortValue"));
                }
            }
            Some(1) | Some(58) => {
                // For ICMP the "ports" are its type and code.
                if min.is_some_and(|t| t > 255) || max.is_some_and(|c| c > 255) {
                    return Err(Error::bad_request(format!("Invalid value for ICMP type or code: port_range_min {min:?}, port_range_max {max:?}")).with_code("SecurityGroupInvalidIcmpValue"));
                }
                if min.is_none() && max.is_some() {
                    return Err(Error::bad_request("ICMP code (port-range-max) is provided but ICMP type (port-range-min) is missing.").with_code("SecurityGroupMissingIcmpType"));
                }
            }
            _ => {
                if min.is_some() || max.is_some() {
                    return Err(Error::bad_request(format!(
                        "Port range is not supported for protocol {}: only TCP, UDP, SCTP, DCCP and UDP-Lite rules take ports, ICMP rules take a type and code",
                        protocol.as_deref().unwrap_or("any")
                    )).with_code("SecurityGroupInvalidProtocolForPortRange"));
                }
            }
        }
        let remote_ip_prefix = match req.remote_ip_prefix {
            None => None,
            Some(p) => {
                let net: ipnet::IpNet = p
                    .parse()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| invalid(format_args!("'{p}' is not a valid IP prefix")))?;
                if net.addr().is_ipv4() != (ethertype == "IPv4") {
                    return Err(Error::bad_request(format!(
                        "Conflicting value ethertype {ethertype} for CIDR {p}"
                    ))
                    .with_code("SecurityGroupRuleParameterConflict"));
                }
                Some(net.trunc())
            }
        };
        if remote_ip_prefix.is_some() && req.remote_group_id.is_some() {
            return Err(Error::bad_request(
                "Only remote_ip_prefix or remote_group_id may be provided.",
            )
            .with_code("SecurityGroupRemoteGroupAndRemoteIpPrefix"));
        }
        if req.remote_address_group_id.is_some() {
            return Err(invalid("remote_address_group_id is not supported"));
        }
        if let Some(rg) = &req.remote_group_id {
            let mut conn = self.conn().await?;
            match store::get_group(&mut conn, rg).await? {
                Some(g) if g.project_id == group.project_id => {}
                _ => return Err(not_found(rg.as_str())),
            }
        }
        let mut rule = new_rule(group, direction, ethertype, req.remote_group_id);
        rule.protocol = protocol;
        rule.port_range_min = min;
        rule.port_range_max = max;
        rule.remote_ip_prefix = remote_ip_prefix;
        rule.description = req.description.unwrap_or_default();
        Ok(rule)
    }

    pub async fn rule_delete(&self, caller: &Caller<'_>, id: &SecurityGroupRuleId) -> Result<()> {
        let r = self.visible_rule(caller, id).await?;
        let mut conn = self.conn().await?;
        let owner = store::get_group(&mut conn, &r.security_group_id)
            .await?
            .map(|g| g.project_id)
            .unwrap_or_default();
        let t = target(&r.project_id, &[("group_project_id", json!(owner))]);
        self.authorize(caller, Rule::DeleteSecurityGroupRule, &t)?;
        drop(conn);
        let mut tx = self.db.begin_write().await?;
        store::delete_rule(&mut tx, id).await?;
        store::touch(&mut tx, "security_groups", r.security_group_id.as_str()).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}

/// Two rules that match the same traffic.
fn same_rule(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    let proto = |r: &SecurityGroupRule| r.protocol.as_deref().and_then(protocol_number);
    a.direction == b.direction
        && a.ethertype == b.ethertype
        && proto(a) == proto(b)
        && a.port_range_min == b.port_range_min
        && a.port_range_max == b.port_range_max
        && a.remote_ip_prefix == b.remote_ip_prefix
        && a.remote_group_id == b.remote_group_id
}
