/**
 * Providers: Mantine (theme), TanStack Query and the router. The toast container and the
 * modals provider (Extras.tsx) load after the first paint: the first page does not need them.
 */
import '@mantine/core/styles.css';
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { lazy, Suspense, useEffect, useState, type ReactNode } from 'react';
import { ApiError } from '../lib/api/client';
import { whenIdle } from './idle';
import { holdModalEvents } from './modal-events';
import { watchSession } from './session-lost';
import { createAppRouter } from './router';
import { cssVariablesResolver, theme } from './theme';

holdModalEvents();
const Extras = lazy(() => import('./Extras'));
type AppRouter = ReturnType<typeof createAppRouter>;

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // 4xx answers will not change by asking again.
        retry: (n, err) => n < 2 && !(err instanceof ApiError && err.status >= 400 && err.status < 500),
        refetchOnWindowFocus: true,
        // An answer a route loader fetched while the page's code loaded is fresh when the page
        // mounts a moment later: no second request. Mutations still invalidate at once, and
        // lists that must not go stale poll (refetchInterval).
        staleTime: 1_000,
      },
    },
  });
}

/**
 * Renders its children once the router has rendered its first page and the browser has a
 * moment to spare (or after 3 s, whichever comes first).
 */
function AfterFirstPage({ router, children }: { router: AppRouter; children: ReactNode }) {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    let cancelIdle = () => {};
    const soon = () => {
      unsubscribe();
      clearTimeout(latest);
      cancelIdle = whenIdle(() => setReady(true), 500, 800);
    };
    const unsubscribe = router.subscribe('onRendered', soon);
    const latest = window.setTimeout(soon, 3_000);
    return () => {
      unsubscribe();
      clearTimeout(latest);
      cancelIdle();
    };
  }, [router]);
  return ready ? <Suspense fallback={null}>{children}</Suspense> : null;
}

export function App() {
  const [queryClient] = useState(createQueryClient);
  const [router] = useState(() => createAppRouter(queryClient));
  useEffect(
    () =>
      watchSession(queryClient, () => {
        // latestLocation: a navigation already under way counts (several queries fail at once).
        const { pathname, href } = router.latestLocation;
        if (pathname === '/login') return;
        void router.navigate({ to: '/login', search: { redirect: href, ended: true }, replace: true });
      }),
    [queryClient, router],
  );
  return (
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
        <AfterFirstPage router={router}>
          <Extras />
        </AfterFirstPage>
      </QueryClientProvider>
    </MantineProvider>
  );
}
