/**
 * Why a certificate cannot be deleted right now, or null: the same two refusals the API makes
 * (`SY_CERTIFICATE_IN_USE`), so the Delete button is disabled with the reason instead of
 * failing in a toast.
 */
import type { AcmeCertificate, Certificate } from './api';

export function deleteBlockedReason(c: Pick<Certificate, 'id' | 'routes'>, acme: ReadonlyArray<Pick<AcmeCertificate, 'hostname' | 'certificate'>>): string | null {
  if (c.routes.length > 0) return `In use by ${c.routes.map((r) => r.hostname).join(', ')}: switch those routes to another certificate first`;
  const renewing = acme.filter((a) => a.certificate?.id === c.id).map((a) => a.hostname);
  if (renewing.length > 0) return `Renewed by ACME for ${renewing.join(', ')}: delete that ACME certificate (below) first`;
  return null;
}
