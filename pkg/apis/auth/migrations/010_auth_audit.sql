-- The audit trail of the auth group: every write and every refused request (who, what, result).
-- Append-only; read back newest first through auditevents.auth.tkestack.io.
CREATE TABLE IF NOT EXISTS auth_audit_events (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  tenant_id    text NOT NULL,
  username     text NOT NULL,
  groups       text[] NOT NULL DEFAULT '{}',
  verb         text NOT NULL,
  api_group    text NOT NULL DEFAULT '',
  resource     text NOT NULL DEFAULT '',
  subresource  text NOT NULL DEFAULT '',
  namespace    text NOT NULL DEFAULT '',
  name         text NOT NULL DEFAULT '',
  action       text NOT NULL DEFAULT '',
  tke_resource text NOT NULL DEFAULT '',
  decision     text NOT NULL,
  reason       text NOT NULL DEFAULT '',
  code         integer NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_audit_events_tenant_id ON auth_audit_events (tenant_id, id DESC);
