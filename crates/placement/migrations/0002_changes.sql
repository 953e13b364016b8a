CREATE TABLE placement_changes (
    id BIGINT PRIMARY KEY,
    counter BIGINT NOT NULL
);
INSERT INTO placement_changes (id, counter) VALUES (1, 0)
