-- The storage layer: current objects, the change log every watch reads, and the
-- single-row revision counter whose row lock orders all writes (see pkg/storage/postgres.ts).

-- COLLATE "C" makes list order (namespace, name) byte order, identical on every server
-- regardless of the database's locale, so continue tokens compare the same everywhere.
CREATE TABLE IF NOT EXISTS objects (
  grp       text COLLATE "C" NOT NULL,
  resource  text COLLATE "C" NOT NULL,
  namespace text COLLATE "C" NOT NULL,
  name      text COLLATE "C" NOT NULL,
  rv        bigint NOT NULL,
  obj       jsonb  NOT NULL,
  PRIMARY KEY (grp, resource, namespace, name)
);

CREATE TABLE IF NOT EXISTS changes (
  rv        bigint PRIMARY KEY,
  grp       text COLLATE "C" NOT NULL,
  resource  text COLLATE "C" NOT NULL,
  namespace text COLLATE "C" NOT NULL,
  name      text COLLATE "C" NOT NULL,
  type      text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
  -- For DELETED: the last state, with the deletion's rv as metadata.resourceVersion.
  obj       jsonb NOT NULL,
  -- The change this one replaced (NULL for ADDED); watch events carry its object as prevObject.
  prev_rv   bigint
);

-- Snapshot reads (latest entry per key at a revision) and compaction.
CREATE INDEX IF NOT EXISTS changes_key_rv ON changes (grp, resource, namespace, name, rv);
-- Watch catch-up of one resource, and "did this resource change after R" for list paging.
CREATE INDEX IF NOT EXISTS changes_resource_rv ON changes (grp, resource, rv);

-- The newest committed revision. Writers lock this row for the rest of their transaction.
CREATE TABLE IF NOT EXISTS revision (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  rv bigint NOT NULL
);
INSERT INTO revision (id, rv) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- Change-log entries needed to reconstruct any revision >= rv are retained; older ones may
-- be gone. A separate row from the counter so compaction never waits for writers.
CREATE TABLE IF NOT EXISTS compaction (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  rv bigint NOT NULL
);
INSERT INTO compaction (id, rv) VALUES (true, 0) ON CONFLICT DO NOTHING;
