//! The kinds of resource the services manage: uninhabited marker types naming what an
//! [`Id`](crate::Id) identifies, with the id format and the not-found and conflict
//! messages of the service that owns the kind (its own words, since clients and tempest
//! match on them).
//!
//! Adding a kind is one line in the table below.

use crate::id::{Format, UuidForm};

/// A kind of resource.
pub trait Kind: 'static {
    /// How the owning service names the kind in messages ("image", "floating IP").
    const NAME: &'static str;
    /// How its ids are written.
    const FORMAT: Format;
    /// The owning service's message when no resource has the id.
    fn not_found_message(id: &str) -> String;
    /// The owning service's message when a resource with the id already exists.
    fn conflict_message(id: &str) -> String;
}

/// Glance, Nova, Neutron, Cinder.
const UUID: Format = Format::Uuid(UuidForm::Hyphenated);
/// Ids Keystone generates and never takes from a client.
const HEX: Format = Format::Uuid(UuidForm::Simple);
/// Keystone's `id` columns: `String(64)`, any text (`default`, LDAP and federated ids).
const KEYSTONE: Format = Format::Opaque {
    max_len: 64,
    generated: UuidForm::Simple,
};

macro_rules! kinds {
    ($(
        $(#[$doc:meta])*
        $ty:ident = $name:literal, $format:expr, ($($words:tt)+)
    );* $(;)?) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $ty {}

        impl Kind for $ty {
            const NAME: &'static str = $name;
            const FORMAT: Format = $format;
            words!($name, $($words)+);
        }
    )*};
}

/// The messages of a kind: Keystone's pattern, the "<Title> <id> could not be found."
/// pattern most other services share, or the service's own words.
macro_rules! words {
    ($name:literal, keystone) => {
        words!($name,
            not_found: concat!("Could not find ", $name, ": {id}."),
            conflict: concat!("Conflict occurred attempting to store ", $name, " - Duplicate ID, {id}."));
    };
    ($name:literal, title $title:literal) => {
        words!($name,
            not_found: concat!($title, " {id} could not be found."),
            conflict: concat!($title, " {id} already exists."));
    };
    ($name:literal, not_found: $nf:expr, conflict: $cf:expr) => {
        fn not_found_message(id: &str) -> String {
            format!($nf, id = id)
        }
        fn conflict_message(id: &str) -> String {
            format!($cf, id = id)
        }
    };
}

kinds! {
    // ---- Keystone: "Could not find <type>: <id>.", "... store <type> - Duplicate ID, <id>."
    Domain = "domain", KEYSTONE, (keystone);
    Project = "project", KEYSTONE, (keystone);
    User = "user", KEYSTONE, (keystone);
    Group = "group", KEYSTONE, (keystone);
    Role = "role", KEYSTONE, (keystone);
    /// Region ids are chosen by the client (`RegionOne`): Keystone's column is 255 long.
    Region = "region", Format::Opaque { max_len: 255, generated: UuidForm::Simple }, (keystone);
    Service = "service", HEX, (keystone);
    Endpoint = "endpoint", HEX, (keystone);
    ApplicationCredential = "application credential", HEX,
        (not_found: "Could not find Application Credential: {id}.",
         conflict: "Conflict occurred attempting to store application credential - Duplicate ID, {id}.");
    /// EC2 credential ids are a SHA-256 of the access key (64 hex digits): opaque.
    Credential = "credential", KEYSTONE, (keystone);
    Trust = "trust", HEX, (keystone);
    Limit = "limit", HEX,
        (not_found: "Could not find limit for {id}.",
         conflict: "Conflict occurred attempting to store limit - Duplicate ID, {id}.");
    RegisteredLimit = "registered limit", HEX,
        (not_found: "Could not find registered limit for {id}.",
         conflict: "Conflict occurred attempting to store registered limit - Duplicate ID, {id}.");

    // ---- Glance
    Image = "image", UUID,
        (not_found: "No image found with ID {id}",
         conflict: "Image with identifier {id} already exists!");
    Task = "task", UUID,
        (not_found: "Task with the given id {id} was not found",
         conflict: "Task with identifier {id} already exists!");

    // ---- Nova
    Server = "server", UUID, (title "Instance");
    /// Nova's flavor ids are chosen by the admin (`1`, `m1.tiny`); generated ones are UUIDs.
    Flavor = "flavor", Format::Opaque { max_len: 255, generated: UuidForm::Hyphenated },
        (not_found: "Flavor {id} could not be found.",
         conflict: "Flavor with ID {id} already exists.");
    ServerGroup = "server group", UUID, (title "Instance group");
    Hypervisor = "hypervisor", UUID, (title "Compute host");
    /// Keypairs are named by their user: the name is the id.
    Keypair = "keypair", Format::Opaque { max_len: 255, generated: UuidForm::Hyphenated },
        (not_found: "Keypair {id} not found.",
         conflict: "Key pair '{id}' already exists.");
    /// A nova-compute (or -conductor, -scheduler) service record.
    ComputeService = "compute service", UUID,
        (not_found: "Service {id} could not be found.",
         conflict: "Service {id} already exists.");
    /// Nova's aggregates have integer ids.
    Aggregate = "aggregate", Format::Opaque { max_len: 20, generated: UuidForm::Simple },
        (not_found: "Aggregate {id} could not be found.",
         conflict: "Aggregate {id} already exists.");
    /// Placement.
    ResourceProvider = "resource provider", UUID,
        (not_found: "No resource provider with uuid {id} found",
         conflict: "Conflicting resource provider uuid: {id} already exists.");

    // ---- Neutron
    Network = "network", UUID, (title "Network");
    Subnet = "subnet", UUID, (title "Subnet");
    SubnetPool = "subnet pool", UUID, (title "Subnet pool");
    Port = "port", UUID, (title "Port");
    Router = "router", UUID,
        (not_found: "Router {id} could not be found",
         conflict: "Router {id} already exists.");
    FloatingIp = "floating IP", UUID,
        (not_found: "Floating IP {id} could not be found",
         conflict: "Floating IP {id} already exists.");
    SecurityGroup = "security group", UUID,
        (not_found: "Security group {id} does not exist",
         conflict: "Security group {id} already exists.");
    AddressScope = "address scope", UUID,
        (not_found: "Address scope {id} could not be found.",
         conflict: "Address scope {id} already exists.");
    QosPolicy = "QoS policy", UUID,
        (not_found: "QoS policy {id} could not be found.",
         conflict: "QoS policy {id} already exists.");
    RbacPolicy = "RBAC policy", UUID,
        (not_found: "RBAC policy with id {id} could not be found.",
         conflict: "RBAC policy {id} already exists.");
    SecurityGroupRule = "security group rule", UUID,
        (not_found: "Security group rule {id} does not exist",
         conflict: "Security group rule {id} already exists.");

    // ---- Cinder
    Volume = "volume", UUID, (title "Volume");
    Snapshot = "snapshot", UUID, (title "Snapshot");
    Backup = "backup", UUID, (title "Backup");
    VolumeType = "volume type", UUID,
        (not_found: "Volume type with id {id} could not be found.",
         conflict: "Volume type {id} already exists.");
    VolumeAttachment = "volume attachment", UUID, (title "Volume attachment");

    // ---- oxistack itself
    /// A saga's log entry (crates/saga).
    Saga = "saga", UUID, (title "Saga");
}
