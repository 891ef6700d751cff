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
