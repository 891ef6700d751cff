/**
 * Type-safe routes (TanStack Router, code-based). Every page is its own chunk (lazy route
 * components), so the first page loads only what it shows. Tabs and open panels live in the
 * search params, so every view can be linked and reloaded.
 */
import type { QueryClient } from '@tanstack/react-query';
import { createRootRouteWithContext, createRoute, createRouter, lazyRouteComponent, Outlet, redirect } from '@tanstack/react-router';
import { parseAuditFilters } from '../features/audit/filters';
import { meQuery, roleIn } from '../features/auth/session';
import { accessQuery, databaseQuery, databasesQuery, metaQuery } from '../features/databases/api';
import { parseFilters } from '../features/connections/filters';
import { AppLayout } from './AppLayout';
import { NotFoundPage, NoAccessPage } from './NotFound';
import { RouteError, RoutePending } from './RouteError';

export interface RouterContext {
  queryClient: QueryClient;
}

const rootRoute = createRootRouteWithContext<RouterContext>()({
  component: Outlet,
  notFoundComponent: NotFoundPage,
});

const loginRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/login',
  validateSearch: (s: Record<string, unknown>): { redirect?: string; ended?: true } => ({
    ...(typeof s.redirect === 'string' ? { redirect: s.redirect } : {}),
    // Sent here because the session ended while a page was open (app/session-lost.ts).
    ...(s.ended === true || s.ended === 'true' ? { ended: true as const } : {}),
  }),
  component: lazyRouteComponent(() => import('../features/auth/LoginPage'), 'LoginPage'),
});

/** Everything below needs a session; without one, the sign-in page (and back here after). */
const authedRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'authed',
  beforeLoad: async ({ context, location }) => {
    const me = await context.queryClient.ensureQueryData(meQuery);
    if (!me) throw redirect({ to: '/login', search: { redirect: location.href } });
    return { me };
  },
  component: AppLayout,
});

const indexRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/',
  beforeLoad: ({ context }) => {
    const first = context.me.tenants[0];
    if (first) throw redirect({ to: '/t/$tenant/databases', params: { tenant: first.slug } });
  },
  component: lazyRouteComponent(() => import('./Home'), 'Home'),
});

const accountRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/account',
  component: lazyRouteComponent(() => import('../features/account/AccountPage'), 'AccountPage'),
});

/**
 * A tenant the caller has no role in is not shown at all (the API would answer 404 too), and
 * nothing of it is asked for: the pages' loaders below start their requests only with a role
 * (a child's loader runs even when this gate shows "Not found" instead of its page).
 */
const tenantRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/t/$tenant',
  beforeLoad: ({ context, params }) => ({ role: roleIn(context.me, params.tenant) }),
  component: function TenantGate() {
    const { role } = tenantRoute.useRouteContext();
    return role ? <Outlet /> : <NoAccessPage />;
  },
});

const tenantIndexRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/',
  beforeLoad: ({ params }) => {
    throw redirect({ to: '/t/$tenant/databases', params });
  },
});

/** A list's filter in the URL (`?q=`, components/LongList.tsx). */
const filterSearch = (s: Record<string, unknown>): { q?: string } => (typeof s.q === 'string' && s.q ? { q: s.q } : {});

export const databasesRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/databases',
  validateSearch: (s: Record<string, unknown>): { q?: string; register?: boolean } => ({
    ...filterSearch(s),
    ...(s.register === true || s.register === 'true' ? { register: true } : {}),
  }),
  // Fetch the list while the page's chunk loads (no waterfall); the page shows loading/error itself.
  loader: ({ context, params }) => {
    if (context.role) void context.queryClient.prefetchQuery(databasesQuery(params.tenant));
  },
  component: lazyRouteComponent(() => import('../features/databases/DatabasesPage'), 'DatabasesPage'),
});

export const DATABASE_TABS = ['connect', 'access', 'settings'] as const;
export type DatabaseTab = (typeof DATABASE_TABS)[number];

export const databaseRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/databases/$database',
  validateSearch: (s: Record<string, unknown>): { tab?: DatabaseTab; client?: string } => ({
    ...(DATABASE_TABS.includes(s.tab as DatabaseTab) ? { tab: s.tab as DatabaseTab } : {}),
    ...(typeof s.client === 'string' ? { client: s.client } : {}),
  }),
  loader: ({ context, params }) => {
    if (!context.role) return;
    void context.queryClient.prefetchQuery(databaseQuery(params.tenant, params.database));
    void context.queryClient.prefetchQuery(accessQuery(params.tenant, params.database));
    void context.queryClient.prefetchQuery(metaQuery);
  },
  component: lazyRouteComponent(() => import('../features/databases/DatabasePage'), 'DatabasePage'),
});

