/**
 * Server state of databases and their external access: query keys per resource, queries,
 * and mutations that invalidate what they change. Pages never call the client themselves.
 */
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../../lib/api/client';
import type { paths } from '../../lib/api/schema';
import { acmeKeys, certKeys } from '../certificates/api';

type Json<P extends keyof paths, M extends 'get' | 'put' | 'post' | 'patch', S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;
type Body<P extends keyof paths, M extends 'put' | 'post' | 'patch'> = paths[P][M] extends { requestBody?: { content: { 'application/json': infer T } } } ? T : never;

export type Database = Json<'/api/v1/tenants/{tenant}/databases/{database}', 'get', 200>;
export type ExternalAccess = Json<'/api/v1/tenants/{tenant}/databases/{database}/external-access', 'get', 200>;
export type ExternalAccessChange = Body<'/api/v1/tenants/{tenant}/databases/{database}/external-access', 'put'>;
export type CreateDatabase = Body<'/api/v1/tenants/{tenant}/databases', 'post'>;
export type UpdateDatabase = Body<'/api/v1/tenants/{tenant}/databases/{database}', 'patch'>;
export type Meta = Json<'/api/v1/meta', 'get', 200>;
export type Tenant = Json<'/api/v1/tenants/{tenant}', 'get', 200>;

export const keys = {
  meta: ['meta'] as const,
  tenant: (tenant: string) => ['tenants', tenant] as const,
  databases: (tenant: string) => ['tenants', tenant, 'databases'] as const,
  database: (tenant: string, name: string) => ['tenants', tenant, 'databases', name] as const,
  access: (tenant: string, name: string) => ['tenants', tenant, 'databases', name, 'external-access'] as const,
};

export const metaQuery = queryOptions({ queryKey: keys.meta, queryFn: () => call(api.GET('/api/v1/meta')), staleTime: 5 * 60_000 });

export const tenantQuery = (tenant: string) =>
  queryOptions({ queryKey: keys.tenant(tenant), queryFn: () => call(api.GET('/api/v1/tenants/{tenant}', { params: { path: { tenant } } })) });

export const databasesQuery = (tenant: string) =>
  queryOptions({
    queryKey: keys.databases(tenant),
    queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/databases', { params: { path: { tenant } } })),
    // The list shows access state; refresh it so it never shows a stale "enabled".
    refetchInterval: 15_000,
  });

export const databaseQuery = (tenant: string, database: string) =>
  queryOptions({
    queryKey: keys.database(tenant, database),
    queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/databases/{database}', { params: { path: { tenant, database } } })),
  });

/**
 * External access with its propagation. Polled fast (0.5 s) while a change is on its way to
 * the proxies, slowly otherwise (someone else, or automation, may change it).
 */
export const accessQuery = (tenant: string, database: string) =>
  queryOptions({
    queryKey: keys.access(tenant, database),
    queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/databases/{database}/external-access', { params: { path: { tenant, database } } })),
    refetchInterval: (q) => (q.state.data?.propagation?.state === 'pending' ? 500 : 5_000),
  });

export function useCreateDatabase(tenant: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateDatabase) => call(api.POST('/api/v1/tenants/{tenant}/databases', { params: { path: { tenant } }, body })),
    // The tenant's usage (LimitsSummary) counts databases.
    onSuccess: () => Promise.all([qc.invalidateQueries({ queryKey: keys.databases(tenant) }), qc.invalidateQueries({ queryKey: keys.tenant(tenant), exact: true })]),
  });
}

export function useUpdateDatabase(tenant: string, database: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: UpdateDatabase) => call(api.PATCH('/api/v1/tenants/{tenant}/databases/{database}', { params: { path: { tenant, database } }, body })),
    onSuccess: (db) => {
      qc.setQueryData(keys.database(tenant, database), db);
      return qc.invalidateQueries({ queryKey: keys.databases(tenant) });
    },
  });
}

export function useDeleteDatabase(tenant: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (database: string) => call(api.DELETE('/api/v1/tenants/{tenant}/databases/{database}', { params: { path: { tenant, database } } })),
    onSuccess: (_r, database) => {
      qc.removeQueries({ queryKey: keys.database(tenant, database) });
      return Promise.all([qc.invalidateQueries({ queryKey: keys.databases(tenant) }), qc.invalidateQueries({ queryKey: keys.tenant(tenant), exact: true })]);
    },
  });
}

/**
 * Changes external access. Optimistic: the switch moves at once, marked as applying (the
 * version is unknown until the API answers), and rolls back if the API refuses. The answer
 * (without waiting for the proxies) carries the version and the first propagation report;
 * polling follows it until every live proxy applied it.
 */
export function useChangeAccess(tenant: string, database: string) {
  const qc = useQueryClient();
  const key = keys.access(tenant, database);
  return useMutation({
    mutationFn: (body: ExternalAccessChange) =>
      call(api.PUT('/api/v1/tenants/{tenant}/databases/{database}/external-access', { params: { path: { tenant, database } }, body })),
    onMutate: async (body) => {
      await qc.cancelQueries({ queryKey: key });
      const before = qc.getQueryData<ExternalAccess>(key);
      if (before && body.enabled !== before.enabled) {
        qc.setQueryData<ExternalAccess>(key, {
          ...before,
          enabled: body.enabled,
          propagation: { version: (before.version ?? 0) + 1, state: 'pending', proxies: (before.propagation?.proxies ?? []).map((p) => ({ ...p, applied: false })) },
        });
      }
      return { before };
    },
    onError: (_err, _body, ctx) => {
      if (ctx?.before) qc.setQueryData(key, ctx.before);
    },
    onSuccess: (access) => {
      qc.setQueryData(key, access);
      return Promise.all([
        qc.invalidateQueries({ queryKey: keys.databases(tenant) }),
        qc.invalidateQueries({ queryKey: keys.database(tenant, database), exact: true }),
        // The tenant's usage counts enabled routes and dedicated ports.
        qc.invalidateQueries({ queryKey: keys.tenant(tenant), exact: true }),
        // The route change may end its ACME request or mint/retire a platform-CA certificate
        // (docs/certificates.md): the Certificates page must not show the old lists.
        qc.invalidateQueries({ queryKey: acmeKeys.list(tenant) }),
        qc.invalidateQueries({ queryKey: certKeys.list(tenant) }),
      ]);
    },
  });
}

export type DiscoveredService = Json<'/api/v1/tenants/{tenant}/discovered-services', 'get', 200>['items'][number];

/** Services the Kubernetes controller discovered in the tenant's namespaces (empty without a controller). */
export const discoveredServicesQuery = (tenant: string) =>
  queryOptions({
    queryKey: ['tenants', tenant, 'discovered-services'] as const,
    queryFn: async () => (await call(api.GET('/api/v1/tenants/{tenant}/discovered-services', { params: { path: { tenant } } }))).items,
    staleTime: 30_000,
  });
