//! Neutron's default policy (its secure-RBAC defaults, as of 2024.1), in oslo.policy's
//! language.
//!
//! Targets are a resource's attributes (`project_id`, `shared` and `router:external` as
//! `True`/`False`), plus `network_project_id` (the owner of the network a subnet or port
//! is on) and `group_project_id` (the owner of a rule's security group).

const ADMIN: &str = "rule:admin_only";

macro_rules! rule {
    ($($part:expr),+ $(,)?) => { concat!($($part),+) };
}

const MEMBER: &str = "rule:admin_only or rule:project_member";
const READER: &str = "rule:admin_only or rule:project_reader";
const NET_OWNER_MEMBER: &str = "rule:admin_only or rule:project_member or rule:network_owner";
const SERVICE: &str = "rule:admin_only or rule:service_api";

policy::rules! {
    /// Networking's policy rules: code names a rule by this enum; the defaults are the
    /// same table.
    pub enum Rule {
    ContextIsAdmin = ("context_is_admin", "role:admin"),
    AdminOnly = ("admin_only", "rule:context_is_admin"),
    ServiceApi = ("service_api", "role:service"),
    ProjectMember = ("project_member", "role:member and project_id:%(project_id)s"),
    ProjectReader = ("project_reader", "role:reader and project_id:%(project_id)s"),
    NetworkOwner = ("network_owner", "role:member and project_id:%(network_project_id)s"),
    NetworkOwnerReader = ("network_owner_reader", "role:reader and project_id:%(network_project_id)s"),
    Shared = ("shared", "'True':%(shared)s"),
    External = ("external", "'True':%(router:external)s"),

    CreateNetwork = ("create_network", MEMBER),
    CreateNetworkShared = ("create_network:shared", ADMIN),
    CreateNetworkExternal = ("create_network:router:external", ADMIN),
    CreateNetworkProvider = ("create_network:provider:network_type", ADMIN),
    CreateNetworkPortSecurity = ("create_network:port_security_enabled", MEMBER),
    GetNetwork = ("get_network", rule!("rule:admin_only or rule:project_reader or rule:shared or rule:external")),
    GetNetworkProvider = ("get_network:provider:network_type", ADMIN),
    UpdateNetwork = ("update_network", MEMBER),
    UpdateNetworkShared = ("update_network:shared", ADMIN),
    UpdateNetworkExternal = ("update_network:router:external", ADMIN),
    DeleteNetwork = ("delete_network", MEMBER),

    CreateSubnet = ("create_subnet", NET_OWNER_MEMBER),
    GetSubnet = ("get_subnet", rule!("rule:admin_only or rule:project_reader or rule:network_owner_reader or rule:shared")),
    UpdateSubnet = ("update_subnet", NET_OWNER_MEMBER),
    DeleteSubnet = ("delete_subnet", NET_OWNER_MEMBER),

    CreatePort = ("create_port", MEMBER),
    CreatePortDeviceOwner = ("create_port:device_owner", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    CreatePortMacAddress = ("create_port:mac_address", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    CreatePortFixedIps = ("create_port:fixed_ips:ip_address", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    CreatePortBinding = ("create_port:binding:host_id", SERVICE),
    CreatePortPortSecurity = ("create_port:port_security_enabled", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    CreatePortAddressPairs = ("create_port:allowed_address_pairs", NET_OWNER_MEMBER),
    GetPort = ("get_port", rule!("rule:admin_only or rule:project_reader or rule:network_owner_reader or rule:service_api")),
    GetPortBinding = ("get_port:binding:vif_type", SERVICE),
    UpdatePort = ("update_port", rule!("rule:admin_only or rule:project_member or rule:service_api")),
    UpdatePortBinding = ("update_port:binding:host_id", SERVICE),
    UpdatePortDeviceOwner = ("update_port:device_owner", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    UpdatePortMacAddress = ("update_port:mac_address", SERVICE),
    UpdatePortFixedIps = ("update_port:fixed_ips:ip_address", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    UpdatePortPortSecurity = ("update_port:port_security_enabled", rule!("rule:admin_only or rule:network_owner or rule:service_api")),
    DeletePort = ("delete_port", rule!("rule:admin_only or rule:project_member or rule:network_owner or rule:service_api")),

    CreateSecurityGroup = ("create_security_group", MEMBER),
    GetSecurityGroup = ("get_security_group", READER),
    UpdateSecurityGroup = ("update_security_group", MEMBER),
    DeleteSecurityGroup = ("delete_security_group", MEMBER),
    CreateSecurityGroupRule = ("create_security_group_rule", rule!("rule:admin_only or (role:member and project_id:%(group_project_id)s)")),
    GetSecurityGroupRule = ("get_security_group_rule", rule!("rule:admin_only or rule:project_reader or (role:reader and project_id:%(group_project_id)s)")),
    DeleteSecurityGroupRule = ("delete_security_group_rule", rule!("rule:admin_only or rule:project_member or (role:member and project_id:%(group_project_id)s)")),

    CreateRouter = ("create_router", MEMBER),
    CreateRouterSnat = ("create_router:external_gateway_info:enable_snat", ADMIN),
    CreateRouterExternalIps = ("create_router:external_gateway_info:external_fixed_ips", ADMIN),
    CreateRouterDistributed = ("create_router:distributed", ADMIN),
    GetRouter = ("get_router", READER),
    UpdateRouter = ("update_router", MEMBER),
    DeleteRouter = ("delete_router", MEMBER),
    AddRouterInterface = ("add_router_interface", MEMBER),
    RemoveRouterInterface = ("remove_router_interface", MEMBER),

    CreateFloatingIp = ("create_floatingip", MEMBER),
    CreateFloatingIpAddress = ("create_floatingip:floating_ip_address", ADMIN),
    GetFloatingIp = ("get_floatingip", READER),
    UpdateFloatingIp = ("update_floatingip", MEMBER),
    DeleteFloatingIp = ("delete_floatingip", MEMBER),
    CreatePortForwarding = ("create_floatingip_port_forwarding", MEMBER),
    GetPortForwarding = ("get_floatingip_port_forwarding", READER),
    DeletePortForwarding = ("delete_floatingip_port_forwarding", MEMBER),

    CreateQosPolicy = ("create_policy", ADMIN),
    GetQosPolicy = ("get_policy", rule!("rule:admin_only or rule:project_reader or rule:shared")),
    UpdateQosPolicy = ("update_policy", ADMIN),
    DeleteQosPolicy = ("delete_policy", ADMIN),
    CreateQosRule = ("create_policy_bandwidth_limit_rule", ADMIN),

    CreateRbacPolicy = ("create_rbac_policy", MEMBER),
    CreateRbacWildcard = ("create_rbac_policy:target_tenant", ADMIN),
    CreateRbacExternal = ("create_rbac_policy:access_as_external", ADMIN),
    GetRbacPolicy = ("get_rbac_policy", READER),
    UpdateRbacPolicy = ("update_rbac_policy", MEMBER),
    DeleteRbacPolicy = ("delete_rbac_policy", MEMBER),

    CreateSubnetPool = ("create_subnetpool", MEMBER),
    CreateSubnetPoolShared = ("create_subnetpool:shared", ADMIN),
    CreateSubnetPoolDefault = ("create_subnetpool:is_default", ADMIN),
    GetSubnetPool = ("get_subnetpool", rule!("rule:admin_only or rule:project_reader or rule:shared")),
    UpdateSubnetPool = ("update_subnetpool", MEMBER),
    DeleteSubnetPool = ("delete_subnetpool", MEMBER),
    CreateAddressScope = ("create_address_scope", MEMBER),
    CreateAddressScopeShared = ("create_address_scope:shared", ADMIN),
    GetAddressScope = ("get_address_scope", rule!("rule:admin_only or rule:project_reader or rule:shared")),
    UpdateAddressScope = ("update_address_scope", MEMBER),
    DeleteAddressScope = ("delete_address_scope", MEMBER),

    GetQuota = ("get_quota", READER),
    UpdateQuota = ("update_quota", ADMIN),
    DeleteQuota = ("delete_quota", ADMIN),

    GetAgent = ("get_agent", ADMIN),
    UpdateAgent = ("update_agent", ADMIN),
    DeleteAgent = ("delete_agent", ADMIN),
    GetAvailabilityZone = ("get_availability_zone", "rule:admin_only or role:reader"),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
