//! Placement's default policy (its secure-RBAC defaults), in oslo.policy's language:
//! nearly everything is the admin's or the service user's (Nova calls Placement with a
//! service token); a project's readers may see their own project's usages.

const ADMIN_OR_SERVICE: &str = "rule:admin_or_service_api";

policy::rules! {
    /// Placement's policy rules: code names a rule by this enum; the defaults are the
    /// same table.
    pub enum Rule {
    AdminApi = ("admin_api", "role:admin"),
    ServiceApi = ("service_api", "role:service"),
    AdminOrServiceApi = ("admin_or_service_api", "role:admin or role:service"),
    ProjectReaderApi = ("project_reader_api", "role:reader and project_id:%(project_id)s"),
    AdminOrProjectReaderOrServiceApi = ("admin_or_project_reader_or_service_api",
        "role:admin or rule:project_reader_api or role:service"),

    ProviderList = ("placement:resource_providers:list", ADMIN_OR_SERVICE),
    ProviderCreate = ("placement:resource_providers:create", ADMIN_OR_SERVICE),
    ProviderShow = ("placement:resource_providers:show", ADMIN_OR_SERVICE),
    ProviderUpdate = ("placement:resource_providers:update", ADMIN_OR_SERVICE),
    ProviderDelete = ("placement:resource_providers:delete", ADMIN_OR_SERVICE),

    InventoryList = ("placement:resource_providers:inventories:list", ADMIN_OR_SERVICE),
    InventoryCreate = ("placement:resource_providers:inventories:create", ADMIN_OR_SERVICE),
    InventoryShow = ("placement:resource_providers:inventories:show", ADMIN_OR_SERVICE),
    InventoryUpdate = ("placement:resource_providers:inventories:update", ADMIN_OR_SERVICE),
    InventoryDelete = ("placement:resource_providers:inventories:delete", ADMIN_OR_SERVICE),

    AggregateList = ("placement:resource_providers:aggregates:list", ADMIN_OR_SERVICE),
    AggregateUpdate = ("placement:resource_providers:aggregates:update", ADMIN_OR_SERVICE),

    ProviderUsages = ("placement:resource_providers:usages", ADMIN_OR_SERVICE),
    TotalUsages = ("placement:usages", "rule:admin_or_project_reader_or_service_api"),

    ResourceClassList = ("placement:resource_classes:list", ADMIN_OR_SERVICE),
    ResourceClassCreate = ("placement:resource_classes:create", ADMIN_OR_SERVICE),
    ResourceClassShow = ("placement:resource_classes:show", ADMIN_OR_SERVICE),
    ResourceClassUpdate = ("placement:resource_classes:update", ADMIN_OR_SERVICE),
    ResourceClassDelete = ("placement:resource_classes:delete", ADMIN_OR_SERVICE),

    TraitList = ("placement:traits:list", ADMIN_OR_SERVICE),
    TraitShow = ("placement:traits:show", ADMIN_OR_SERVICE),
    TraitUpdate = ("placement:traits:update", ADMIN_OR_SERVICE),
    TraitDelete = ("placement:traits:delete", ADMIN_OR_SERVICE),
    ProviderTraitList = ("placement:resource_providers:traits:list", ADMIN_OR_SERVICE),
    ProviderTraitUpdate = ("placement:resource_providers:traits:update", ADMIN_OR_SERVICE),
    ProviderTraitDelete = ("placement:resource_providers:traits:delete", ADMIN_OR_SERVICE),

    AllocationManage = ("placement:allocations:manage", ADMIN_OR_SERVICE),
    AllocationList = ("placement:allocations:list", ADMIN_OR_SERVICE),
    AllocationUpdate = ("placement:allocations:update", ADMIN_OR_SERVICE),
    AllocationDelete = ("placement:allocations:delete", ADMIN_OR_SERVICE),
    ProviderAllocationList = ("placement:resource_providers:allocations:list", ADMIN_OR_SERVICE),

    AllocationCandidateList = ("placement:allocation_candidates:list", ADMIN_OR_SERVICE),
    Reshape = ("placement:reshaper:reshape", "rule:service_api"),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
