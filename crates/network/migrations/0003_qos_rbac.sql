CREATE TABLE qos_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    shared BIGINT NOT NULL,
    is_default BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE qos_rules (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES qos_policies (id) ON DELETE CASCADE,
    rule_type TEXT NOT NULL,
    max_kbps BIGINT NOT NULL,
    max_burst_kbps BIGINT NOT NULL,
    direction TEXT NOT NULL,
    UNIQUE (policy_id, rule_type, direction)
);
ALTER TABLE ports ADD COLUMN qos_policy_id TEXT;
ALTER TABLE networks ADD COLUMN qos_policy_id TEXT;
CREATE TABLE rbac_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_project TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (object_type, object_id, action, target_project)
);
CREATE INDEX rbac_policies_target ON rbac_policies (target_project)
