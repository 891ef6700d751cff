-- Terminate mode with upstream TLS: the name the proxy sends as SNI to the upstream and checks
-- its certificate against (docs/proxy.md "Upstream TLS"). Null keeps the previous behaviour:
-- the upstream's host name, and no SNI with an identity check against the address when the
-- upstream is an IP address (pod addresses from EndpointSlices, for example).
ALTER TABLE "routes" ADD COLUMN "upstream_server_name" TEXT;
