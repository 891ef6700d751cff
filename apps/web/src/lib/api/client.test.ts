import { describe, expect, it } from 'vitest';
import { createCsrfSession } from './client';

const ORIGIN = 'http://dashboard.test';
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-request-id': 'req-1' } });
const csrfFailed = () => json(403, { statusCode: 403, code: 'SY_CSRF_FAILED', error: 'Forbidden', message: 'Missing or wrong X-CSRF-Token header for a cookie-authenticated change', requestId: 'req-1' });

/**
 * A stand-in API: a session whose token is `current` (signing in again elsewhere changes it),
 * owned by `user`; changes need that token. Records what each request carried.
 */
function fakeApi(current: string, user = { id: 'u1', email: 'ada@example.test' }) {
  const state = { current, user, afterMe: (): void => {}, seen: [] as Array<{ method: string; path: string; csrf: string | null; body: string }> };
  const fetch = async (input: RequestInfo | URL) => {
    const r = input as Request;
    const path = new URL(r.url).pathname;
    state.seen.push({ method: r.method, path, csrf: r.headers.get('x-csrf-token'), body: r.method === 'GET' ? '' : await r.text() });
    if (path === '/api/v1/auth/me') {
      const answer = json(200, { user: state.user, tenants: [], isPlatformAdmin: false, csrfToken: state.current });
      state.afterMe();
      return answer;
    }
    if (r.method !== 'GET' && r.headers.get('x-csrf-token') !== state.current) return csrfFailed();
    return json(200, { ok: true });
  };
  const session = createCsrfSession(() => fetch);
  const change = (path = '/api/v1/auth/password', body = '{"newPassword":"x"}') => session.fetch(new Request(ORIGIN + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } }));
  return { state, session, change };
}

describe('createCsrfSession', () => {
  it('sends the token with changes only', async () => {
    const f = fakeApi('t1');
    f.session.set('t1', 'u1');
    expect((await f.change()).status).toBe(200);
    await f.session.fetch(new Request(`${ORIGIN}/api/v1/tenants`));
    expect(f.state.seen.map((s) => [s.method, s.csrf])).toEqual([
      ['POST', 't1'],
      ['GET', null],
    ]);
  });

  it('after a sign-in in another tab, fetches the current token once and sends the change once more, body and all', async () => {
    const f = fakeApi('t1');
    f.session.set('t1', 'u1');
    f.state.current = 't2';
    const r = await f.change('/api/v1/auth/password', '{"currentPassword":"a","newPassword":"b"}');
    expect(r.status).toBe(200);
    expect(f.state.seen.map((s) => `${s.method} ${s.path} ${s.csrf}`)).toEqual(['POST /api/v1/auth/password t1', 'GET /api/v1/auth/me null', 'POST /api/v1/auth/password t2']);
    expect(f.state.seen[2]!.body).toBe('{"currentPassword":"a","newPassword":"b"}');
    // The next change uses the new token at once.
    await f.change();
    expect(f.state.seen.at(-1)!.csrf).toBe('t2');
    expect(f.session.token).toBe('t2');
  });

  it('never sends a change a third time: a second refusal is the answer', async () => {
    const f = fakeApi('t1');
    f.session.set('t1', 'u1');
    f.state.current = 't2';
    // The token changes again between the refresh and the retry.
    f.state.afterMe = () => (f.state.current = 't3');
    const r = await f.change();
    expect(r.status).toBe(403);
    expect(((await r.json()) as { code: string }).code).toBe('SY_CSRF_FAILED');
    expect(f.state.seen.filter((s) => s.method === 'POST')).toHaveLength(2);
  });

  it('does not resend when the session’s token is the one that was refused', async () => {
    const f = fakeApi('t1');
    f.session.set('wrong', 'u1');
    f.state.current = 'wrong';
    // The API refuses anyway (say, a proxy stripped the header): resending cannot help.
    const session = createCsrfSession(() => (async (input: RequestInfo | URL) => {
      f.state.seen.push({ method: (input as Request).method, path: new URL((input as Request).url).pathname, csrf: null, body: '' });
      return new URL((input as Request).url).pathname === '/api/v1/auth/me' ? json(200, { user: { id: 'u1' }, csrfToken: 'wrong' }) : csrfFailed();
    }));
    session.set('wrong', 'u1');
    const r = await session.fetch(new Request(`${ORIGIN}/api/v1/auth/logout`, { method: 'POST' }));
    expect(r.status).toBe(403);
    expect(f.state.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /api/v1/auth/logout', 'GET /api/v1/auth/me']);
  });

  it('never makes a change as another user who signed in in the other tab', async () => {
    const f = fakeApi('t1');
    f.session.set('t1', 'u1');
    f.state.current = 't2';
    f.state.user = { id: 'u2', email: 'bob@example.test' };
    const r = await f.change('/api/v1/tenants/acme/databases');
    expect(r.status).toBe(403);
    const body = (await r.json()) as { code: string; message: string; requestId: string };
    expect(body.code).toBe('SY_CSRF_FAILED');
    expect(body.message).toContain('bob@example.test');
    expect(body.requestId).toBe('req-1');
    expect(f.state.seen.filter((s) => s.method === 'POST')).toHaveLength(1);
    expect(f.session.token).toBe('t1');
  });

  it('changes refused at the same moment share one token refresh', async () => {
    const f = fakeApi('t1');
    f.session.set('t1', 'u1');
    f.state.current = 't2';
    const answers = await Promise.all([f.change(), f.change(), f.change()]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(f.state.seen.filter((s) => s.path === '/api/v1/auth/me')).toHaveLength(1);
  });

  it('leaves other refusals alone', async () => {
    const seen: string[] = [];
    const session = createCsrfSession(() => (async (input: RequestInfo | URL) => {
      seen.push(new URL((input as Request).url).pathname);
      return json(403, { code: 'SY_FORBIDDEN', message: 'needs admin' });
    }));
    session.set('t1', 'u1');
    expect((await session.fetch(new Request(`${ORIGIN}/api/v1/tenants/acme/members`, { method: 'POST', body: '{}' }))).status).toBe(403);
    expect(seen).toEqual(['/api/v1/tenants/acme/members']);
  });
});
