-- RFC 9773 §4.3: when the worker fetches an issued certificate's renewalInfo again (the CA's
-- Retry-After, else 6 hours); null when the directory offers no renewalInfo.
ALTER TABLE "acme_certificates" ADD COLUMN "ari_check_at" TIMESTAMPTZ(3);
CREATE INDEX "acme_certificates_ari_check_idx" ON "acme_certificates" ("ari_check_at") WHERE "ari_check_at" IS NOT NULL;
