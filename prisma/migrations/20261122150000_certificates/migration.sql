-- Certificates and TLS termination (docs/certificates.md).

-- Kinds: the platform CA, a tenant CA, leaves issued by a CA, self-signed leaves, uploads.
ALTER TABLE "certificates" DROP CONSTRAINT "certificates_kind_check";
ALTER TABLE "certificates" ADD CONSTRAINT "certificates_kind_check"
  CHECK ("kind" IN ('platform-ca', 'ca', 'issued', 'self-signed', 'uploaded'));
ALTER TABLE "certificates" ADD COLUMN "key_type" TEXT;
-- Issued automatically when a route switched to terminate without a certificate; replaced
-- automatically when the route's hostname changes.
ALTER TABLE "certificates" ADD COLUMN "auto" BOOLEAN NOT NULL DEFAULT false;

-- One platform CA; at most one CA per tenant; names unique per tenant.
CREATE UNIQUE INDEX "certificates_platform_ca_key" ON "certificates" ((true)) WHERE "kind" = 'platform-ca';
CREATE UNIQUE INDEX "certificates_tenant_ca_key" ON "certificates" ("tenant_id") WHERE "kind" = 'ca';
CREATE UNIQUE INDEX "certificates_tenant_id_name_key" ON "certificates" ("tenant_id", "name");

-- A certificate attached to a route cannot be deleted (the API says which routes use it);
-- NO ACTION rather than RESTRICT so that deleting a tenant (which cascades to both tables
-- in one statement) still works.
ALTER TABLE "routes" DROP CONSTRAINT "routes_certificate_id_fkey";
ALTER TABLE "routes" ADD CONSTRAINT "routes_certificate_id_fkey" FOREIGN KEY ("certificate_id")
  REFERENCES "certificates"("id") ON DELETE NO ACTION ON UPDATE CASCADE;
CREATE INDEX "routes_certificate_id_idx" ON "routes" ("certificate_id");

-- Terminate mode, upstream side: TLS or plaintext to the upstream, and an optional CA (PEM)
-- that the upstream's certificate must chain to (verification off when null).
ALTER TABLE "routes" ADD COLUMN "upstream_tls" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "routes" ADD COLUMN "upstream_ca" TEXT;
-- Terminate mode needs a certificate.
ALTER TABLE "routes" ADD CONSTRAINT "routes_terminate_certificate_check"
  CHECK ("tls_mode" <> 'terminate' OR "certificate_id" IS NOT NULL);
