-- Connection events: typed client addresses (CIDR filters, no 'unknown' strings) and
-- indexes for the query API (docs/audit.md shows the plans on 10 million rows).

-- Client addresses as inet; NULL where the socket had none.
ALTER TABLE "connection_events" ALTER COLUMN "client_address" DROP NOT NULL;
ALTER TABLE "connection_events"
  ALTER COLUMN "client_address" TYPE INET USING NULLIF("client_address", 'unknown')::inet;

-- Per-tenant listing (keyset pagination on started_at, id) and per-interval aggregates. The
-- INCLUDE columns make the aggregate query an index-only scan: it never visits the heap.
DROP INDEX "connection_events_tenant_id_started_at_id_idx";
CREATE INDEX "connection_events_tenant_id_started_at_id_idx" ON "connection_events"
  ("tenant_id", "started_at" DESC, "id" DESC)
  INCLUDE ("database_id", "outcome", "reason", "bytes_in", "bytes_out");

-- Platform-wide time ranges (including unrouted connections, which have no tenant): events
-- are appended in time order, so a BRIN index is tiny and effective.
CREATE INDEX "connection_events_started_at_brin_idx" ON "connection_events" USING BRIN ("started_at");
