CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    external BIGINT NOT NULL,
    mtu BIGINT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    network_type TEXT NOT NULL,
    physical_network TEXT,
    segmentation_id BIGINT,
    availability_zone_hints TEXT NOT NULL,
    dns_domain TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);
CREATE TABLE segment_allocations (
    network_type TEXT NOT NULL,
    physical_network TEXT NOT NULL,
    segmentation_id BIGINT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    PRIMARY KEY (network_type, physical_network, segmentation_id)
);
CREATE TABLE subnets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    ip_version BIGINT NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    allocation_pools TEXT NOT NULL,
    dns_nameservers TEXT NOT NULL,
    host_routes TEXT NOT NULL,
    enable_dhcp BIGINT NOT NULL,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    subnetpool_id TEXT,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE TABLE ports (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    mac_address TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_owner TEXT NOT NULL,
    host_id TEXT NOT NULL,
    vnic_type TEXT NOT NULL,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    port_security_enabled BIGINT NOT NULL,
    allowed_address_pairs TEXT NOT NULL,
    extra_dhcp_opts TEXT NOT NULL,
    dns_name TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id);
CREATE INDEX ports_host ON ports (host_id);
CREATE TABLE ip_allocations (
    subnet_id TEXT NOT NULL REFERENCES subnets (id),
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    network_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);
CREATE TABLE security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    stateful BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);
CREATE TABLE default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE
);
CREATE TABLE security_group_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    description TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);
CREATE TABLE port_security_groups (
    port_id TEXT NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);
CREATE TABLE tags (
    resource_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (resource_id, tag)
);
CREATE TABLE quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    binary_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    availability_zone TEXT NOT NULL,
    configurations TEXT NOT NULL,
    description TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (host, agent_type)
)
