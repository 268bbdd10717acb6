-- Wrong-password counts per source as well as per account: a lock-out earned by guesses from one
-- address does not lock the user out everywhere. Rows with source '*' count the guesses of every
-- source the user has never logged in from (last_success_ms), so a distributed attack still meets
-- a limit that the user's own familiar machines are not held to.
ALTER TABLE auth_login_failures ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT '*';
ALTER TABLE auth_login_failures ADD COLUMN IF NOT EXISTS last_success_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE auth_login_failures DROP CONSTRAINT IF EXISTS auth_login_failures_pkey;
ALTER TABLE auth_login_failures ADD PRIMARY KEY (tenant_id, username, source);
