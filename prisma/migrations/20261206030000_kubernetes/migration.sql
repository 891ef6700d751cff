-- Kubernetes: who owns a database and its route, and the services the controller discovered.
--
-- owner = 'api': created through the REST API (or the dashboard); anyone with the role may
-- change it. owner = 'kubernetes': declared by a Kubernetes object (ExternalAccess or
-- TLSRoute); only the controller acting for that object (same uid) may change it, the API
-- answers 409 SY_KUBERNETES_OWNED naming the object.
ALTER TABLE "databases" ADD COLUMN "owner" TEXT NOT NULL DEFAULT 'api';
ALTER TABLE "databases" ADD COLUMN "owner_kind" TEXT;
ALTER TABLE "databases" ADD COLUMN "owner_namespace" TEXT;
ALTER TABLE "databases" ADD COLUMN "owner_name" TEXT;
ALTER TABLE "databases" ADD COLUMN "owner_uid" TEXT;
ALTER TABLE "databases" ADD CONSTRAINT "databases_owner_check" CHECK (
  ("owner" = 'api' AND "owner_kind" IS NULL AND "owner_namespace" IS NULL AND "owner_name" IS NULL AND "owner_uid" IS NULL)
  OR ("owner" = 'kubernetes' AND "owner_kind" IN ('ExternalAccess', 'TLSRoute') AND "owner_namespace" IS NOT NULL AND "owner_name" IS NOT NULL AND "owner_uid" IS NOT NULL)
);
CREATE INDEX "databases_owner_uid_idx" ON "databases"("owner_uid") WHERE "owner" = 'kubernetes';

-- A route records the same owner as its database (set in the same transaction as the route).
ALTER TABLE "routes" ADD COLUMN "owner" TEXT NOT NULL DEFAULT 'api';
ALTER TABLE "routes" ADD COLUMN "owner_kind" TEXT;
ALTER TABLE "routes" ADD COLUMN "owner_namespace" TEXT;
ALTER TABLE "routes" ADD COLUMN "owner_name" TEXT;
ALTER TABLE "routes" ADD COLUMN "owner_uid" TEXT;
ALTER TABLE "routes" ADD CONSTRAINT "routes_owner_check" CHECK (
  ("owner" = 'api' AND "owner_kind" IS NULL AND "owner_namespace" IS NULL AND "owner_name" IS NULL AND "owner_uid" IS NULL)
  OR ("owner" = 'kubernetes' AND "owner_kind" IN ('ExternalAccess', 'TLSRoute') AND "owner_namespace" IS NOT NULL AND "owner_name" IS NOT NULL AND "owner_uid" IS NOT NULL)
);

-- Services of a tenant's namespaces as the controller last saw them (replaced per tenant on
-- every full sync; only written by the active controller replica with a synced cache).
CREATE TABLE "discovered_services" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "tenant_id" UUID NOT NULL REFERENCES "tenants"("id") ON DELETE CASCADE,
  "namespace" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "engine" TEXT NOT NULL,
  -- Why the engine was inferred: e.g. "cnpg.io/cluster=orders (-rw)", "port 6379".
  "engine_reason" TEXT NOT NULL,
  -- The cluster DNS name of the Service (<name>.<namespace>.svc.cluster.local).
  "host" TEXT NOT NULL,
  "port" INTEGER NOT NULL,
  -- [{ "name": string|null, "port": number, "protocol": string }]
  "ports" JSONB NOT NULL DEFAULT '[]',
  -- Ready endpoints from the EndpointSlices: [{ "host": string, "port": number }]
  "ready_endpoints" JSONB NOT NULL DEFAULT '[]',
  "role" TEXT,
  "observed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  CONSTRAINT "discovered_services_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "discovered_services_engine_check" CHECK ("engine" IN ('postgres', 'redis', 'mongodb', 'kubernetes-api', 'tls', 'http')),
  CONSTRAINT "discovered_services_port_check" CHECK ("port" BETWEEN 1 AND 65535)
);
CREATE UNIQUE INDEX "discovered_services_tenant_id_namespace_name_key" ON "discovered_services"("tenant_id", "namespace", "name");
