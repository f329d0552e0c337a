-- counter-backend.sql: tables and functions of the PostgreSQL CounterBackend of SharedEventStore.
-- {{p}} is the table prefix (a plain identifier); the schema is the connection's search_path.
-- Installed by PostgresCounterBackend.install() under a transaction-scoped advisory lock; every
-- statement is idempotent (IF NOT EXISTS / OR REPLACE).
--
-- One row per event: the layout signature, the bucket-0 ordinal of every unit (ords), every unit's
-- ring concatenated in one array (slots: unit u holds slot (ordinal mod bc[u]) at off[u] + slot), the
-- first and last recorded instants and when the event expires (now + ttl at its last write: an
-- expired row reads as absent and is replaced by the next write). Reservations are rows of
-- {{p}}_pending; expired ones do not count and are purged by the writes of their event.
--
-- Every operation is ONE call of {{p}}_evaluate or {{p}}_settle: the function takes a transaction-
-- scoped advisory lock per event (in event id order, so two operations never deadlock, and an event
-- that does not exist yet is locked too), then locks the existing rows with SELECT ... FOR UPDATE,
-- evaluates and writes. Racing operations on one event therefore run one after the other, and N
-- processes calling checkAndRecord against atMost(L) admit exactly L.
-- A layout mismatch raises SQLSTATE TLY01. Signatures are compared without their leading version
-- token ("v3|" in "v3|<alignment>|<zone>|<unit>:<buckets>,..."): that token versions the Redis hash
-- layout, and the row layout here has not changed since v2, so rows of an earlier build are accepted
-- (their sig is rewritten to the current one when the operation writes the row anyway).

