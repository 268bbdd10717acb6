-- Indexes for the field equalities that admission checks push into Transaction.list (the
-- `fields` option filters on obj #>> path). They run inside quota and claim locks, so a scan
-- of every project or every namespace there would serialize all writers behind it.
-- The expressions must stay spelled exactly as postgres.ts builds them for the planner to match
-- them. Partial (an equality implies NOT NULL), so objects without the field cost no index entry.

-- Child projects of a project: readAllocations and the last step of a project's deletion.
CREATE INDEX IF NOT EXISTS objects_spec_parent_project ON objects (grp, resource, (obj #>> '{spec,parentProjectName}'::text[]))
  WHERE (obj #>> '{spec,parentProjectName}'::text[]) IS NOT NULL;
-- Who claims a Kubernetes namespace of a cluster: namespace admission.
CREATE INDEX IF NOT EXISTS objects_spec_namespace ON objects (grp, resource, (obj #>> '{spec,namespace}'::text[]))
  WHERE (obj #>> '{spec,namespace}'::text[]) IS NOT NULL;
