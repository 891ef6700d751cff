import { Alert, Button, Center, Loader, Stack, Text } from '@mantine/core';
import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { describeError } from '../lib/api/errors';

/** The error of a page or panel: the API's message and code, the request id, and a retry. */
export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  const d = describeError(error);
  return (
    <Alert color="red" title="Could not load this" role="alert">
      <Stack gap="xs">
        <Text size="sm">{d.message}</Text>
        <Text size="xs" c="dimmed">
          {d.title}
          {d.requestId ? ` · request ${d.requestId}` : ''}
        </Text>
        {retry && (
          <div>
            <Button size="xs" variant="light" onClick={retry}>
              Try again
            </Button>
          </div>
        )}
      </Stack>
    </Alert>
  );
}

export function LoadingState({ label = 'Loading' }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Loader size="sm" aria-hidden />
      <Text ml="sm" size="sm" c="dimmed">
        {label}…
      </Text>
    </Center>
  );
}

/**
 * What a list or page shows when it has nothing: the one empty state of the dashboard, used
 * instead of the (empty) table, never inside it — a table wider than a phone would carry the
 * sentence past the window's edge (scrolled sideways to read). Centred, and its text wraps
 * anywhere, so a long unbroken word (a search for a 150-character name) wraps too.
 */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Stack align="center" py="xl" px="sm" gap="xs" data-empty-state style={{ overflowWrap: 'anywhere' }}>
      <Text fw={600}>{title}</Text>
      {children}
    </Stack>
  );
}

/** Loading, error or the content of a query: no page is ever blank. */
export function QueryState<T>({ query, label, children }: { query: UseQueryResult<T>; label?: string; children: (data: T) => ReactNode }) {
  if (query.isPending) return <LoadingState label={label} />;
  if (query.isError) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  return <>{children(query.data)}</>;
}
