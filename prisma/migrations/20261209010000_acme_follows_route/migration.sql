-- An ACME certificate follows its route (docs/certificates.md "ACME", acme.lifecycle.ts):
-- from now on the change that deletes, disables, renames or switches a route to passthrough
-- deletes the ACME certificate of its host name. Rows left behind before (no enabled
-- terminate-mode route of the same tenant under the name) are deleted here, each with an
-- audit event; their challenges go by ON DELETE CASCADE, issued certificates stay.
WITH gone AS (
  DELETE FROM "acme_certificates" a
   WHERE NOT EXISTS (
     SELECT 1 FROM "routes" r
      WHERE r."hostname" = a."hostname" AND r."tenant_id" = a."tenant_id" AND r."enabled" AND r."tls_mode" = 'terminate'
   )
  RETURNING a."id", a."tenant_id", a."hostname", a."state", a."certificate_id"
)
INSERT INTO "audit_events" ("actor_type", "actor_id", "tenant_id", "action", "target_type", "target_id", "changes")
SELECT 'system', 'migration 20261209010000_acme_follows_route', "tenant_id", 'acme.delete', 'acme-certificate', "id"::text,
       jsonb_build_object('hostname', jsonb_build_object('from', "hostname", 'to', NULL),
                          'state', jsonb_build_object('from', "state", 'to', NULL),
                          'reason', jsonb_build_object('from', NULL, 'to', 'route-gone'))
       || CASE WHEN "certificate_id" IS NULL THEN '{}'::jsonb
               ELSE jsonb_build_object('keptCertificate', jsonb_build_object('from', NULL, 'to', "certificate_id"::text)) END
  FROM gone;
