ALTER TABLE users ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE project ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE domain ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
CREATE INDEX assignment_actor ON assignment (actor_type, actor_id);
CREATE INDEX user_group_user ON user_group (user_id);
CREATE INDEX project_parent ON project (parent_id)
