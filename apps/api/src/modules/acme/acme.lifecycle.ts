/**
 * An ACME certificate follows its route (docs/certificates.md "ACME"): it exists only for the
 * host name of an **enabled terminate-mode route** of its tenant. Every change that takes a
 * host name away from such a route calls `releaseAcmeCertificates` inside its own
 * transaction, before the version bump (the bump must stay the last statement):
 *
 *  - the route deleted: `DatabasesService.delete`, `TenantsService.delete` (the Kubernetes
 *    controller deletes through the former);
 *  - the route disabled, renamed or switched to passthrough: `ExternalAccessService.write`
 *    (`put`, `putBatch`, the controller's applies);
 *  - the route given another certificate (`certificateId` in that PUT): the tenant chose what
 *    it serves, and the worker would otherwise keep renewing a certificate nobody serves (and
 *    attach a first one over the choice).
 *
 * Without it the worker kept ordering and renewing for a name nothing routes to (or failed it
 * for good), and the name could not be requested again (`acme_certificates.hostname` is
 * unique: SY_ACME_EXISTS).
 *
 * The issued certificate the row points to is not touched: it is a tenant certificate of kind
 * `acme` like any other, still attached to a route that was only disabled or switched to
 * passthrough, and it goes by the certificate rules (`DELETE …/certificates/:id`, refused while
 * a route uses it; with its tenant).
 */
import type { TxClient } from '@switchyard/db';
import type { Actor } from '../../lib/access.js';
import { recordAudits, type AuditEntry } from '../audit/audit.service.js';

/** Why the route no longer wants the certificate (the audit event's `reason`). */
export type AcmeReleaseReason = 'database-deleted' | 'tenant-deleted' | 'route-disabled' | 'hostname-changed' | 'tls-mode-changed' | 'certificate-replaced';

export interface ReleasedHostname {
  hostname: string;
  reason: AcmeReleaseReason;
  /** Kept if this is the certificate it issued (the route was given that one back). */
  unlessIssued?: string;
}

/**
 * Deletes the ACME certificates (and their pending challenges) of these host names, with an
 * `acme.delete` audit event each; with `audits`, the events are collected there instead (a
 * batch writes them in one statement). Returns how many were deleted.
 */
export async function releaseAcmeCertificates(tx: TxClient, actor: Actor, gone: readonly ReleasedHostname[], audits?: AuditEntry[]): Promise<number> {
  if (gone.length === 0) return 0;
  const reasons = new Map(gone.map((g) => [g.hostname, g.reason]));
  const kept = new Map(gone.map((g) => [g.hostname, g.unlessIssued]));
  const rows = (await tx.acmeCertificate.findMany({ where: { hostname: { in: [...reasons.keys()] } }, select: { id: true, tenantId: true, hostname: true, state: true, certificateId: true } })).filter(
    (r) => r.certificateId === null || r.certificateId !== kept.get(r.hostname),
  );
  if (rows.length === 0) return 0;
  const ids = rows.map((r) => r.id);
  // Challenges would go with the row (ON DELETE CASCADE); deleted first, explicitly, so no
  // proxy keeps answering one for a name whose route is going.
  await tx.acmeChallenge.deleteMany({ where: { acmeCertificateId: { in: ids } } });
  await tx.acmeCertificate.deleteMany({ where: { id: { in: ids } } });
  const entries: AuditEntry[] = rows.map((r) => ({
    tenantId: r.tenantId,
    action: 'acme.delete',
    targetType: 'acme-certificate',
    targetId: r.id,
    changes: {
      hostname: { from: r.hostname, to: null },
      state: { from: r.state, to: null },
      reason: { from: null, to: reasons.get(r.hostname)! },
      // The issued certificate stays (see above); named so the trail says where it went.
      ...(r.certificateId ? { keptCertificate: { from: null, to: r.certificateId } } : {}),
    },
  }));
  if (audits) audits.push(...entries);
  else await recordAudits(tx, actor, entries);
  return rows.length;
}
