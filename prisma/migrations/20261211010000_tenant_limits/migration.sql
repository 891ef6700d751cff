-- Per-tenant quotas set by the platform admin (docs/accounts.md "Limits"): how many databases
-- the tenant may register, how many may have external access enabled at once, and how many
-- dedicated ports it may hold. Null is no limit, the default for existing and new tenants.
-- Checked in the transaction of each change that grows usage, with the tenant row locked.
ALTER TABLE "tenants" ADD COLUMN "max_databases" INTEGER,
ADD COLUMN "max_external_access" INTEGER,
ADD COLUMN "max_dedicated_ports" INTEGER;
