-- Control orders (terminate a connection) are kept, not only NOTIFYed: a proxy whose LISTEN
-- connection is reconnecting when the API commits an order reads the pending orders for
-- itself after LISTEN is back (docs/proxy.md "Terminating a connection"). NOTIFY stays the
-- fast path; the row's id makes applying an order idempotent (whichever path arrives first).
-- Orders expire after a bound: a connection that outlived it got its order or is gone.
CREATE TABLE "control_orders" (
  "id"            BIGSERIAL PRIMARY KEY,
  "proxy_id"      TEXT NOT NULL,
  -- The proxy process (its heartbeat row's started_at): connection ids restart with a
  -- process, so a restarted proxy must not apply an order meant for its predecessor.
  "proxy_started_at" TIMESTAMPTZ(3) NOT NULL,
  "op"            TEXT NOT NULL,
  "connection_id" TEXT NOT NULL,
  "ended_by"      TEXT NOT NULL,
  "created_at"    TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "expires_at"    TIMESTAMPTZ(3) NOT NULL
);
-- A proxy's catch-up read: its unexpired orders.
CREATE INDEX "control_orders_proxy_id_expires_at_idx" ON "control_orders" ("proxy_id", "expires_at");
-- Pruning of expired orders (done by the API when it writes one).
CREATE INDEX "control_orders_expires_at_idx" ON "control_orders" ("expires_at");

-- Top client addresses under an outcome filter (refusals, failures) read the partial index of
-- failed connections; with client_address (and database_id) in its INCLUDE that is an
-- index-only scan instead of a heap visit per event (docs/performance.md "Connection events
-- at 1 million rows"). Failed connections are a small share, so the index stays small.
DROP INDEX "connection_events_failed_started_at_id_idx";
CREATE INDEX "connection_events_failed_started_at_id_idx" ON "connection_events" ("started_at" DESC, "id" DESC)
  INCLUDE ("tenant_id", "database_id", "outcome", "reason", "client_address") WHERE "outcome" <> 'ok';
