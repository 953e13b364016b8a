//! Plain types shared by every oxistack crate, below HTTP and the database:
//!
//! - [`Id<K>`](Id): typed resource ids (`Id<kind::Image>`, [`ImageId`]), checked and
//!   normalized where they enter, serde- and sqlx-aware;
//! - [`Error`]: the one transport-independent error of the app layers, with typed
//!   not-found and conflict ([`Error::not_found_id`]) and the cause kept for the log.
//!
//! No HTTP here: api-common renders [`Error`] (its `fault` module maps each
//! [`ErrorKind`] to a status). The optional `axum` feature adds only the `IntoResponse`
//! adapter the orphan rule forces to live here (`error/axum.rs`).

pub mod error;
pub mod id;
pub mod kind;

pub use error::{Error, ErrorKind, Resource, Result};
pub use id::{Format, Id, Invalid, ParseIdError, UuidForm};
pub use kind::Kind;

/// Short names for the ids of each kind, for signatures (`fn image(&self, id: &ImageId)`).
/// The markers themselves stay in [`kind`], where they do not clash with the services'
/// own `Image` or `Project` structs.
macro_rules! aliases {
    ($($alias:ident = $kind:ident),* $(,)?) => {$(
        #[doc = concat!("`Id<kind::", stringify!($kind), ">`")]
        pub type $alias = Id<kind::$kind>;
    )*};
}

aliases! {
    DomainId = Domain, ProjectId = Project, UserId = User, GroupId = Group, RoleId = Role,
    RegionId = Region, ServiceId = Service, EndpointId = Endpoint,
    ApplicationCredentialId = ApplicationCredential, CredentialId = Credential,
    TrustId = Trust, LimitId = Limit, RegisteredLimitId = RegisteredLimit,
    ImageId = Image, TaskId = Task,
    ServerId = Server, FlavorId = Flavor, ServerGroupId = ServerGroup,
    HypervisorId = Hypervisor, KeypairId = Keypair,
    ComputeServiceId = ComputeService, AggregateId = Aggregate, ResourceProviderId = ResourceProvider,
    NetworkId = Network, SubnetId = Subnet, SubnetPoolId = SubnetPool, PortId = Port,
    RouterId = Router, FloatingIpId = FloatingIp, SecurityGroupId = SecurityGroup,
    SecurityGroupRuleId = SecurityGroupRule, QosPolicyId = QosPolicy, RbacPolicyId = RbacPolicy,
    AddressScopeId = AddressScope,
    VolumeId = Volume, SnapshotId = Snapshot, BackupId = Backup, VolumeTypeId = VolumeType,
    VolumeAttachmentId = VolumeAttachment,
    SagaId = Saga,
}
