-- What guests and their consoles need: the password a guest posts to the metadata
-- service (Nova keeps it in system metadata), and console tokens (Nova's
-- console_auth_tokens: a hash of the token, the VNC server it opens, its expiry).
ALTER TABLE instances ADD COLUMN password TEXT;
CREATE TABLE console_tokens (
    token_hash TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX console_tokens_instance ON console_tokens (instance_id);
