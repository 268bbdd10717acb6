-- Wrong-password counts per (tenant, user), shared by every replica so that spreading guesses over
-- replicas does not multiply them. Times are epoch milliseconds of the deciding replica's clock.
CREATE TABLE IF NOT EXISTS auth_login_failures (
  tenant_id       text   NOT NULL,
  username        text   NOT NULL,
  failures        integer NOT NULL DEFAULT 0,
  locked_until_ms bigint NOT NULL DEFAULT 0,
  updated_ms      bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, username)
);
