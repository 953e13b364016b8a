CREATE TABLE flavors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    memory_mb BIGINT NOT NULL,
    vcpus BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL,
    swap BIGINT NOT NULL,
    rxtx_factor TEXT NOT NULL,
    is_public BIGINT NOT NULL,
    disabled BIGINT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE flavor_extra_specs (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flavor_id, key)
);
CREATE TABLE flavor_projects (
    flavor_id TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);
CREATE TABLE keypairs (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    id BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    hostname TEXT NOT NULL,
    description TEXT,
    image_id TEXT,
    flavor_id TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    flavor TEXT NOT NULL,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL,
    host TEXT,
    node TEXT,
    availability_zone TEXT,
    key_name TEXT,
    key_data TEXT,
    user_data TEXT,
    config_drive BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    security_groups TEXT NOT NULL,
    networks TEXT NOT NULL,
    block_devices TEXT NOT NULL,
    scheduler_hints TEXT NOT NULL,
    server_group_id TEXT,
    reservation_id TEXT NOT NULL,
    launch_index BIGINT NOT NULL,
    admin_pass TEXT,
    locked BIGINT NOT NULL,
    locked_by TEXT,
    locked_reason TEXT,
    access_ipv4 TEXT,
    access_ipv6 TEXT,
    ports TEXT NOT NULL,
    fault TEXT,
    progress BIGINT NOT NULL,
    new_flavor TEXT,
    old_flavor TEXT,
    launched_at TEXT,
    terminated_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL
);
CREATE INDEX instances_project ON instances (project_id, deleted);
CREATE INDEX instances_host ON instances (host);
CREATE TABLE instance_tags (
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_id, tag)
);
CREATE TABLE instance_actions (
    instance_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    message TEXT,
    events TEXT NOT NULL,
    PRIMARY KEY (instance_id, request_id)
);
CREATE TABLE server_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    policy TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE server_group_members (
    group_id TEXT NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL,
    PRIMARY KEY (group_id, instance_id)
);
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
CREATE TABLE compute_services (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    service_binary TEXT NOT NULL,
    topic TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL,
    version BIGINT NOT NULL,
    last_seen_up TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (host, service_binary)
);
CREATE TABLE compute_nodes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    hypervisor_hostname TEXT NOT NULL UNIQUE,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL,
    host_ip TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    vcpus_used BIGINT NOT NULL,
    memory_mb_used BIGINT NOT NULL,
    local_gb_used BIGINT NOT NULL,
    running_vms BIGINT NOT NULL,
    cpu_info TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE compute_aggregates (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE TABLE compute_aggregate_hosts (
    aggregate_id BIGINT NOT NULL REFERENCES compute_aggregates (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE TABLE compute_aggregate_metadata (
    aggregate_id BIGINT NOT NULL REFERENCES compute_aggregates (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, key)
);
