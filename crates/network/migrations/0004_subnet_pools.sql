CREATE TABLE address_scopes (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE subnet_pools (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    prefixes TEXT NOT NULL,
    default_prefixlen BIGINT NOT NULL,
    min_prefixlen BIGINT NOT NULL,
    max_prefixlen BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    is_default BIGINT NOT NULL,
    address_scope_id TEXT REFERENCES address_scopes (id),
    default_quota BIGINT,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX subnets_pool ON subnets (subnetpool_id)
