//! Cinder's default policy (its secure-RBAC defaults), in oslo.policy's language.
//!
//! Targets are a resource's `project_id` (a volume's, a snapshot's, the project a quota
//! is of; the caller's own for what belongs to no project, such as volume types).

const ADMIN: &str = "rule:admin_api";
const READER: &str = "rule:project_reader_or_admin";
const MEMBER: &str = "rule:project_member_or_admin";

policy::rules! {
    /// Block Storage's policy rules: code names a rule by this enum; the defaults are
    /// the same table.
    pub enum Rule {
    ContextIsAdmin = ("context_is_admin", "role:admin"),
    AdminApi = ("admin_api", "rule:context_is_admin"),
    ProjectReader = ("project_reader", "role:reader and project_id:%(project_id)s"),
    ProjectMember = ("project_member", "role:member and project_id:%(project_id)s"),
    ProjectReaderOrAdmin = ("project_reader_or_admin", "rule:project_reader or rule:context_is_admin"),
    ProjectMemberOrAdmin = ("project_member_or_admin", "rule:project_member or rule:context_is_admin"),

    // volumes
    CreateVolume = ("volume:create", MEMBER),
    GetVolume = ("volume:get", READER),
    GetAllVolumes = ("volume:get_all", READER),
    UpdateVolume = ("volume:update", MEMBER),
    DeleteVolume = ("volume:delete", MEMBER),
    ExtendVolume = ("volume:extend", MEMBER),
    UpdateReadonlyFlag = ("volume:update_readonly_flag", MEMBER),
    ResetVolumeStatus = ("volume_extension:volume_admin_actions:reset_status", ADMIN),
    VolumeHostAttribute = ("volume_extension:volume_host_attribute", ADMIN),
    GetVolumeMetadata = ("volume:get_volume_metadata", READER),
    CreateVolumeMetadata = ("volume:create_volume_metadata", MEMBER),
    UpdateVolumeMetadata = ("volume:update_volume_metadata", MEMBER),
    DeleteVolumeMetadata = ("volume:delete_volume_metadata", MEMBER),

    // snapshots
    CreateSnapshot = ("volume:create_snapshot", MEMBER),
    GetSnapshot = ("volume:get_snapshot", READER),
    GetAllSnapshots = ("volume:get_all_snapshots", READER),
    UpdateSnapshot = ("volume:update_snapshot", MEMBER),
    DeleteSnapshot = ("volume:delete_snapshot", MEMBER),
    ResetSnapshotStatus = ("volume_extension:snapshot_admin_actions:reset_status", ADMIN),
    GetSnapshotMetadata = ("volume:get_snapshot_metadata", READER),
    UpdateSnapshotMetadata = ("volume:update_snapshot_metadata", MEMBER),
    DeleteSnapshotMetadata = ("volume:delete_snapshot_metadata", MEMBER),

    // volume types
    ManageTypes = ("volume_extension:types_manage", ADMIN),
    GetType = ("volume_extension:type_get", READER),
    GetAllTypes = ("volume_extension:type_get_all", READER),
    TypeAccessList = ("volume_extension:volume_type_access", ADMIN),
    TypeAccessAdd = ("volume_extension:volume_type_access:addProjectAccess", ADMIN),
    TypeAccessRemove = ("volume_extension:volume_type_access:removeProjectAccess", ADMIN),
    ReadTypeExtraSpecs = ("volume_extension:types_extra_specs:read_sensitive", ADMIN),

    // quotas, limits, zones, services
    ShowQuota = ("volume_extension:quotas:show", READER),
    UpdateQuota = ("volume_extension:quotas:update", ADMIN),
    DeleteQuota = ("volume_extension:quotas:delete", ADMIN),
    UsedLimits = ("limits_extension:used_limits", READER),
    ListAvailabilityZones = ("volume_extension:availability_zone_list", ""),
    ListServices = ("volume_extension:services:index", ADMIN),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
