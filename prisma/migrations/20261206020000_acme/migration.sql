-- ACME certificates (docs/certificates.md "ACME"): publicly trusted leaves ordered from an
-- RFC 8555 CA, challenges answered by the proxies themselves.

-- Issued ACME leaves are ordinary certificate rows of kind 'acme' (attached to routes, replaced
-- in place on renewal like any other certificate).
ALTER TABLE "certificates" DROP CONSTRAINT "certificates_kind_check";
ALTER TABLE "certificates" ADD CONSTRAINT "certificates_kind_check"
  CHECK ("kind" IN ('platform-ca', 'ca', 'issued', 'self-signed', 'uploaded', 'acme'));

-- The ACME account per directory URL: the key is generated once, sealed with the keyring
-- (AAD = directory URL), and reused for every order.
CREATE TABLE "acme_accounts" (
  "directory_url" TEXT PRIMARY KEY,
  "key_ciphertext" TEXT NOT NULL,
  "account_url" TEXT,
  "email" TEXT,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);

-- One ACME certificate per route host name: what the background worker orders, validates
-- and renews. `state`: pending (waiting for the worker) → validating (order in flight) →
-- issued | failed. `problem`: the CA's problem document of the last failure.
CREATE TABLE "acme_certificates" (
  "id" UUID PRIMARY KEY,
  "tenant_id" UUID NOT NULL REFERENCES "tenants"("id") ON DELETE CASCADE,
  "hostname" TEXT NOT NULL,
  "challenge_type" TEXT NOT NULL CHECK ("challenge_type" IN ('tls-alpn-01', 'http-01')),
  "state" TEXT NOT NULL CHECK ("state" IN ('pending', 'validating', 'issued', 'failed')),
  "certificate_id" UUID REFERENCES "certificates"("id") ON DELETE SET NULL,
  "problem" JSONB,
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "next_attempt_at" TIMESTAMPTZ(3),
  "renew_at" TIMESTAMPTZ(3),
  "last_issued_at" TIMESTAMPTZ(3),
  "order_url" TEXT,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX "acme_certificates_hostname_key" ON "acme_certificates" ("hostname");
CREATE INDEX "acme_certificates_tenant_id_idx" ON "acme_certificates" ("tenant_id");
CREATE INDEX "acme_certificates_due_idx" ON "acme_certificates" ("next_attempt_at");

-- Pending challenges, read by the proxies with the route snapshot (joined by host name) and
-- propagated with a route config-version bump. The TLS-ALPN-01 key is sealed with the keyring
-- (AAD = challenge id).
CREATE TABLE "acme_challenges" (
  "id" UUID PRIMARY KEY,
  "acme_certificate_id" UUID NOT NULL REFERENCES "acme_certificates"("id") ON DELETE CASCADE,
  "hostname" TEXT NOT NULL,
  "type" TEXT NOT NULL CHECK ("type" IN ('tls-alpn-01', 'http-01')),
  "token" TEXT NOT NULL,
  "key_authorization" TEXT NOT NULL,
  "cert_pem" TEXT,
  "key_ciphertext" TEXT,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX "acme_challenges_hostname_key" ON "acme_challenges" ("hostname");

-- What the rate limits count (orders, issued certificates, failed validations), kept 8 days.
CREATE TABLE "acme_events" (
  "id" BIGSERIAL PRIMARY KEY,
  "hostname" TEXT NOT NULL,
  "registered_domain" TEXT NOT NULL,
  "kind" TEXT NOT NULL CHECK ("kind" IN ('order', 'issued', 'failed_validation')),
  "reason" TEXT,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now()
);
CREATE INDEX "acme_events_domain_idx" ON "acme_events" ("registered_domain", "kind", "created_at");
CREATE INDEX "acme_events_hostname_idx" ON "acme_events" ("hostname", "kind", "created_at");

-- Exactly one worker across API replicas: a lease renewed while it runs.
CREATE TABLE "acme_worker_lease" (
  "id" INTEGER PRIMARY KEY CHECK ("id" = 1),
  "holder" TEXT NOT NULL,
  "expires_at" TIMESTAMPTZ(3) NOT NULL
);