CREATE TABLE IF NOT EXISTS {{p}}_events (
  event_id text PRIMARY KEY,
  sig text NOT NULL,
  ords bigint[] NOT NULL,
  slots bigint[] NOT NULL,
  first_at double precision,
  last_at double precision,
  expires_at double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS {{p}}_pending (
  event_id text NOT NULL,
  token text NOT NULL,
  count bigint NOT NULL,
  created_at double precision NOT NULL,
  expires_at double precision NOT NULL,
  PRIMARY KEY (event_id, token)
);

-- op (jsonb): sig, ttl, bcs [bucket count per unit], now, ords [ordinal of now per unit],
--   ids [event ids], action "check" | "record" | "reserve", target (0-based), count,
--   reservation {id, ttlMs} | null, state "never" | "onDenial" | "always",
--   depth [[buckets to return per unit] per event], tests [BackendTest as JSON],
--   at, atOrds (record at a past instant: its epoch ms and ordinals per unit) | null.
-- Returns jsonb { passed, now, results [bool], events [state] | null, reservation {token, expiresAt} | null }
-- where a state is { exists, first, last, pending [{count, createdAt, expiresAt}], buckets [[..] per unit],
-- ahead [bucket 0's ordinal where the ring is ahead of now (the clock went back), else null, per unit] }.
CREATE OR REPLACE FUNCTION {{p}}_evaluate(op jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  sig text := op->>'sig';
  -- The signature without its version token (everything up to the first '|'): see the header.
  layout text := substr(sig, strpos(sig, '|') + 1);
  now_ms double precision := (op->>'now')::double precision;
  ttl double precision := (op->>'ttl')::double precision;
  action text := op->>'action';
  target int := (op->>'target')::int + 1;
  cnt bigint := (op->>'count')::bigint;
  n_ev int := jsonb_array_length(op->'ids');
  n_u int := jsonb_array_length(op->'bcs');
  bc int[];
  off int[];
  now_ord bigint[];
  total int := 0;
  ids text[];
  ex boolean[];
  firsts double precision[];
  lasts double precision[];
  base bigint[];
  s bigint[];
  pend_total bigint[];
  pend_newest double precision[];
  r record;
  e int;
  u int;
  i int;
  k int;
  stored bigint;
  gap bigint;
  results jsonb := '[]'::jsonb;
  passed boolean := true;
  ok boolean;
  t jsonb;
  term jsonb;
  w double precision;
  last_t double precision;
  at_ms double precision;
  any_unit boolean;
  slot int;
  v bigint;
  states jsonb := NULL;
  st jsonb;
  rows_json jsonb;
  row_json jsonb;
  reservation jsonb := NULL;
  res_ttl double precision;
  keep double precision;
  ahead jsonb;
BEGIN
  FOR u IN 1..n_u LOOP
    bc[u] := (op->'bcs'->>(u - 1))::int;
    off[u] := total;
    total := total + bc[u];
    now_ord[u] := (op->'ords'->>(u - 1))::bigint;
  END LOOP;
  FOR e IN 1..n_ev LOOP
    ids[e] := op->'ids'->>(e - 1);
  END LOOP;
  -- Lock every event in id order (advisory: also events that do not exist yet), then their rows.
  PERFORM pg_advisory_xact_lock(hashtext('{{p}}:' || x)) FROM (SELECT DISTINCT unnest(ids) AS x ORDER BY 1) q;
  s := array_fill(0::bigint, ARRAY[n_ev, total]);
  base := array_fill(0::bigint, ARRAY[n_ev, n_u]);
  FOR e IN 1..n_ev LOOP
    SELECT * INTO r FROM {{p}}_events WHERE event_id = ids[e] FOR UPDATE;
    ex[e] := FOUND;
    IF ex[e] AND r.expires_at <= now_ms THEN
      -- Expired: gone, as a Redis key would be (its reservations with it).
      DELETE FROM {{p}}_events WHERE event_id = ids[e];
      DELETE FROM {{p}}_pending WHERE event_id = ids[e];
      ex[e] := false;
    ELSIF ex[e] AND substr(r.sig, strpos(r.sig, '|') + 1) <> layout THEN
      RAISE EXCEPTION 'stored layout % differs from %', r.sig, sig USING ERRCODE = 'TLY01';
    END IF;
    IF ex[e] THEN
      firsts[e] := r.first_at;
      lasts[e] := r.last_at;
    END IF;
    FOR u IN 1..n_u LOOP
      IF ex[e] THEN
        stored := r.ords[u];
        base[e][u] := greatest(stored, now_ord[u]);
        FOR k IN 1..bc[u] LOOP
          s[e][off[u] + k] := r.slots[off[u] + k];
        END LOOP;
        -- Periods skipped since the last write read as 0 (rotation; written back only on a write).
        gap := base[e][u] - stored;
        IF gap >= bc[u] THEN
          FOR k IN 1..bc[u] LOOP s[e][off[u] + k] := 0; END LOOP;
        ELSIF gap > 0 THEN
          FOR k IN 1..gap LOOP
            s[e][off[u] + 1 + (((stored + k) % bc[u]) + bc[u]) % bc[u]] := 0;
          END LOOP;
        END IF;
      ELSE
        base[e][u] := now_ord[u];
      END IF;
    END LOOP;
    SELECT coalesce(sum(p.count), 0), max(p.created_at) INTO v, last_t
      FROM {{p}}_pending p WHERE p.event_id = ids[e] AND p.expires_at > now_ms;
    pend_total[e] := v;
    pend_newest[e] := last_t;
  END LOOP;

  FOR t IN SELECT * FROM jsonb_array_elements(coalesce(op->'tests', '[]'::jsonb)) LOOP
    e := (t->>'event')::int + 1;
    IF t->>'kind' = 'atMost' THEN
      w := 0;
      FOR term IN SELECT * FROM jsonb_array_elements(t->'terms') LOOP
        u := (term->>'unit')::int + 1;
        FOR i IN (term->>'from')::int..least((term->>'to')::int, bc[u] - 1) LOOP
          w := w + (term->>'weight')::double precision
            * s[e][off[u] + 1 + (((base[e][u] - i) % bc[u]) + bc[u]) % bc[u]];
        END LOOP;
      END LOOP;
      -- The slack of SLIDING_SLACK (sliding-estimate.ts): an estimate on the limit is decided alike everywhere.
      ok := w + pend_total[e] + (t->>'add')::double precision <= (t->>'limit')::double precision + 1e-6;
    ELSIF t->>'kind' = 'atLeast' THEN
      u := (t->>'unit')::int + 1;
      w := 0;
      FOR i IN 0..least((t->>'depth')::int, bc[u]) - 1 LOOP
        w := w + s[e][off[u] + 1 + (((base[e][u] - i) % bc[u]) + bc[u]) % bc[u]];
      END LOOP;
      ok := w >= (t->>'count')::double precision;
    ELSIF t->>'kind' = 'cooldown' THEN
      last_t := lasts[e];
      IF pend_newest[e] IS NOT NULL AND (last_t IS NULL OR pend_newest[e] > last_t) THEN last_t := pend_newest[e]; END IF;
      ok := last_t IS NULL OR greatest(now_ms - last_t, 0) >= (t->>'ms')::double precision;
    ELSIF t->>'kind' = 'within' THEN
      ok := lasts[e] IS NOT NULL AND greatest(now_ms - lasts[e], 0) <= (t->>'ms')::double precision;
    ELSE
      ok := (t->>'pass')::boolean;
    END IF;
    results := results || to_jsonb(ok);
    IF NOT ok THEN passed := false; END IF;
  END LOOP;

  IF passed AND action = 'record' THEN
    e := target;
    at_ms := coalesce((op->>'at')::double precision, now_ms);
    any_unit := op->'atOrds' IS NULL OR jsonb_typeof(op->'atOrds') = 'null';
    IF NOT any_unit THEN
      FOR u IN 1..n_u LOOP
        IF base[e][u] - (op->'atOrds'->>(u - 1))::bigint < bc[u] THEN any_unit := true; END IF;
      END LOOP;
    END IF;
    -- Count 0 only creates the event: on one that exists it writes nothing (no ring moves).
    IF any_unit AND (cnt > 0 OR NOT ex[e]) THEN
      IF cnt > 0 THEN
        FOR u IN 1..n_u LOOP
          i := 0;
          IF op->'atOrds' IS NOT NULL AND jsonb_typeof(op->'atOrds') <> 'null' THEN
            i := greatest(base[e][u] - (op->'atOrds'->>(u - 1))::bigint, 0);
          END IF;
          IF i < bc[u] THEN
            slot := off[u] + 1 + (((base[e][u] - i) % bc[u]) + bc[u]) % bc[u];
            s[e][slot] := least(s[e][slot] + cnt, 4294967295);
          END IF;
        END LOOP;
        IF firsts[e] IS NULL OR at_ms < firsts[e] THEN firsts[e] := at_ms; END IF;
        IF lasts[e] IS NULL OR at_ms > lasts[e] THEN lasts[e] := at_ms; END IF;
      END IF;
      INSERT INTO {{p}}_events AS x (event_id, sig, ords, slots, first_at, last_at, expires_at)
        VALUES (ids[e], sig, ARRAY(SELECT unnest(base[e:e][1:n_u])), ARRAY(SELECT unnest(s[e:e][1:total])),
          firsts[e], lasts[e], now_ms + ttl)
        ON CONFLICT (event_id) DO UPDATE SET sig = excluded.sig,
          ords = excluded.ords, slots = excluded.slots, first_at = excluded.first_at,
          last_at = excluded.last_at, expires_at = greatest(x.expires_at, excluded.expires_at);
      ex[e] := true;
    END IF;
  ELSIF passed AND action = 'reserve' THEN
    e := target;
    res_ttl := (op->'reservation'->>'ttlMs')::double precision;
    keep := now_ms + greatest(ttl, res_ttl + 1000);
    INSERT INTO {{p}}_events AS x (event_id, sig, ords, slots, first_at, last_at, expires_at)
      VALUES (ids[e], sig, ARRAY(SELECT unnest(base[e:e][1:n_u])), ARRAY(SELECT unnest(s[e:e][1:total])),
        firsts[e], lasts[e], keep)
      ON CONFLICT (event_id) DO UPDATE SET sig = excluded.sig, expires_at = greatest(x.expires_at, excluded.expires_at);
    ex[e] := true;
    DELETE FROM {{p}}_pending WHERE event_id = ids[e] AND expires_at <= now_ms;
    INSERT INTO {{p}}_pending (event_id, token, count, created_at, expires_at)
      VALUES (ids[e], op->'reservation'->>'id', cnt, now_ms, now_ms + res_ttl);
    reservation := jsonb_build_object('token', op->'reservation'->>'id', 'expiresAt', now_ms + res_ttl);
  END IF;

  IF op->>'state' = 'always' OR (op->>'state' = 'onDenial' AND NOT passed) THEN
    states := '[]'::jsonb;
    FOR e IN 1..n_ev LOOP
      rows_json := '[]'::jsonb;
      row_json := '[]'::jsonb;
      FOR u IN 1..n_u LOOP
        -- Where a ring is ahead of now (the clock went back), the period its bucket 0 holds.
        row_json := row_json || CASE WHEN base[e][u] > now_ord[u] THEN to_jsonb(base[e][u]) ELSE 'null'::jsonb END;
      END LOOP;
      ahead := row_json;
      FOR u IN 1..n_u LOOP
        row_json := '[]'::jsonb;
        FOR i IN 0..least(coalesce((op->'depth'->(e - 1)->>(u - 1))::int, 0), bc[u]) - 1 LOOP
          row_json := row_json || to_jsonb(s[e][off[u] + 1 + (((base[e][u] - i) % bc[u]) + bc[u]) % bc[u]]);
        END LOOP;
        rows_json := rows_json || jsonb_build_array(row_json);
      END LOOP;
      SELECT coalesce(jsonb_agg(jsonb_build_object('count', p.count, 'createdAt', p.created_at,
          'expiresAt', p.expires_at) ORDER BY p.expires_at), '[]'::jsonb)
        INTO st FROM {{p}}_pending p WHERE p.event_id = ids[e] AND p.expires_at > now_ms;
      states := states || jsonb_build_array(jsonb_build_object('exists', ex[e], 'first', firsts[e],
        'last', lasts[e], 'pending', st, 'buckets', rows_json, 'ahead', ahead));
    END LOOP;
  END IF;

  RETURN jsonb_build_object('passed', passed, 'now', now_ms, 'results', results, 'events', states,
    'reservation', reservation);
END
$$;

-- op (jsonb): the common fields of {{p}}_evaluate plus id, token, count, action "commit" | "cancel".
-- Removes the pending entry (and the expired ones of the event); "commit" then records count at now
-- (also when the entry had expired: the work happened). Returns { wasPending, now }.
CREATE OR REPLACE FUNCTION {{p}}_settle(op jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  now_ms double precision := (op->>'now')::double precision;
  id text := op->>'id';
  expires double precision;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('{{p}}:' || id));
  PERFORM 1 FROM {{p}}_events WHERE event_id = id FOR UPDATE;
  DELETE FROM {{p}}_pending WHERE event_id = id AND token = op->>'token' RETURNING expires_at INTO expires;
  DELETE FROM {{p}}_pending WHERE event_id = id AND expires_at <= now_ms;
  IF op->>'action' = 'commit' THEN
    PERFORM {{p}}_evaluate(op || jsonb_build_object('ids', jsonb_build_array(id), 'action', 'record',
      'target', 0, 'tests', '[]'::jsonb, 'state', 'never', 'depth', '[]'::jsonb));
  END IF;
  RETURN jsonb_build_object('wasPending', expires IS NOT NULL AND expires > now_ms, 'now', now_ms);
END
$$;
