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
        $ty:ident = $name:literal, $format:expr,
            not_found: $nf:literal, conflict: $cf:literal;
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $ty {}

        impl Kind for $ty {
            const NAME: &'static str = $name;
            const FORMAT: Format = $format;
            fn not_found_message(id: &str) -> String {
                format!($nf, id = id)
            }
            fn conflict_message(id: &str) -> String {
                format!($cf, id = id)
            }
        }
    )*};
}

kinds! {
    // ---- Keystone: "Could not find <type>: <id>.", "... store <type> - Duplicate ID, <id>."
    Domain = "domain", KEYSTONE,
        not_found: "Could not find domain: {id}.",
        conflict: "Conflict occurred attempting to store domain - Duplicate ID, {id}.";
    Project = "project", KEYSTONE,
        not_found: "Could not find project: {id}.",
        conflict: "Conflict occurred attempting to store project - Duplicate ID, {id}.";
    User = "user", KEYSTONE,
        not_found: "Could not find user: {id}.",
        conflict: "Conflict occurred attempting to store user - Duplicate ID, {id}.";
    Group = "group", KEYSTONE,
        not_found: "Could not find group: {id}.",
        conflict: "Conflict occurred attempting to store group - Duplicate ID, {id}.";
    Role = "role", KEYSTONE,
        not_found: "Could not find role: {id}.",
        conflict: "Conflict occurred attempting to store role - Duplicate ID, {id}.";
    /// Region ids are chosen by the client (`RegionOne`): Keystone's column is 255 long.
    Region = "region", Format::Opaque { max_len: 255, generated: UuidForm::Simple },
        not_found: "Could not find region: {id}.",
        conflict: "Conflict occurred attempting to store region - Duplicate ID, {id}.";
    Service = "service", HEX,
        not_found: "Could not find service: {id}.",
        conflict: "Conflict occurred attempting to store service - Duplicate ID, {id}.";
    Endpoint = "endpoint", HEX,
        not_found: "Could not find endpoint: {id}.",
        conflict: "Conflict occurred attempting to store endpoint - Duplicate ID, {id}.";
    ApplicationCredential = "application credential", HEX,
        not_found: "Could not find Application Credential: {id}.",
        conflict: "Conflict occurred attempting to store application credential - Duplicate ID, {id}.";
    /// EC2 credential ids are a SHA-256 of the access key (64 hex digits): opaque.
    Credential = "credential", KEYSTONE,
        not_found: "Could not find credential: {id}.",
        conflict: "Conflict occurred attempting to store credential - Duplicate ID, {id}.";
    Trust = "trust", HEX,
        not_found: "Could not find trust: {id}.",
        conflict: "Conflict occurred attempting to store trust - Duplicate ID, {id}.";
    Limit = "limit", HEX,
        not_found: "Could not find limit for {id}.",
        conflict: "Conflict occurred attempting to store limit - Duplicate ID, {id}.";
    RegisteredLimit = "registered limit", HEX,
        not_found: "Could not find registered limit for {id}.",
        conflict: "Conflict occurred attempting to store registered limit - Duplicate ID, {id}.";

    // ---- Glance
    Image = "image", UUID,
        not_found: "No image found with ID {id}",
        conflict: "Image with identifier {id} already exists!";
    Task = "task", UUID,
        not_found: "Task with the given id {id} was not found",
        conflict: "Task with identifier {id} already exists!";

    // ---- Nova
    Server = "server", UUID,
        not_found: "Instance {id} could not be found.",
        conflict: "Instance {id} already exists.";
    /// Nova's flavor ids are chosen by the admin (`1`, `m1.tiny`); generated ones are UUIDs.
    Flavor = "flavor", Format::Opaque { max_len: 255, generated: UuidForm::Hyphenated },
        not_found: "Flavor {id} could not be found.",
        conflict: "Flavor with ID {id} already exists.";
    ServerGroup = "server group", UUID,
        not_found: "Instance group {id} could not be found.",
        conflict: "Instance group {id} already exists.";
    Hypervisor = "hypervisor", UUID,
        not_found: "Compute host {id} could not be found.",
        conflict: "Compute host {id} already exists.";
    /// Placement.
    ResourceProvider = "resource provider", UUID,
        not_found: "No resource provider with uuid {id} found",
        conflict: "Conflicting resource provider uuid: {id} already exists.";

    // ---- Neutron
    Network = "network", UUID,
        not_found: "Network {id} could not be found.",
        conflict: "Network {id} already exists.";
    Subnet = "subnet", UUID,
        not_found: "Subnet {id} could not be found.",
        conflict: "Subnet {id} already exists.";
    SubnetPool = "subnet pool", UUID,
        not_found: "Subnet pool {id} could not be found.",
        conflict: "Subnet pool {id} already exists.";
    Port = "port", UUID,
        not_found: "Port {id} could not be found.",
        conflict: "Port {id} already exists.";
    Router = "router", UUID,
        not_found: "Router {id} could not be found",
        conflict: "Router {id} already exists.";
    FloatingIp = "floating IP", UUID,
        not_found: "Floating IP {id} could not be found",
        conflict: "Floating IP {id} already exists.";
    SecurityGroup = "security group", UUID,
        not_found: "Security group {id} does not exist",
        conflict: "Security group {id} already exists.";
    SecurityGroupRule = "security group rule", UUID,
        not_found: "Security group rule {id} does not exist",
        conflict: "Security group rule {id} already exists.";

    // ---- Cinder
    Volume = "volume", UUID,
        not_found: "Volume {id} could not be found.",
        conflict: "Volume {id} already exists.";
    Snapshot = "snapshot", UUID,
        not_found: "Snapshot {id} could not be found.",
        conflict: "Snapshot {id} already exists.";
    Backup = "backup", UUID,
        not_found: "Backup {id} could not be found.",
        conflict: "Backup {id} already exists.";
    VolumeType = "volume type", UUID,
        not_found: "Volume type with id {id} could not be found.",
        conflict: "Volume type {id} already exists.";
    VolumeAttachment = "volume attachment", UUID,
        not_found: "Volume attachment {id} could not be found.",
        conflict: "Volume attachment {id} already exists.";

    // ---- oxistack itself
    /// A saga's log entry (crates/saga).
    Saga = "saga", UUID,
        not_found: "Saga {id} could not be found.",
        conflict: "Saga {id} already exists.";
}
