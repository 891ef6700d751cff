-- Other tenants' upstream namespaces, read by key (apps/api/src/modules/databases/
-- upstream-namespaces.ts). A database's upstream is refused inside another tenant's more
-- specific suffix or CIDR; the tenants that could do that are those holding one of the host's
-- label suffixes or one of the address's networks, exactly as stored (policies are normalised
-- on write), which these indexes answer with array overlap (`&&`) instead of reading every
-- tenant's policy on each database write (docs/performance.md "Tenants at scale").
CREATE INDEX "tenants_allowed_upstream_suffixes_idx" ON "tenants" USING GIN ("allowed_upstream_suffixes");
CREATE INDEX "tenants_allowed_upstream_cidrs_idx" ON "tenants" USING GIN ("allowed_upstream_cidrs");
