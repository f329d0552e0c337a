-- One commit of a tracker group: $1 group, $2 upserted rows (jsonb array of documents),
-- $3 removed names, $4 now, $5 recorded ids, $6 prune old ids?, $7 prune ids applied at or before.
-- The store fills in every value as a literal (tracker-sql.ts) and sends this with COMMIT.
-- Returns the new version and xmin (this transaction), the key of the store's rows cache.
WITH up AS (
  INSERT INTO {s}trackers (group_id, name, seq, type, schema_version, definition, state, progress, current_stage,
                           limited, completed_at, expires_at, version, created_at, updated_at)
  SELECT $1, r.name, r.seq, r.type, r."schemaVersion", r.definition, r.state,
         (r.state->>'progress')::double precision, (r.state->>'stageIndex')::integer + 1,
         (r.state->>'limited')::boolean, (r.state->>'completedAt')::double precision,
         r."expiresAt", r.version, r."createdAt", r."updatedAt"
  FROM jsonb_to_recordset($2::jsonb) AS r(name text, seq bigint, type text, "schemaVersion" integer, definition jsonb,
       state jsonb, "expiresAt" double precision, version bigint, "createdAt" double precision, "updatedAt" double precision)
  ON CONFLICT (group_id, name) DO UPDATE SET
    seq = excluded.seq, type = excluded.type, schema_version = excluded.schema_version,
    definition = excluded.definition, state = excluded.state, progress = excluded.progress,
    current_stage = excluded.current_stage, limited = excluded.limited, completed_at = excluded.completed_at,
    expires_at = excluded.expires_at, version = excluded.version, created_at = excluded.created_at,
    updated_at = excluded.updated_at
  RETURNING 1
), del AS (
  DELETE FROM {s}trackers WHERE group_id = $1 AND name = ANY($3::text[]) RETURNING 1
), ids AS (
  INSERT INTO {s}tracker_event_ids (group_id, event_id, applied_at)
  SELECT $1, x, $4 FROM unnest($5::text[]) AS x
  ON CONFLICT (group_id, event_id) DO UPDATE SET applied_at = excluded.applied_at
  RETURNING 1
), pruned AS (
  DELETE FROM {s}tracker_event_ids
  WHERE $6::boolean AND group_id = $1 AND applied_at <= $7 AND NOT (event_id = ANY($5::text[]))
  RETURNING 1
)
UPDATE {s}tracker_groups
SET version = version + 1, next_seq = GREATEST(next_seq, (SELECT COALESCE(MAX(r.seq), 0) + 1 FROM jsonb_to_recordset($2::jsonb) AS r(seq bigint)))
WHERE group_id = $1
RETURNING version::double precision AS version, xmin::text AS tag
