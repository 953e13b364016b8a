-- A counter of the changes to what the scheduler reads of hosts (a service disabled,
-- enabled, forced down or deleted; a node deleted; aggregates and their hosts and
-- metadata), bumped in the transaction that makes one: a scheduler keeps the hosts it
-- read while the counter stays (new hosts and heartbeats are read again within a
-- second, without a bump).
CREATE TABLE compute_host_changes (
    id BIGINT PRIMARY KEY,
    counter BIGINT NOT NULL
);
INSERT INTO compute_host_changes (id, counter) VALUES (1, 0);
