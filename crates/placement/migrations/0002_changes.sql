CREATE TABLE placement_changes (
    id BIGINT PRIMARY KEY,
    counter BIGINT NOT NULL,
    structure BIGINT NOT NULL
);
INSERT INTO placement_changes (id, counter, structure) VALUES (1, 0, 0)
