//! What Nova's metadata API serves, from an [`InstanceMetadata`]: the OpenStack tree
//! (`/openstack/<version>/meta_data.json`, `network_data.json`, `user_data`,
//! `vendor_data.json`, `vendor_data2.json`, `password`) and the EC2 one (`/<version>/
//! meta-data/...`, `/<version>/user-data`), with their version lists and directory
//! listings rendered as Nova renders them. Pure: no HTTP, no I/O (but the random seed).

mod ec2;
mod network;
mod openstack;

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::model::InstanceMetadata;

pub use network::network_data;

/// The EC2 metadata versions, oldest first (`latest` is the last).
pub const EC2_VERSIONS: [&str; 9] = [
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// The OpenStack metadata versions, oldest first (`latest` is the last), named after
/// the release that brought each.
pub const OPENSTACK_VERSIONS: [&str; 10] = [
    FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY, VICTORIA, EPOXY,
];

pub(crate) const FOLSOM: &str = "2012-08-10";
pub(crate) const GRIZZLY: &str = "2013-04-04";
pub(crate) const HAVANA: &str = "2013-10-17";
pub(crate) const LIBERTY: &str = "2015-10-15";
pub(crate) const NEWTON_ONE: &str = "2016-06-30";
pub(crate) const NEWTON_TWO: &str = "2016-10-06";
pub(crate) const OCATA: &str = "2017-02-22";
pub(crate) const ROCKY: &str = "2018-08-27";
pub(crate) const VICTORIA: &str = "2020-10-14";
pub(crate) const EPOXY: &str = "2025-04-04";

pub const MD_JSON_NAME: &str = "meta_data.json";
pub const VD_JSON_NAME: &str = "vendor_data.json";
pub const VD2_JSON_NAME: &str = "vendor_data2.json";
pub const NW_JSON_NAME: &str = "network_data.json";
pub const UD_NAME: &str = "user_data";
pub const PASS_NAME: &str = "password";

/// Vendor data providers (Nova's `[api] vendordata_providers`).
pub const STATIC_JSON: &str = "StaticJSON";
pub const DYNAMIC_JSON: &str = "DynamicJSON";

/// What the deployment adds to every instance's content (resolved configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Appended to host names (`vm-1.novalocal`); empty: none.
    pub dhcp_domain: String,
    /// `StaticJSON` and/or `DynamicJSON`, in order.
    pub vendordata_providers: Vec<String>,
    /// What `StaticJSON` serves (the file of `vendordata_jsonfile_path`; `{}` without).
    pub static_vendor_data: Value,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dhcp_domain: "novalocal".into(),
            vendordata_providers: vec![STATIC_JSON.into()],
            static_vendor_data: Value::Object(Map::new()),
        }
    }
}

/// One answer of the metadata tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A body, `application/json` or `text/plain`.
    Body { bytes: Vec<u8>, json: bool },
    /// `/openstack/<version>/password`: GET reads the password, POST sets it.
    Password,
}

impl Item {
    fn text(s: impl Into<String>) -> Item {
        Item::Body {
            bytes: s.into().into_bytes(),
            json: false,
        }
    }
    fn json(v: &Value) -> Item {
        Item::Body {
            bytes: serde_json::to_vec(v).expect("JSON values serialize"),
            json: true,
        }
    }
}

/// No such path (or version) in the tree: 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound;

/// An instance's content as one guest request sees it.
pub struct Guest<'a> {
    pub instance: &'a InstanceMetadata,
    pub settings: &'a Settings,
    /// The guest's address (`X-Forwarded-For`), EC2's `local-ipv4` when it has no IPv4.
    pub address: Option<IpAddr>,
    /// Extra keys of `meta_data.json` (the config drive's `admin_pass`).
    pub extra: Map<String, Value>,
}

