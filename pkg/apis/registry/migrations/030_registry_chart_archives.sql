-- Chart archives of the chart repository (/chart/...), one row per chart version. They live in
-- PostgreSQL beside the objects that describe them so every replica serves the same charts
-- without a shared file system; the server caps an archive at 10 MiB, as PostgreSQL keeps bytea
-- values out of line (TOAST) and charts are small. Rows belong to a chart group by its uid, so a
-- group deleted and made again under the same name starts empty.
CREATE TABLE IF NOT EXISTS registry_chart_archives (
  chart_group_uid text    NOT NULL,
  name            text    NOT NULL,
  version         text    NOT NULL,
  file_name       text    NOT NULL,
  digest          text    NOT NULL,
  size            integer NOT NULL,
  metadata        jsonb   NOT NULL,
  content         bytea   NOT NULL,
  created_ms      bigint  NOT NULL,
  PRIMARY KEY (chart_group_uid, name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS registry_chart_archives_file ON registry_chart_archives (chart_group_uid, file_name);
