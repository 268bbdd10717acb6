-- The encryption keys that have sealed secret fields in this database, each with a value sealed
-- by it: a server given a different key under a known name, or none of the known keys, refuses
-- to start instead of failing to read (or silently mixing) secrets.
CREATE TABLE IF NOT EXISTS encryption_keys (
  name       text PRIMARY KEY,
  probe      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
