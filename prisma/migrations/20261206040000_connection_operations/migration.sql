-- Connection operations (dashboard part 2): live connections reported by the proxies,
-- terminating one from the API, and indexes for every filter the connections page offers
-- (docs/performance.md "Connection events at 1 million rows").

-- The proxy-local id of the connection (`<worker>.<seq>`), so a live connection and its
-- final event can be matched, and who terminated it through the API (null otherwise).
ALTER TABLE "connection_events" ADD COLUMN "connection_id" TEXT;
ALTER TABLE "connection_events" ADD COLUMN "ended_by" TEXT;

-- Routed connections open on this proxy at its last heartbeat (capped list, newest first).
ALTER TABLE "proxy_instances" ADD COLUMN "connections" JSONB NOT NULL DEFAULT '[]';

-- Platform-wide listing in keyset order (the BRIN index finds a range but cannot return it
-- in order; without this a first page sorts every event of the range). The INCLUDE columns
-- make "top client addresses" an index-only scan.
CREATE INDEX "connection_events_started_at_id_idx" ON "connection_events" ("started_at" DESC, "id" DESC)
  INCLUDE ("tenant_id", "database_id", "outcome", "reason", "client_address");
-- The tenant index gains client_address for the same reason.
DROP INDEX "connection_events_tenant_id_started_at_id_idx";
CREATE INDEX "connection_events_tenant_id_started_at_id_idx" ON "connection_events"
  ("tenant_id", "started_at" DESC, "id" DESC)
  INCLUDE ("database_id", "outcome", "reason", "bytes_in", "bytes_out", "client_address");
-- Refused, failed and aborted connections are a small share of the traffic; what an admin
-- looks for (unknown SNI, policy refusals) is found without walking the successful ones.
CREATE INDEX "connection_events_failed_started_at_id_idx" ON "connection_events" ("started_at" DESC, "id" DESC)
  INCLUDE ("tenant_id", "outcome", "reason") WHERE "outcome" <> 'ok';
-- One host name (SNI) and one client address or network, at any selectivity.
CREATE INDEX "connection_events_sni_started_at_id_idx" ON "connection_events" ("sni", "started_at" DESC, "id" DESC);
CREATE INDEX "connection_events_client_address_idx" ON "connection_events" USING GIST ("client_address" inet_ops);
-- Any reason (a refusal an admin looks for, or a close reason), and one database, in keyset
-- order: a first page never walks the tenant's other events.
CREATE INDEX "connection_events_reason_started_at_id_idx" ON "connection_events" ("reason", "started_at" DESC, "id" DESC);
CREATE INDEX "connection_events_database_id_started_at_id_idx" ON "connection_events" ("database_id", "started_at" DESC, "id" DESC);

-- Hourly rollups for the charts. Aggregating a month of a busy tenant's events per request
-- takes most of a second. Three grains, so every chart the page offers reads few rows:
--   level 0: the platform total per hour, outcome and reason (tenant and database NULL);
--   level 1: per tenant (tenant NULL = unrouted connections);
--   level 2: per tenant and database.
-- Maintained by a statement-level trigger, so a proxy's batch insert (one statement,
-- thousands of rows) costs one grouped upsert, in key order (concurrent writers lock rows in
-- the same order and cannot deadlock).
CREATE TABLE "connection_event_rollups" (
  "level"       SMALLINT NOT NULL CHECK ("level" IN (0, 1, 2)),
  "bucket"      TIMESTAMPTZ(3) NOT NULL,
  "tenant_id"   UUID,
  "database_id" UUID,
  "outcome"     TEXT NOT NULL,
  "reason"      TEXT NOT NULL,
  "connections" BIGINT NOT NULL,
  "bytes_in"    BIGINT NOT NULL,
  "bytes_out"   BIGINT NOT NULL
);
CREATE UNIQUE INDEX "connection_event_rollups_key" ON "connection_event_rollups"
  ("level", "tenant_id", "database_id", "bucket", "outcome", "reason") NULLS NOT DISTINCT;

CREATE FUNCTION "connection_event_rollup"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO connection_event_rollups AS r (level, bucket, tenant_id, database_id, outcome, reason, connections, bytes_in, bytes_out)
  SELECT g.level, g.bucket, g.tenant_id, g.database_id, g.outcome, g.reason, sum(g.n), sum(g.bytes_in), sum(g.bytes_out)
    FROM (
      SELECT date_trunc('hour', n.started_at) AS bucket, n.tenant_id, n.database_id, n.outcome, n.reason,
             count(*) AS n, sum(n.bytes_in) AS bytes_in, sum(n.bytes_out) AS bytes_out
        FROM new_rows n GROUP BY 1, 2, 3, 4, 5
    ) x
    CROSS JOIN LATERAL (VALUES
      (0::int2, x.bucket, NULL::uuid, NULL::uuid, x.outcome, x.reason, x.n, x.bytes_in, x.bytes_out),
      (1::int2, x.bucket, x.tenant_id, NULL::uuid, x.outcome, x.reason, x.n, x.bytes_in, x.bytes_out),
      (2::int2, x.bucket, x.tenant_id, x.database_id, x.outcome, x.reason, x.n, x.bytes_in, x.bytes_out)
    ) AS g(level, bucket, tenant_id, database_id, outcome, reason, n, bytes_in, bytes_out)
   WHERE g.level < 2 OR g.database_id IS NOT NULL
   GROUP BY 1, 2, 3, 4, 5, 6
   ORDER BY 1, 3, 4, 2, 5, 6
  ON CONFLICT (level, tenant_id, database_id, bucket, outcome, reason) DO UPDATE
    SET connections = r.connections + EXCLUDED.connections,
        bytes_in = r.bytes_in + EXCLUDED.bytes_in,
        bytes_out = r.bytes_out + EXCLUDED.bytes_out;
  RETURN NULL;
END $$;

CREATE TRIGGER "connection_events_rollup" AFTER INSERT ON "connection_events"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "connection_event_rollup"();

-- Events written before this migration (the trigger's own statement over the whole table).
INSERT INTO connection_event_rollups (level, bucket, tenant_id, database_id, outcome, reason, connections, bytes_in, bytes_out)
SELECT l.level, date_trunc('hour', e.started_at),
       CASE WHEN l.level >= 1 THEN e.tenant_id END, CASE WHEN l.level = 2 THEN e.database_id END,
       e.outcome, e.reason, count(*), sum(e.bytes_in), sum(e.bytes_out)
  FROM connection_events e CROSS JOIN (VALUES (0::int2), (1::int2), (2::int2)) l(level)
 WHERE l.level < 2 OR e.database_id IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5, 6;
