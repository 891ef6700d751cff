/** Server state of the platform admin's tenant list: pages of the API's keyset-paginated list, searched on the server. */
import { keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { api, call } from '../../lib/api/client';
import type { paths } from '../../lib/api/schema';

export type Tenant = paths['/api/v1/tenants']['get']['responses'][200]['content']['application/json']['items'][number];

/** Under `['tenants']`, which every tenant change invalidates (the header's tenant menu too). */
export const tenantKeys = {
  all: ['tenants'] as const,
  pages: (q: string) => ['tenants', 'pages', q] as const,
};

/** Tenants per page: the API's default, so the first page is the one any client gets. */
export const TENANT_PAGE = 100;

/** Trimmed, as the API trims it: "acme " and "acme" are one search, one cache entry. */
export function searchTerm(text: string): string {
  return text.trim();
}

/** The tenants whose slug or name contains `q` (all when blank), a page at a time ("Load more"). */
export function useTenantPages(q: string) {
  return useInfiniteQuery({
    queryKey: tenantKeys.pages(q),
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      call(api.GET('/api/v1/tenants', { params: { query: { limit: TENANT_PAGE, ...(q ? { q } : {}), ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // The previous search's rows stay (dimmed) while the new ones load: no jump to a spinner per keystroke.
    placeholderData: keepPreviousData,
  });
}
