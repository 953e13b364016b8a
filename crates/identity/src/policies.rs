//! Identity's default policy, in oslo.policy's language, following Keystone's split of
//! cloud admin / cloud reader / domain admin / domain reader / owner.
//!
//! A *cloud* admin or reader holds the role on the system scope, or on a token scoped to
//! the admin project (Keystone's `is_admin_project`). A *domain* admin holds `admin` on a
//! domain-scoped token and manages only what lies in that domain.
//!
//! Targets are built as `{"target": {...}}` so rules read `%(target.project.domain_id)s`.

policy::rules! {
    /// Identity's policy rules: code names a rule by this enum (a misspelled rule does not
    /// build); the defaults are the same table.
    pub enum Rule {
    AdminRequired = ("admin_required", "role:admin"),
    ServiceRole = ("service_role", "role:service"),
    CloudAdmin = ("cloud_admin", "role:admin and (system_scope:all or is_admin_project:True)"),
    CloudReader = ("cloud_reader", "role:reader and (system_scope:all or is_admin_project:True)"),
    ServiceOrCloudAdmin = ("service_or_cloud_admin", "rule:service_role or rule:cloud_admin"),
    // regions, services, endpoints
    GetRegion = ("identity:get_region", ""),
    ListRegions = ("identity:list_regions", ""),
    CreateRegion = ("identity:create_region", "rule:cloud_admin"),
    UpdateRegion = ("identity:update_region", "rule:cloud_admin"),
    DeleteRegion = ("identity:delete_region", "rule:cloud_admin"),
    GetService = ("identity:get_service", "rule:cloud_reader"),
    ListServices = ("identity:list_services", "rule:cloud_reader"),
    CreateService = ("identity:create_service", "rule:cloud_admin"),
    UpdateService = ("identity:update_service", "rule:cloud_admin"),
    DeleteService = ("identity:delete_service", "rule:cloud_admin"),
    GetEndpoint = ("identity:get_endpoint", "rule:cloud_reader"),
    ListEndpoints = ("identity:list_endpoints", "rule:cloud_reader"),
    CreateEndpoint = ("identity:create_endpoint", "rule:cloud_admin"),
    UpdateEndpoint = ("identity:update_endpoint", "rule:cloud_admin"),
    DeleteEndpoint = ("identity:delete_endpoint", "rule:cloud_admin"),
    // domains
    GetDomain = ("identity:get_domain", "rule:cloud_reader or domain_id:%(target.domain.id)s or project_domain_id:%(target.domain.id)s"),
    ListDomains = ("identity:list_domains", "rule:cloud_reader"),
    CreateDomain = ("identity:create_domain", "rule:cloud_admin"),
    UpdateDomain = ("identity:update_domain", "rule:cloud_admin"),
    DeleteDomain = ("identity:delete_domain", "rule:cloud_admin"),
    // projects
    GetProject = ("identity:get_project", "rule:cloud_reader or (role:reader and domain_id:%(target.project.domain_id)s) or project_id:%(target.project.id)s"),
    ListProjects = ("identity:list_projects", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    ListUserProjects = ("identity:list_user_projects", "rule:cloud_reader or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"),
    CreateProject = ("identity:create_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    UpdateProject = ("identity:update_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    DeleteProject = ("identity:delete_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    ListProjectTags = ("identity:list_project_tags", "rule:identity:get_project"),
    UpdateProjectTags = ("identity:update_project_tags", "rule:identity:update_project"),
    // users
    GetUser = ("identity:get_user", "rule:cloud_reader or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"),
    ListUsers = ("identity:list_users", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    CreateUser = ("identity:create_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    UpdateUser = ("identity:update_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    DeleteUser = ("identity:delete_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    ChangePassword = ("identity:change_password", "user_id:%(target.user.id)s"),
    // groups
    GetGroup = ("identity:get_group", "rule:cloud_reader or (role:reader and domain_id:%(target.group.domain_id)s)"),
    ListGroups = ("identity:list_groups", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    ListGroupsForUser = ("identity:list_groups_for_user", "rule:identity:get_user"),
    CreateGroup = ("identity:create_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    UpdateGroup = ("identity:update_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    DeleteGroup = ("identity:delete_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    ListUsersInGroup = ("identity:list_users_in_group", "rule:identity:get_group"),
    CheckUserInGroup = ("identity:check_user_in_group", "rule:identity:get_group"),
    AddUserToGroup = ("identity:add_user_to_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)"),
    RemoveUserFromGroup = ("identity:remove_user_from_group", "rule:identity:add_user_to_group"),
    // roles
    GetRole = ("identity:get_role", "rule:cloud_reader or (role:admin and domain_id:%(target.domain_id)s)"),
    ListRoles = ("identity:list_roles", "rule:cloud_reader or (role:admin and domain_id:%(target.domain_id)s)"),
    CreateRole = ("identity:create_role", "rule:cloud_admin"),
    UpdateRole = ("identity:update_role", "rule:cloud_admin"),
    DeleteRole = ("identity:delete_role", "rule:cloud_admin"),
    GetImpliedRole = ("identity:get_implied_role", "rule:cloud_reader"),
    ListImpliedRoles = ("identity:list_implied_roles", "rule:cloud_reader"),
    ListRoleInferenceRules = ("identity:list_role_inference_rules", "rule:cloud_reader"),
    CreateImpliedRole = ("identity:create_implied_role", "rule:cloud_admin"),
    DeleteImpliedRole = ("identity:delete_implied_role", "rule:cloud_admin"),
    // grants and assignments
    CheckGrant = ("identity:check_grant", "rule:cloud_reader or (role:reader and domain_id:%(target.target_domain_id)s and domain_id:%(target.actor_domain_id)s)"),
    ListGrants = ("identity:list_grants", "rule:identity:check_grant"),
    CreateGrant = ("identity:create_grant", "rule:cloud_admin or (role:admin and domain_id:%(target.target_domain_id)s and domain_id:%(target.actor_domain_id)s)"),
    RevokeGrant = ("identity:revoke_grant", "rule:identity:create_grant"),
    ListRoleAssignments = ("identity:list_role_assignments", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    // application credentials
    GetApplicationCredential = ("identity:get_application_credential", "rule:cloud_reader or user_id:%(target.user.id)s"),
    ListApplicationCredentials = ("identity:list_application_credentials", "rule:cloud_reader or user_id:%(target.user.id)s"),
    CreateApplicationCredential = ("identity:create_application_credential", "user_id:%(target.user.id)s"),
    DeleteApplicationCredential = ("identity:delete_application_credential", "rule:cloud_admin or user_id:%(target.user.id)s"),
    // tokens
    ValidateToken = ("identity:validate_token", "rule:cloud_reader or rule:service_role or user_id:%(target.token.user_id)s"),
    CheckToken = ("identity:check_token", "rule:identity:validate_token"),
    RevokeToken = ("identity:revoke_token", "rule:cloud_admin or rule:service_role or user_id:%(target.token.user_id)s"),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
