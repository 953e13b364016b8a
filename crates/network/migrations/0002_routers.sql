CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    admin_state_up BIGINT NOT NULL,
    gw_network_id TEXT REFERENCES networks (id),
    enable_snat BIGINT NOT NULL,
    routes TEXT NOT NULL,
    availability_zone_hints TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);
CREATE TABLE floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    floating_network_id TEXT NOT NULL REFERENCES networks (id),
    floating_port_id TEXT NOT NULL,
    floating_ip_address TEXT NOT NULL,
    port_id TEXT,
    fixed_ip_address TEXT,
    router_id TEXT,
    description TEXT NOT NULL,
    dns_name TEXT NOT NULL,
    dns_domain TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (floating_network_id, floating_ip_address)
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_port ON floatingips (port_id);
CREATE TABLE port_forwardings (
    id TEXT PRIMARY KEY,
    floatingip_id TEXT NOT NULL REFERENCES floatingips (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL,
    internal_port_id TEXT NOT NULL,
    internal_ip_address TEXT NOT NULL,
    internal_port BIGINT NOT NULL,
    external_port BIGINT NOT NULL,
    description TEXT NOT NULL,
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (floatingip_id, protocol, external_port)
)
