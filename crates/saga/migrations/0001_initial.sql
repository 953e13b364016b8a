CREATE TABLE sagas (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    owner TEXT,
    lease_until BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sagas_unfinished ON sagas (service, state);
CREATE TABLE saga_steps (
    saga_id TEXT NOT NULL REFERENCES sagas (id),
    step BIGINT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    output TEXT,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (saga_id, step)
)
