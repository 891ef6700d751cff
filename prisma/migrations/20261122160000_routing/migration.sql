-- Routing and upstreams: several endpoints per database with a balancing policy and active
-- health checks; per-route PROXY protocol to the upstream, destination-address routing,
-- egress source addresses; plain HTTP databases routed by Host.

ALTER TABLE "databases" DROP CONSTRAINT "databases_engine_check";
ALTER TABLE "databases" ADD CONSTRAINT "databases_engine_check"
  CHECK ("engine" IN ('postgres', 'redis', 'mongodb', 'kubernetes-api', 'tls', 'http'));

ALTER TABLE "databases" ADD COLUMN "balance_policy" TEXT NOT NULL DEFAULT 'round-robin';
ALTER TABLE "databases" ADD CONSTRAINT "databases_balance_policy_check"
  CHECK ("balance_policy" IN ('round-robin', 'least-connections', 'source-hash'));
-- {"type": "tcp"|"tls", "intervalMs", "timeoutMs", "rise", "fall"}; NULL: no active checks.
ALTER TABLE "databases" ADD COLUMN "health_check" JSONB;

ALTER TABLE "routes" ADD COLUMN "proxy_protocol" TEXT;
ALTER TABLE "routes" ADD CONSTRAINT "routes_proxy_protocol_check" CHECK ("proxy_protocol" IN ('v1', 'v2'));
-- Canonical "address:port" ("[v6]:port") a destination listener maps to this route.
ALTER TABLE "routes" ADD COLUMN "destination" TEXT;
CREATE UNIQUE INDEX "routes_destination_key" ON "routes"("destination");
-- Local address upstream connections leave from (static egress source IP).
ALTER TABLE "routes" ADD COLUMN "source_address" TEXT;
ALTER TABLE "routes" ADD CONSTRAINT "routes_dedicated_port_check" CHECK ("dedicated_port" BETWEEN 1 AND 65535);

-- The endpoint ("host:port") a connection was forwarded to, when it reached one.
ALTER TABLE "connection_events" ADD COLUMN "upstream" TEXT;
