//! Glance's default policy (its secure-RBAC defaults), in oslo.policy's language.
//!
//! Targets are an image's attributes and custom properties, plus `project_id` (the
//! owner) and `member_id` (the caller's project when the image is shared with it), as
//! Glance's `ImageTarget` presents them.

const ADMIN: &str = "rule:context_is_admin";

macro_rules! rule {
    ($($part:expr),+ $(,)?) => { concat!($($part),+) };
}

pub const DEFAULTS: &[(&str, &str)] = &[
    ("default", ""),
    ("context_is_admin", "role:admin"),
    ("service_api", "role:service or role:admin"),
    ("add_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)")),
    ("delete_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    (
        "get_image",
        rule!(
            "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s ",
            "or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        ),
    ),
    ("get_images", rule!("rule:context_is_admin or (role:reader and project_id:%(project_id)s)")),
    ("modify_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("publicize_image", ADMIN),
    ("communitize_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    (
        "download_image",
        rule!(
            "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s ",
            "or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        ),
    ),
    ("upload_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("delete_image_location", ADMIN),
    ("get_image_location", rule!("rule:context_is_admin or (role:reader and project_id:%(project_id)s)")),
    ("set_image_location", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("add_member", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("delete_member", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    (
        "get_member",
        rule!("rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)"),
    ),
    (
        "get_members",
        rule!("rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)"),
    ),
    ("modify_member", rule!("rule:context_is_admin or (role:member and project_id:%(member_id)s)")),
    ("deactivate", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("reactivate", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    ("copy_image", ADMIN),
    ("stores_info_detail", ADMIN),
];
