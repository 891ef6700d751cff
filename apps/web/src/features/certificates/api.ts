/** Server state of certificates: list (soonest expiry first), issue, upload, replace, delete. */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../../lib/api/client';
import type { paths } from '../../lib/api/schema';

export type Certificate = paths['/api/v1/tenants/{tenant}/certificates/{certificateId}']['get']['responses'][200]['content']['application/json'];
export type IssueCertificate = paths['/api/v1/tenants/{tenant}/certificates']['post']['requestBody']['content']['application/json'];
export type UploadCertificate = paths['/api/v1/tenants/{tenant}/certificates/upload']['post']['requestBody']['content']['application/json'];
export type ReplaceCertificate = paths['/api/v1/tenants/{tenant}/certificates/{certificateId}']['put']['requestBody']['content']['application/json'];

export const certKeys = { list: (tenant: string) => ['tenants', tenant, 'certificates'] as const };

export const certificatesQuery = (tenant: string) =>
  queryOptions({
    queryKey: certKeys.list(tenant),
    queryFn: async () => {
      const r = await call(api.GET('/api/v1/tenants/{tenant}/certificates', { params: { path: { tenant } } }));
      return [...r.items].sort((a, b) => a.notAfter.localeCompare(b.notAfter));
    },
  });

function useInvalidate(tenant: string) {
  const qc = useQueryClient();
  // Routes show their certificate: refresh databases too.
  return () => Promise.all([qc.invalidateQueries({ queryKey: certKeys.list(tenant) }), qc.invalidateQueries({ queryKey: ['tenants', tenant, 'databases'] })]);
}

export function useIssueCertificate(tenant: string) {
  const invalidate = useInvalidate(tenant);
  return useMutation({
    mutationFn: (body: IssueCertificate) => call(api.POST('/api/v1/tenants/{tenant}/certificates', { params: { path: { tenant } }, body })),
    onSuccess: invalidate,
  });
}

export function useUploadCertificate(tenant: string) {
  const invalidate = useInvalidate(tenant);
  return useMutation({
    mutationFn: (body: UploadCertificate) => call(api.POST('/api/v1/tenants/{tenant}/certificates/upload', { params: { path: { tenant } }, body })),
    onSuccess: invalidate,
  });
}

export function useReplaceCertificate(tenant: string) {
  const invalidate = useInvalidate(tenant);
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: ReplaceCertificate }) =>
      call(api.PUT('/api/v1/tenants/{tenant}/certificates/{certificateId}', { params: { path: { tenant, certificateId: id } }, body })),
    onSuccess: invalidate,
  });
}

export function useDeleteCertificate(tenant: string) {
  const invalidate = useInvalidate(tenant);
  return useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/v1/tenants/{tenant}/certificates/{certificateId}', { params: { path: { tenant, certificateId: id } } })),
    onSuccess: invalidate,
  });
}

// ── ACME ────────────────────────────────────────────────────────────────────────────

export type AcmeCertificate = paths['/api/v1/tenants/{tenant}/acme-certificates/{acmeId}']['get']['responses'][200]['content']['application/json'];
export type RequestAcme = paths['/api/v1/tenants/{tenant}/acme-certificates']['post']['requestBody']['content']['application/json'];

export const acmeKeys = { list: (tenant: string) => ['tenants', tenant, 'acme-certificates'] as const };

/** Polled every 3 s while an order is under way (pending, validating), every 30 s otherwise. */
export const acmeCertificatesQuery = (tenant: string) =>
  queryOptions({
    queryKey: acmeKeys.list(tenant),
    queryFn: async () => (await call(api.GET('/api/v1/tenants/{tenant}/acme-certificates', { params: { path: { tenant } } }))).items,
    refetchInterval: (q) => (q.state.data?.some((a) => a.state === 'pending' || a.state === 'validating') ? 3_000 : 30_000),
  });

function useInvalidateAcme(tenant: string) {
  const qc = useQueryClient();
  const invalidate = useInvalidate(tenant);
  return () => Promise.all([qc.invalidateQueries({ queryKey: acmeKeys.list(tenant) }), invalidate()]);
}

export function useRequestAcme(tenant: string) {
  const invalidate = useInvalidateAcme(tenant);
  return useMutation({
    mutationFn: (body: RequestAcme) => call(api.POST('/api/v1/tenants/{tenant}/acme-certificates', { params: { path: { tenant } }, body })),
    onSuccess: invalidate,
  });
}

export function useRenewAcme(tenant: string) {
  const invalidate = useInvalidateAcme(tenant);
  return useMutation({
    mutationFn: (id: string) => call(api.POST('/api/v1/tenants/{tenant}/acme-certificates/{acmeId}/renew', { params: { path: { tenant, acmeId: id } } })),
    onSuccess: invalidate,
  });
}

export function useDeleteAcme(tenant: string) {
  const invalidate = useInvalidateAcme(tenant);
  return useMutation({
    mutationFn: (id: string) => call(api.DELETE('/api/v1/tenants/{tenant}/acme-certificates/{acmeId}', { params: { path: { tenant, acmeId: id } } })),
    onSuccess: invalidate,
  });
}
