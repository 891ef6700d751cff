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
-- in order; without this a first page sorts every event of the range).
CREATE INDEX "connection_events_started_at_id_idx" ON "connection_events" ("started_at" DESC, "id" DESC);
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
-- takes most of a second; the rollup has at most one row per hour, tenant, database, outcome
-- and reason. Maintained by a statement-level trigger, so a proxy's batch insert (one
-- statement, thousands of rows) costs one grouped upsert, in key order (concurrent writers
-- lock rows in the same order and cannot deadlock).
CREATE TABLE "connection_event_rollups" (
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
  ("bucket", "tenant_id", "database_id", "outcome", "reason") NULLS NOT DISTINCT;
CREATE INDEX "connection_event_rollups_tenant_bucket_idx" ON "connection_event_rollups" ("tenant_id", "bucket");

CREATE FUNCTION "connection_event_rollup"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO connection_event_rollups AS r (bucket, tenant_id, database_id, outcome, reason, connections, bytes_in, bytes_out)
  SELECT date_trunc('hour', n.started_at), n.tenant_id, n.database_id, n.outcome, n.reason, count(*), sum(n.bytes_in), sum(n.bytes_out)
    FROM new_rows n
   GROUP BY 1, 2, 3, 4, 5
   ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (bucket, tenant_id, database_id, outcome, reason) DO UPDATE
    SET connections = r.connections + EXCLUDED.connections,
        bytes_in = r.bytes_in + EXCLUDED.bytes_in,
        bytes_out = r.bytes_out + EXCLUDED.bytes_out;
  RETURN NULL;
END $$;

CREATE TRIGGER "connection_events_rollup" AFTER INSERT ON "connection_events"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "connection_event_rollup"();

-- Events written before this migration.
INSERT INTO connection_event_rollups (bucket, tenant_id, database_id, outcome, reason, connections, bytes_in, bytes_out)
SELECT date_trunc('hour', started_at), tenant_id, database_id, outcome, reason, count(*), sum(bytes_in), sum(bytes_out)
  FROM connection_events GROUP BY 1, 2, 3, 4, 5;
