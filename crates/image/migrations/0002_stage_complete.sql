ALTER TABLE images ADD COLUMN stage_complete BIGINT NOT NULL DEFAULT 0;
UPDATE images SET stage_complete = 1 WHERE status = 'uploading' AND size IS NOT NULL
