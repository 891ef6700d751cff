/**
 * A session can end while a page is open: it expires, the user signs out in another tab,
 * changes their password elsewhere or is disabled. From then on every request of the page
 * answers 401 SY_UNAUTHENTICATED, and "Try again" can never help — so the first such answer
 * (or /auth/me answering "signed out") sends the page to the sign-in page, which comes back
 * here afterwards.
 *
 * Only queries count: a failed change keeps its form and shows the API's message where it
 * is, so nothing typed is lost.
 */
import type { QueryClient } from '@tanstack/react-query';
import { ApiError } from '../lib/api/client';
import { sessionKeys } from '../features/auth/session';

const isMe = (key: readonly unknown[]) => key.length === sessionKeys.me.length && key.every((k, i) => k === sessionKeys.me[i]);

/** Whether an error says the caller is not signed in (any more). */
export function isSessionLost(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401 && err.code === 'SY_UNAUTHENTICATED';
}

/**
 * Calls `onLost` once when a query learns that the session it was signed in with has ended.
 * Signed out from the start (the first /auth/me says so) is not "lost": the router sends that
 * visit to the sign-in page by itself. Returns the unsubscribe.
 */
export function watchSession(qc: QueryClient, onLost: () => void): () => void {
  let signedIn = false;
  const lost = () => {
    if (!signedIn) return;
    signedIn = false;
    onLost();
  };
  return qc.getQueryCache().subscribe((event) => {
    if (event.type !== 'updated') return;
    const { action, query } = event;
    if (action.type === 'error' && isSessionLost(action.error)) lost();
    else if (action.type === 'success' && isMe(query.queryKey)) {
      // /auth/me answers a 401 with "signed out" (null) rather than an error. A manual null is
      // the dashboard's own sign-out, which goes to the sign-in page by itself.
      if (action.data) signedIn = true;
      else if (action.manual) signedIn = false;
      else lost();
    }
  });
}
