/** Server state of connections: events, stats, the live list, terminate and check. */
import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../../lib/api/client';
import type { paths } from '../../lib/api/schema';

export type ConnectionEvent = paths['/api/v1/connection-events']['get']['responses'][200]['content']['application/json']['items'][number];
export type Stats = paths['/api/v1/connection-events/stats']['get']['responses'][200]['content']['application/json'];
export type LiveConnection = paths['/api/v1/connections/live']['get']['responses'][200]['content']['application/json']['items'][number];
export type CheckResult = paths['/api/v1/tenants/{tenant}/databases/{database}/external-access/check']['get']['responses'][200]['content']['application/json'];

/** `tenant`: a tenant's view; null: the platform view (admins). */
export const connectionKeys = {
  all: ['connections'] as const,
  events: (tenant: string | null, q: Record<string, string>) => ['connections', 'events', tenant, q] as const,
  stats: (tenant: string | null, q: Record<string, string>) => ['connections', 'stats', tenant, q] as const,
  live: (tenant: string | null, q: Record<string, string>) => ['connections', 'live', tenant, q] as const,
};

const PAGE = 50;

export function useConnectionEvents(tenant: string | null, q: Record<string, string>, live: boolean) {
  return useInfiniteQuery({
    queryKey: connectionKeys.events(tenant, q),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const query = { ...q, limit: PAGE, ...(pageParam ? { cursor: pageParam } : {}) };
      return tenant
        ? call(api.GET('/api/v1/tenants/{tenant}/connection-events', { params: { path: { tenant }, query: query as never } }))
        : call(api.GET('/api/v1/connection-events', { params: { query: query as never } }));
    },
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    placeholderData: keepPreviousData,
    // Live mode: new rows as they arrive (the first page is refetched; older pages keep their cursors).
    refetchInterval: live ? 2000 : false,
  });
}

export function useConnectionStats(tenant: string | null, q: Record<string, string>, live: boolean) {
  return useQuery({
    queryKey: connectionKeys.stats(tenant, q),
    queryFn: () =>
      tenant
        ? call(api.GET('/api/v1/tenants/{tenant}/connection-events/stats', { params: { path: { tenant }, query: q as never } }))
        : call(api.GET('/api/v1/connection-events/stats', { params: { query: q as never } })),
    placeholderData: keepPreviousData,
    refetchInterval: live ? 5000 : false,
  });
}

export function useLiveConnections(tenant: string | null, q: { tenant?: string; database?: string }, enabled: boolean) {
  return useQuery({
    queryKey: connectionKeys.live(tenant, q as Record<string, string>),
    queryFn: () =>
      tenant
        ? call(api.GET('/api/v1/tenants/{tenant}/connections/live', { params: { path: { tenant }, query: q.database ? { database: q.database } : {} } }))
        : call(api.GET('/api/v1/connections/live', { params: { query: q } })),
    enabled,
    refetchInterval: enabled ? 1000 : false,
  });
}

export function useTerminate() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (c: { proxyId: string; id: string }) => call(api.DELETE('/api/v1/proxies/{proxyId}/connections/{connectionId}', { params: { path: { proxyId: c.proxyId, connectionId: c.id } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: connectionKeys.all }),
  });
}

export function useCheckConnection(tenant: string) {
  return useMutation({
    mutationFn: (database: string) => call(api.GET('/api/v1/tenants/{tenant}/databases/{database}/external-access/check', { params: { path: { tenant, database } } })),
  });
}

export function useTenantDatabases(tenant: string) {
  return useQuery({
    queryKey: ['databases', tenant, 'list'],
    queryFn: () => call(api.GET('/api/v1/tenants/{tenant}/databases', { params: { path: { tenant } } })),
  });
}
