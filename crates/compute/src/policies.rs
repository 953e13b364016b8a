//! Nova's default policy (its secure-RBAC defaults, as of 2024.1), in oslo.policy's
//! language, under Nova's rule names (`os_compute_api:...`).
//!
//! Targets are `project_id` and `user_id` of the resource (the caller's own for
//! collection actions). Flavor and extension lists, which Nova checks with no rule, use
//! `os_compute_api:flavors` and `os_compute_api:extensions` (always allowed).

const ADMIN: &str = "rule:context_is_admin";
const PMA: &str = "rule:project_member_or_admin";
const PRA: &str = "rule:project_reader_or_admin";
const ANY: &str = "@";
const OWNER_USER: &str = "rule:context_is_admin or user_id:%(user_id)s";

policy::rules! {
    /// Compute's policy rules: code names a rule by this enum; the defaults are the same
    /// table.
    pub enum Rule {
    ContextIsAdmin = ("context_is_admin", "role:admin"),
    AdminApi = ("admin_api", "role:admin"),
    ProjectMemberApi = ("project_member_api", "role:member and project_id:%(project_id)s"),
    ProjectReaderApi = ("project_reader_api", "role:reader and project_id:%(project_id)s"),
    ProjectMemberOrAdmin = ("project_member_or_admin", "rule:project_member_api or rule:context_is_admin"),
    ProjectReaderOrAdmin = ("project_reader_or_admin", "rule:project_reader_api or rule:context_is_admin"),
    // Nova's is `role:service`; oxistack's services call each other as the
    // `[service_auth]` user, the admin by default.
    ServiceApi = ("service_api", "role:service or role:admin"),
    ExternalEventsCreate = ("os_compute_api:os-server-external-events:create", "rule:service_api"),

    Flavors = ("os_compute_api:flavors", ANY),
    Extensions = ("os_compute_api:extensions", ANY),
    FlavorCreate = ("os_compute_api:os-flavor-manage:create", ADMIN),
    FlavorUpdate = ("os_compute_api:os-flavor-manage:update", ADMIN),
    FlavorDelete = ("os_compute_api:os-flavor-manage:delete", ADMIN),
    FlavorSpecsIndex = ("os_compute_api:os-flavor-extra-specs:index", PRA),
    FlavorSpecsShow = ("os_compute_api:os-flavor-extra-specs:show", PRA),
    FlavorSpecsCreate = ("os_compute_api:os-flavor-extra-specs:create", ADMIN),
    FlavorSpecsUpdate = ("os_compute_api:os-flavor-extra-specs:update", ADMIN),
    FlavorSpecsDelete = ("os_compute_api:os-flavor-extra-specs:delete", ADMIN),
    FlavorAccess = ("os_compute_api:os-flavor-access", ADMIN),
    FlavorAccessAdd = ("os_compute_api:os-flavor-access:add_tenant_access", ADMIN),
    FlavorAccessRemove = ("os_compute_api:os-flavor-access:remove_tenant_access", ADMIN),

    KeypairIndex = ("os_compute_api:os-keypairs:index", OWNER_USER),
    KeypairShow = ("os_compute_api:os-keypairs:show", OWNER_USER),
    KeypairCreate = ("os_compute_api:os-keypairs:create", OWNER_USER),
    KeypairDelete = ("os_compute_api:os-keypairs:delete", OWNER_USER),

    ServersIndex = ("os_compute_api:servers:index", PRA),
    ServersIndexAllTenants = ("os_compute_api:servers:index:get_all_tenants", ADMIN),
    ServersDetail = ("os_compute_api:servers:detail", PRA),
    ServersDetailAllTenants = ("os_compute_api:servers:detail:get_all_tenants", ADMIN),
    ServersAllowAllFilters = ("os_compute_api:servers:allow_all_filters", ADMIN),
    ServersShow = ("os_compute_api:servers:show", PRA),
    ServersShowFlavorExtraSpecs = ("os_compute_api:servers:show:flavor-extra-specs", PRA),
    ServersShowHostStatus = ("os_compute_api:servers:show:host_status", ADMIN),
    ServersCreate = ("os_compute_api:servers:create", PMA),
    ServersCreateForcedHost = ("os_compute_api:servers:create:forced_host", ADMIN),
    ServersCreateAttachNetwork = ("os_compute_api:servers:create:attach_network", PMA),
    ServersCreateZeroDiskFlavor = ("os_compute_api:servers:create:zero_disk_flavor", ADMIN),
    ServersUpdate = ("os_compute_api:servers:update", PMA),
    ServersDelete = ("os_compute_api:servers:delete", PMA),
    ServersForceDelete = ("os_compute_api:os-deferred-delete:force", PMA),
    ServersStart = ("os_compute_api:servers:start", PMA),
    ServersStop = ("os_compute_api:servers:stop", PMA),
    ServersReboot = ("os_compute_api:servers:reboot", PMA),
    ServersRebuild = ("os_compute_api:servers:rebuild", PMA),
    ServersResize = ("os_compute_api:servers:resize", PMA),
    ServersConfirmResize = ("os_compute_api:servers:confirm_resize", PMA),
    ServersRevertResize = ("os_compute_api:servers:revert_resize", PMA),
    ServersCreateImage = ("os_compute_api:servers:create_image", PMA),
    ExtendedAttributes = ("os_compute_api:os-extended-server-attributes", ADMIN),
    Lock = ("os_compute_api:os-lock-server:lock", PMA),
    Unlock = ("os_compute_api:os-lock-server:unlock", PMA),
    UnlockOverride = ("os_compute_api:os-lock-server:unlock:unlock_override", ADMIN),
    Pause = ("os_compute_api:os-pause-server:pause", PMA),
    Unpause = ("os_compute_api:os-pause-server:unpause", PMA),
    Suspend = ("os_compute_api:os-suspend-server:suspend", PMA),
    Resume = ("os_compute_api:os-suspend-server:resume", PMA),
    Rescue = ("os_compute_api:os-rescue", PMA),
    Unrescue = ("os_compute_api:os-unrescue", PMA),
    ConsoleOutput = ("os_compute_api:os-console-output", PMA),
    RemoteConsoles = ("os_compute_api:os-remote-consoles", PMA),
    ResetState = ("os_compute_api:os-admin-actions:reset_state", ADMIN),
    AddSecurityGroup = ("os_compute_api:os-security-groups:add", PMA),
    RemoveSecurityGroup = ("os_compute_api:os-security-groups:remove", PMA),
    ListServerSecurityGroups = ("os_compute_api:os-security-groups:list", PRA),
    ActionsList = ("os_compute_api:os-instance-actions:list", PRA),
    ActionsShow = ("os_compute_api:os-instance-actions:show", PRA),
    ActionsEvents = ("os_compute_api:os-instance-actions:events", ADMIN),
    ActionsEventsDetails = ("os_compute_api:os-instance-actions:events:details", ADMIN),
    InterfacesList = ("os_compute_api:os-attach-interfaces:list", PRA),
    InterfacesShow = ("os_compute_api:os-attach-interfaces:show", PRA),
    InterfacesCreate = ("os_compute_api:os-attach-interfaces:create", PMA),
    InterfacesDelete = ("os_compute_api:os-attach-interfaces:delete", PMA),
    MetadataIndex = ("os_compute_api:server-metadata:index", PRA),
    MetadataShow = ("os_compute_api:server-metadata:show", PRA),
    MetadataCreate = ("os_compute_api:server-metadata:create", PMA),
    MetadataUpdate = ("os_compute_api:server-metadata:update", PMA),
    MetadataUpdateAll = ("os_compute_api:server-metadata:update_all", PMA),
    MetadataDelete = ("os_compute_api:server-metadata:delete", PMA),
    TagsIndex = ("os_compute_api:os-server-tags:index", PRA),
    TagsShow = ("os_compute_api:os-server-tags:show", PRA),
    TagsUpdate = ("os_compute_api:os-server-tags:update", PMA),
    TagsUpdateAll = ("os_compute_api:os-server-tags:update_all", PMA),
    TagsDelete = ("os_compute_api:os-server-tags:delete", PMA),
    TagsDeleteAll = ("os_compute_api:os-server-tags:delete_all", PMA),

    GroupsIndex = ("os_compute_api:os-server-groups:index", PRA),
    GroupsIndexAllProjects = ("os_compute_api:os-server-groups:index:all_projects", ADMIN),
    GroupsShow = ("os_compute_api:os-server-groups:show", PRA),
    GroupsCreate = ("os_compute_api:os-server-groups:create", PMA),
    GroupsDelete = ("os_compute_api:os-server-groups:delete", PMA),

    QuotaShow = ("os_compute_api:os-quota-sets:show", PRA),
    QuotaDetail = ("os_compute_api:os-quota-sets:detail", PRA),
    QuotaDefaults = ("os_compute_api:os-quota-sets:defaults", ANY),
    QuotaUpdate = ("os_compute_api:os-quota-sets:update", ADMIN),
    QuotaDelete = ("os_compute_api:os-quota-sets:delete", ADMIN),
    Limits = ("os_compute_api:limits", ANY),
    LimitsOtherProject = ("os_compute_api:limits:other_project", ADMIN),

    AzList = ("os_compute_api:os-availability-zone:list", ANY),
    AzDetail = ("os_compute_api:os-availability-zone:detail", ADMIN),
    ServicesList = ("os_compute_api:os-services:list", ADMIN),
    ServicesUpdate = ("os_compute_api:os-services:update", ADMIN),
    ServicesDelete = ("os_compute_api:os-services:delete", ADMIN),
    HypervisorsList = ("os_compute_api:os-hypervisors:list", ADMIN),
    HypervisorsDetail = ("os_compute_api:os-hypervisors:list-detail", ADMIN),
    HypervisorsShow = ("os_compute_api:os-hypervisors:show", ADMIN),
    HypervisorsStatistics = ("os_compute_api:os-hypervisors:statistics", ADMIN),
    HypervisorsSearch = ("os_compute_api:os-hypervisors:search", ADMIN),
    HypervisorsServers = ("os_compute_api:os-hypervisors:servers", ADMIN),
    HypervisorsUptime = ("os_compute_api:os-hypervisors:uptime", ADMIN),
    UsageList = ("os_compute_api:os-simple-tenant-usage:list", ADMIN),
    UsageShow = ("os_compute_api:os-simple-tenant-usage:show", PRA),
    AggregatesIndex = ("os_compute_api:os-aggregates:index", ADMIN),
    AggregatesCreate = ("os_compute_api:os-aggregates:create", ADMIN),
    AggregatesShow = ("os_compute_api:os-aggregates:show", ADMIN),
    AggregatesUpdate = ("os_compute_api:os-aggregates:update", ADMIN),
    AggregatesDelete = ("os_compute_api:os-aggregates:delete", ADMIN),
    AggregatesAddHost = ("os_compute_api:os-aggregates:add_host", ADMIN),
    AggregatesRemoveHost = ("os_compute_api:os-aggregates:remove_host", ADMIN),
    AggregatesSetMetadata = ("os_compute_api:os-aggregates:set_metadata", ADMIN),

    NetworkSecurityGroups = ("os_compute_api:os-security-groups:show", PRA),
    NetworkSecurityGroupsWrite = ("os_compute_api:os-security-groups:create", PMA),
    FloatingIps = ("os_compute_api:os-floating-ips:list", PRA),
    FloatingIpsWrite = ("os_compute_api:os-floating-ips:create", PMA),
    TenantNetworks = ("os_compute_api:os-tenant-networks:list", PRA),
    }
}

pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
