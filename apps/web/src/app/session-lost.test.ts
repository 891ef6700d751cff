import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { sessionKeys } from '../features/auth/session';
import { ApiError } from '../lib/api/client';
import { isSessionLost, watchSession } from './session-lost';

const me = { user: { id: 'u1' }, tenants: [], isPlatformAdmin: false, csrfToken: 'c' };
const ended = () => new ApiError(401, 'SY_UNAUTHENTICATED', 'The session has ended; sign in again', [], 'r1');

function setup() {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  let lost = 0;
  watchSession(qc, () => lost++);
  const fetchMe = (answer: unknown) => qc.fetchQuery({ queryKey: sessionKeys.me, queryFn: () => Promise.resolve(answer), staleTime: 0 });
  const fail = (key: string, err: unknown) =>
    qc.fetchQuery({ queryKey: [key], queryFn: () => Promise.reject(err instanceof Error ? err : new Error(String(err))) }).catch(() => undefined);
  return { qc, lost: () => lost, fetchMe, fail };
}

describe('watchSession', () => {
  it('reports once when the queries of a signed-in page answer SY_UNAUTHENTICATED', async () => {
    const s = setup();
    await s.fetchMe(me);
    await Promise.all([s.fail('databases', ended()), s.fail('certificates', ended())]);
    expect(s.lost()).toBe(1);
  });

  it('reports when /auth/me, asked again, says signed out', async () => {
    const s = setup();
    await s.fetchMe(me);
    await s.fetchMe(null);
    expect(s.lost()).toBe(1);
  });

  it('does not report a visit that was signed out from the start, or other errors', async () => {
    const s = setup();
    await s.fetchMe(null);
    await s.fail('databases', ended());
    await s.fetchMe(me);
    await s.fail('audit', new ApiError(403, 'SY_FORBIDDEN', 'needs admin', [], null));
    await s.fail('password', new ApiError(401, 'SY_INVALID_CREDENTIALS', 'wrong password', [], null));
    await s.fail('network', new ApiError(0, 'NETWORK', 'down', [], null));
    expect(s.lost()).toBe(0);
  });

  it('does not report the dashboard’s own sign-out, and reports again after the next sign-in', async () => {
    const s = setup();
    await s.fetchMe(me);
    s.qc.setQueryData(sessionKeys.me, null);
    await s.fail('databases', ended());
    expect(s.lost()).toBe(0);
    s.qc.setQueryData(sessionKeys.me, me);
    await s.fail('databases', ended());
    expect(s.lost()).toBe(1);
  });

  it('isSessionLost: only 401 SY_UNAUTHENTICATED', () => {
    expect(isSessionLost(ended())).toBe(true);
    expect(isSessionLost(new ApiError(401, 'SY_INVALID_CREDENTIALS', 'x', [], null))).toBe(false);
    expect(isSessionLost(new Error('x'))).toBe(false);
  });
});
