-- The bootstrap admin's bearer tokens. Only a SHA-256 of each token is stored: the token itself
-- lives in <data-dir>/admin.token. Every server data dir sharing this database adds its own row,
-- so each admin kubeconfig works against every replica.
CREATE TABLE IF NOT EXISTS bootstrap_tokens (
  token_sha256 text PRIMARY KEY,
  username     text NOT NULL,
  groups       text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now()
);