impl Guest<'_> {
    /// The host name guests see: with the DHCP domain.
    pub fn hostname(&self) -> String {
        if self.settings.dhcp_domain.is_empty() {
            self.instance.hostname.clone()
        } else {
            format!("{}.{}", self.instance.hostname, self.settings.dhcp_domain)
        }
    }

    /// The answer at `path` (any path under the service's root).
    pub fn lookup(&self, path: &str) -> Result<Item, NotFound> {
        let mut tokens = normalize(path);
        if !matches!(
            tokens.first().map(String::as_str),
            Some("ec2" | "openstack")
        ) {
            tokens.insert(0, "ec2".into());
        }
        let (root, rest) = tokens.split_first().expect("a root token");
        if rest.is_empty() {
            return Ok(Item::text(if root == "openstack" {
                listed_openstack_versions(&today()).join("\n")
            } else {
                ec2_versions().join("\n")
            }));
        }
        if root == "openstack" {
            self.openstack_item(rest)
        } else {
            self.ec2_item(rest)
        }
    }

    fn openstack_item(&self, tokens: &[String]) -> Result<Item, NotFound> {
        // `content/<n>` holds injected files, which oxistack does not take
        let version = openstack_version(&tokens[0]).ok_or(NotFound)?;
        if tokens.len() == 1 {
            return Ok(Item::text(self.version_listing(version).join("\n")));
        }
        let at_least = |v: &str| os_at_least(version, v);
        match tokens[1..].join("/").as_str() {
            MD_JSON_NAME => Ok(Item::json(&self.meta_data(version))),
            NW_JSON_NAME => Ok(Item::Body {
                bytes: serde_json::to_vec(&network_data(&self.instance.ports))
                    .expect("JSON values serialize"),
                // Nova leaves this one text/plain
                json: false,
            }),
            UD_NAME => self.user_data(),
            PASS_NAME if at_least(GRIZZLY) => Ok(Item::Password),
            VD_JSON_NAME if at_least(HAVANA) => self.vendor_data().map(|v| Item::json(&v)),
            VD2_JSON_NAME if at_least(NEWTON_TWO) => Ok(Item::json(&self.vendor_data2())),
            _ => Err(NotFound),
        }
    }

    /// The files of an OpenStack version directory.
    pub fn version_listing(&self, version: &str) -> Vec<&'static str> {
        let mut names = vec![MD_JSON_NAME];
        if self.instance.user_data.is_some() {
            names.push(UD_NAME);
        }
        for (since, name) in [
            (GRIZZLY, PASS_NAME),
            (HAVANA, VD_JSON_NAME),
            (LIBERTY, NW_JSON_NAME),
            (NEWTON_TWO, VD2_JSON_NAME),
        ] {
            if os_at_least(version, since) {
                names.push(name);
            }
        }
        names
    }

    fn ec2_item(&self, tokens: &[String]) -> Result<Item, NotFound> {
        let version = ec2_version(&tokens[0]).ok_or(NotFound)?;
        let meta = self.ec2_meta_data(version);
        match &tokens[1..] {
            [] => {
                let mut names = vec!["meta-data/"];
                if self.instance.user_data.is_some() {
                    names.push("user-data");
                }
                Ok(Item::text(names.join("\n")))
            }
            [u] if u == "user-data" => self.user_data(),
            [m, rest @ ..] if m == "meta-data" => {
                let found = find_path(&meta, rest).ok_or(NotFound)?;
                Ok(Item::text(ec2_print(found)))
            }
            _ => Err(NotFound),
        }
    }

    /// The user data as given (404 without).
    fn user_data(&self) -> Result<Item, NotFound> {
        let bytes = self.instance.user_data.clone().ok_or(NotFound)?;
        Ok(Item::Body { bytes, json: false })
    }

    /// `vendor_data.json`: what `StaticJSON` serves; absent without that provider.
    pub fn vendor_data(&self) -> Result<Value, NotFound> {
        let providers = &self.settings.vendordata_providers;
        if providers.iter().any(|p| p == STATIC_JSON) {
            Ok(self.settings.static_vendor_data.clone())
        } else {
            Err(NotFound)
        }
    }

    /// `vendor_data2.json`: `static` (StaticJSON) and each dynamic target's answer; a
    /// target named like an earlier key is dropped.
    pub fn vendor_data2(&self) -> Value {
        let mut out = Map::new();
        for p in &self.settings.vendordata_providers {
            if p == STATIC_JSON {
                out.insert("static".into(), self.settings.static_vendor_data.clone());
            } else if p == DYNAMIC_JSON {
                for (k, v) in &self.instance.vendor_data {
                    if out.contains_key(k) {
                        tracing::warn!(key = %k, instance = %self.instance.uuid, "removing duplicate metadata key");
                    } else {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Value::Object(out)
    }
}

/// The path's tokens as `posixpath.normpath` leaves them (no empty, `.` or `..`).
fn normalize(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in path.split('/') {
        match t {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            t => out.push(t.to_owned()),
        }
    }
    out
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// `/openstack`: the versions released by `today` (Nova hides future ones), then `latest`.
pub fn listed_openstack_versions(today: &str) -> Vec<&'static str> {
    OPENSTACK_VERSIONS
        .iter()
        .copied()
        .filter(|v| *v <= today)
        .chain(["latest"])
        .collect()
}

/// `/`: the EC2 versions, then `latest`.
pub fn ec2_versions() -> Vec<&'static str> {
    EC2_VERSIONS.iter().copied().chain(["latest"]).collect()
}

/// A requested OpenStack version, `latest` resolved; `None` if unknown (even future
/// versions can be asked for by name).
fn openstack_version(v: &str) -> Option<&'static str> {
    if v == "latest" {
        return OPENSTACK_VERSIONS.last().copied();
    }
    OPENSTACK_VERSIONS.iter().copied().find(|k| *k == v)
}

fn ec2_version(v: &str) -> Option<&'static str> {
    if v == "latest" {
        return EC2_VERSIONS.last().copied();
    }
    EC2_VERSIONS.iter().copied().find(|k| *k == v)
}

fn at_least(list: &[&str], version: &str, since: &str) -> bool {
    let pos = |v: &str| list.iter().position(|k| *k == v);
    pos(version) >= pos(since)
}

pub(crate) fn os_at_least(version: &str, since: &str) -> bool {
    at_least(&OPENSTACK_VERSIONS, version, since)
}

pub(crate) fn ec2_at_least(version: &str, since: &str) -> bool {
    at_least(&EC2_VERSIONS, version, since)
}

/// Walk `rest` down the tree (an object's key; a list's member, whose item is itself).
fn find_path<'v>(mut data: &'v Value, rest: &[String]) -> Option<&'v Value> {
    for t in rest {
        data = match data {
            Value::Object(m) => m.get(t)?,
            _ => return None,
        };
    }
    Some(data)
}

/// How Nova prints a node of the EC2 tree: a directory lists its keys sorted, a
/// sub-directory with a slash (or its `_name`); a list one item a line; a leaf as is
/// (`None` for a missing value, as Python prints it).
pub fn ec2_print(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| *k != "_name").collect();
            keys.sort();
            keys.iter()
                .map(|k| match &m[*k] {
                    Value::Object(sub) => match sub.get("_name") {
                        Some(n) => ec2_print(n),
                        None => format!("{k}/"),
                    },
                    _ => (*k).clone(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Value::Array(items) => items.iter().map(ec2_print).collect::<Vec<_>>().join("\n"),
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
