-- Deletions in key order: a continue page bounds its key range by the keys that existed at its
-- revision, and those deleted since are found here without walking every later change.
CREATE INDEX IF NOT EXISTS changes_deleted_key ON changes (grp, resource, namespace, name, rv) WHERE type = 'DELETED';
