//! Identity's default policy, in oslo.policy's language, following Keystone's split of
//! cloud admin / cloud reader / domain admin / domain reader / owner.
//!
//! A *cloud* admin or reader holds the role on the system scope, or on a token scoped to
//! the admin project (Keystone's `is_admin_project`). A *domain* admin holds `admin` on a
//! domain-scoped token and manages only what lies in that domain.
//!
//! Targets are built as `{"target": {...}}` so rules read `%(target.project.domain_id)s`.

pub const DEFAULTS: &[(&str, &str)] = &[
    ("admin_required", "role:admin"),
    ("service_role", "role:service"),
    ("cloud_admin", "role:admin and (system_scope:all or is_admin_project:True)"),
    ("cloud_reader", "role:reader and (system_scope:all or is_admin_project:True)"),
    ("service_or_cloud_admin", "rule:service_role or rule:cloud_admin"),
    // regions, services, endpoints
    ("identity:get_region", ""),
    ("identity:list_regions", ""),
    ("identity:create_region", "rule:cloud_admin"),
    ("identity:update_region", "rule:cloud_admin"),
    ("identity:delete_region", "rule:cloud_admin"),
    ("identity:get_service", "rule:cloud_reader"),
    ("identity:list_services", "rule:cloud_reader"),
    ("identity:create_service", "rule:cloud_admin"),
    ("identity:update_service", "rule:cloud_admin"),
    ("identity:delete_service", "rule:cloud_admin"),
    ("identity:get_endpoint", "rule:cloud_reader"),
    ("identity:list_endpoints", "rule:cloud_reader"),
    ("identity:create_endpoint", "rule:cloud_admin"),
    ("identity:update_endpoint", "rule:cloud_admin"),
    ("identity:delete_endpoint", "rule:cloud_admin"),
    // domains
    ("identity:get_domain", "rule:cloud_reader or domain_id:%(target.domain.id)s or project_domain_id:%(target.domain.id)s"),
    ("identity:list_domains", "rule:cloud_reader"),
    ("identity:create_domain", "rule:cloud_admin"),
    ("identity:update_domain", "rule:cloud_admin"),
    ("identity:delete_domain", "rule:cloud_admin"),
    // projects
    ("identity:get_project", "rule:cloud_reader or (role:reader and domain_id:%(target.project.domain_id)s) or project_id:%(target.project.id)s"),
    ("identity:list_projects", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    ("identity:list_user_projects", "rule:cloud_reader or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"),
    ("identity:create_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    ("identity:update_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    ("identity:delete_project", "rule:cloud_admin or (role:admin and domain_id:%(target.project.domain_id)s)"),
    ("identity:list_project_tags", "rule:identity:get_project"),
    ("identity:update_project_tags", "rule:identity:update_project"),
    // users
    ("identity:get_user", "rule:cloud_reader or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"),
    ("identity:list_users", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    ("identity:create_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    ("identity:update_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    ("identity:delete_user", "rule:cloud_admin or (role:admin and domain_id:%(target.user.domain_id)s)"),
    ("identity:change_password", "user_id:%(target.user.id)s"),
    // groups
    ("identity:get_group", "rule:cloud_reader or (role:reader and domain_id:%(target.group.domain_id)s)"),
    ("identity:list_groups", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    ("identity:list_groups_for_user", "rule:identity:get_user"),
    ("identity:create_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    ("identity:update_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    ("identity:delete_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s)"),
    ("identity:list_users_in_group", "rule:identity:get_group"),
    ("identity:check_user_in_group", "rule:identity:get_group"),
    ("identity:add_user_to_group", "rule:cloud_admin or (role:admin and domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s)"),
    ("identity:remove_user_from_group", "rule:identity:add_user_to_group"),
    // roles
    ("identity:get_role", "rule:cloud_reader or (role:admin and domain_id:%(target.domain_id)s)"),
    ("identity:list_roles", "rule:cloud_reader or (role:admin and domain_id:%(target.domain_id)s)"),
    ("identity:create_role", "rule:cloud_admin"),
    ("identity:update_role", "rule:cloud_admin"),
    ("identity:delete_role", "rule:cloud_admin"),
    ("identity:get_implied_role", "rule:cloud_reader"),
    ("identity:list_implied_roles", "rule:cloud_reader"),
    ("identity:list_role_inference_rules", "rule:cloud_reader"),
    ("identity:create_implied_role", "rule:cloud_admin"),
    ("identity:delete_implied_role", "rule:cloud_admin"),
    // grants and assignments
    ("identity:check_grant", "rule:cloud_reader or (role:reader and domain_id:%(target.target_domain_id)s and domain_id:%(target.actor_domain_id)s)"),
    ("identity:list_grants", "rule:identity:check_grant"),
    ("identity:create_grant", "rule:cloud_admin or (role:admin and domain_id:%(target.target_domain_id)s and domain_id:%(target.actor_domain_id)s)"),
    ("identity:revoke_grant", "rule:identity:create_grant"),
    ("identity:list_role_assignments", "rule:cloud_reader or (role:reader and domain_id:%(target.domain_id)s)"),
    // application credentials
    ("identity:get_application_credential", "rule:cloud_reader or user_id:%(target.user.id)s"),
    ("identity:list_application_credentials", "rule:cloud_reader or user_id:%(target.user.id)s"),
    ("identity:create_application_credential", "user_id:%(target.user.id)s"),
    ("identity:delete_application_credential", "rule:cloud_admin or user_id:%(target.user.id)s"),
    // tokens
    ("identity:validate_token", "rule:cloud_reader or rule:service_role or user_id:%(target.token.user_id)s"),
    ("identity:check_token", "rule:identity:validate_token"),
    ("identity:revoke_token", "rule:cloud_admin or rule:service_role or user_id:%(target.token.user_id)s"),
];
