CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    protected BIGINT NOT NULL DEFAULT 0,
    os_hidden BIGINT NOT NULL DEFAULT 0,
    owner TEXT,
    disk_format TEXT,
    container_format TEXT,
    min_disk BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    size BIGINT,
    virtual_size BIGINT,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    location TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    deleted_at TEXT
);
CREATE INDEX images_owner ON images (owner);
CREATE INDEX images_name ON images (name);
CREATE INDEX images_created ON images (created_at, id);
CREATE TABLE image_properties (
    image_id TEXT NOT NULL REFERENCES images (id),
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (image_id, name)
);
CREATE INDEX image_properties_name ON image_properties (name, value);
CREATE TABLE image_tags (
    image_id TEXT NOT NULL REFERENCES images (id),
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);
CREATE INDEX image_tags_value ON image_tags (value);
CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES images (id),
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members (member)