export const certificatesRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/certificates',
  validateSearch: (s: Record<string, unknown>): { q?: string; add?: 'issue' | 'upload' | 'acme' } => ({ ...filterSearch(s), ...(s.add === 'issue' || s.add === 'upload' || s.add === 'acme' ? { add: s.add } : {}) }),
  component: lazyRouteComponent(() => import('../features/certificates/CertificatesPage'), 'CertificatesPage'),
});

export const tokensRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/tokens',
  validateSearch: filterSearch,
  component: lazyRouteComponent(() => import('../features/tokens/TokensPage'), 'TokensPage'),
});

export const membersRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/members',
  validateSearch: filterSearch,
  component: lazyRouteComponent(() => import('../features/members/MembersPage'), 'MembersPage'),
});

const connectionsSearch = (s: Record<string, unknown>) => parseFilters(s) as Record<string, unknown>;

export const connectionsRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/connections',
  validateSearch: connectionsSearch,
  component: lazyRouteComponent(() => import('../features/connections/ConnectionsPage'), 'TenantConnectionsPage'),
});

export const checkRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/check',
  validateSearch: (s: Record<string, unknown>): { database?: string } => (typeof s.database === 'string' && s.database ? { database: s.database } : {}),
  component: lazyRouteComponent(() => import('../features/connections/CheckConnectionPage'), 'CheckConnectionPage'),
});

export const auditRoute = createRoute({
  getParentRoute: () => tenantRoute,
  path: '/audit',
  validateSearch: (s: Record<string, unknown>) => parseAuditFilters(s) as Record<string, unknown>,
  component: lazyRouteComponent(() => import('../features/audit/AuditPage'), 'TenantAuditPage'),
});

/** Platform administration: platform admins only (the API refuses everyone else too). */
const adminRoute = createRoute({
  getParentRoute: () => authedRoute,
  path: '/admin',
  beforeLoad: ({ context }) => ({ isAdmin: context.me.isPlatformAdmin }),
  component: function AdminGate() {
    const { isAdmin } = adminRoute.useRouteContext();
    return isAdmin ? <Outlet /> : <NoAccessPage />;
  },
});

const adminPages = [
  createRoute({ getParentRoute: () => adminRoute, path: '/connections', validateSearch: connectionsSearch, component: lazyRouteComponent(() => import('../features/connections/ConnectionsPage'), 'PlatformConnectionsPage') }),
  createRoute({ getParentRoute: () => adminRoute, path: '/audit', validateSearch: (s: Record<string, unknown>) => parseAuditFilters(s) as Record<string, unknown>, component: lazyRouteComponent(() => import('../features/audit/AuditPage'), 'PlatformAuditPage') }),
  createRoute({ getParentRoute: () => adminRoute, path: '/proxies', component: lazyRouteComponent(() => import('../features/proxies/ProxiesPage'), 'ProxiesPage') }),
  createRoute({
    getParentRoute: () => adminRoute,
    path: '/tenants',
    // The server-side search (`?q=acme`); a number typed into the URL is text too.
    validateSearch: (s: Record<string, unknown>): { q?: string } => (typeof s.q === 'string' || typeof s.q === 'number') && String(s.q).trim() ? { q: String(s.q) } : {},
    component: lazyRouteComponent(() => import('../features/admin/TenantsAdminPage'), 'TenantsAdminPage'),
  }),
  createRoute({ getParentRoute: () => adminRoute, path: '/users', validateSearch: filterSearch, component: lazyRouteComponent(() => import('../features/admin/UsersAdminPage'), 'UsersAdminPage') }),
  createRoute({ getParentRoute: () => adminRoute, path: '/tokens', validateSearch: filterSearch, component: lazyRouteComponent(() => import('../features/admin/PlatformTokensPage'), 'PlatformTokensPage') }),
];

const routeTree = rootRoute.addChildren([
  loginRoute,
  authedRoute.addChildren([
    indexRoute,
    accountRoute,
    tenantRoute.addChildren([tenantIndexRoute, databasesRoute, databaseRoute, certificatesRoute, tokensRoute, membersRoute, connectionsRoute, checkRoute, auditRoute]),
    adminRoute.addChildren(adminPages),
  ]),
]);

export function createAppRouter(queryClient: QueryClient) {
  return createRouter({
    routeTree,
    context: { queryClient },
    defaultPreload: 'intent',
    // Query data is cached by TanStack Query; the router should not cache loaders on top.
    defaultPreloadStaleTime: 0,
    // The API (or its database) down when a page opens: say so, with the request id and a
    // retry, instead of the router's bare "Something went wrong!".
    defaultErrorComponent: RouteError,
    defaultPendingComponent: RoutePending,
    scrollRestoration: true,
  });
}

declare module '@tanstack/react-router' {
  interface Register {
    router: ReturnType<typeof createAppRouter>;
  }
}

export { tenantRoute };
