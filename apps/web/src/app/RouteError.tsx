/**
 * What the router shows when a page cannot be opened: the session check (`/auth/me`) or a page's
 * code failed to load — the API or its database is down, a proxy in front answers 502. The
 * API's message, code and request id, and *Try again*, which runs the page's checks once more
 * (TanStack Router's own fallback is an unstyled "Something went wrong!").
 */
import { Stack, Title } from '@mantine/core';
import { useRouter, type ErrorComponentProps } from '@tanstack/react-router';
import { useContext } from 'react';
import { ErrorState, LoadingState } from '../components/QueryState';
import { InShell } from './in-shell';

export function RouteError({ error, reset }: ErrorComponentProps) {
  const router = useRouter();
  // The session check failing leaves no frame around this (it is the page's main landmark); a
  // page failing inside the frame sits in the frame's <main>.
  const inShell = useContext(InShell);
  return (
    <Stack p={inShell ? undefined : 'xl'} maw={720} component={inShell ? 'div' : 'main'}>
      <Title order={1}>The dashboard could not open this page</Title>
      <ErrorState
        error={error}
        retry={() => {
          reset();
          void router.invalidate();
        }}
      />
    </Stack>
  );
}

/** While the session is checked or a page's code loads for longer than a moment (a slow API). */
export function RoutePending() {
  const inShell = useContext(InShell);
  return (
    <Stack p={inShell ? undefined : 'xl'} component={inShell ? 'div' : 'main'}>
      <LoadingState label="Opening the page" />
    </Stack>
  );
}
