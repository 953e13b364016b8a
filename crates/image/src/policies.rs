//! Glance's default policy (its secure-RBAC defaults), in oslo.policy's language.
//!
//! Targets are an image's attributes and custom properties, plus `project_id` (the
//! owner) and `member_id` (the caller's project when the image is shared with it), as
//! Glance's `ImageTarget` presents them.

const ADMIN: &str = "rule:context_is_admin";

macro_rules! rule {
    ($($part:expr),+ $(,)?) => { concat!($($part),+) };
}

policy::rules! {
    /// Image's policy rules: code names a rule by this enum (a misspelled rule does not
    /// build); the defaults are the same table.
    pub enum Rule {
    Default = ("default", ""),
    ContextIsAdmin = ("context_is_admin", "role:admin"),
    ServiceApi = ("service_api", "role:service or role:admin"),
    AddImage = ("add_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)")),
    DeleteImage = ("delete_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    GetImage = (
        "get_image",
        rule!(
            "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s ",
            "or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        ),
    ),
    GetImages = ("get_images", rule!("rule:context_is_admin or (role:reader and project_id:%(project_id)s)")),
    ModifyImage = ("modify_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    PublicizeImage = ("publicize_image", ADMIN),
    CommunitizeImage = ("communitize_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    DownloadImage = (
        "download_image",
        rule!(
            "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s ",
            "or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))"
        ),
    ),
    UploadImage = ("upload_image", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    DeleteImageLocation = ("delete_image_location", ADMIN),
    GetImageLocation = ("get_image_location", rule!("rule:context_is_admin or (role:reader and project_id:%(project_id)s)")),
    SetImageLocation = ("set_image_location", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    AddMember = ("add_member", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    DeleteMember = ("delete_member", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    GetMember = (
        "get_member",
        rule!("rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)"),
    ),
    GetMembers = (
        "get_members",
        rule!("rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)"),
    ),
    ModifyMember = ("modify_member", rule!("rule:context_is_admin or (role:member and project_id:%(member_id)s)")),
    Deactivate = ("deactivate", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    Reactivate = ("reactivate", rule!("rule:context_is_admin or (role:member and project_id:%(project_id)s)")),
    CopyImage = ("copy_image", ADMIN),
    StoresInfoDetail = ("stores_info_detail", ADMIN),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;
