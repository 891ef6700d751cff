/**
 * The platform keeps one enabled human platform admin: nobody (the bootstrap token, a
 * platform token, another admin) can disable, delete or demote the last one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, createUser, login, type Harness } from '../../testing/harness.js';

let h: Harness;
let root: string;
let platformToken: string;
const PW = 'correct horse battery staple';

beforeAll(async () => {
  h = await createHarness();
  root = (await createUser(h, 'root@example.com', PW, { isPlatformAdmin: true })).id;
  // A disabled admin and a platform token do not count as admins who could take over.
  await createUser(h, 'gone@example.com', PW, { isPlatformAdmin: true });
  await h.app.prisma.user.update({ where: { email: 'gone@example.com' }, data: { disabledAt: new Date() } });
  const t = await h.call('POST', '/api/v1/platform/tokens', { name: 'automation' });
  expect(t.statusCode).toBe(201);
  platformToken = t.json().token;
});
afterAll(async () => h.close());

describe('the last enabled platform admin', () => {
  it('cannot be demoted, disabled or deleted, by the bootstrap token or a platform token', async () => {
    for (const token of [undefined, platformToken]) {
      for (const [method, body] of [
        ['PATCH', { isPlatformAdmin: false }],
        ['PATCH', { disabled: true }],
        ['DELETE', undefined],
      ] as const) {
        const r = await h.call(method, `/api/v1/users/${root}`, body, token);
        expect(r.statusCode, `${method} ${JSON.stringify(body)}: ${r.body}`).toBe(409);
        expect(r.json()).toMatchObject({ code: 'SY_LAST_PLATFORM_ADMIN' });
        expect(r.json().message).toContain('root@example.com');
      }
    }
    const after = await h.app.prisma.user.findUniqueOrThrow({ where: { id: root } });
    expect(after).toMatchObject({ isPlatformAdmin: true, disabledAt: null });
    // Still signs in and administers.
    const s = await login(h, 'root@example.com', PW);
    expect((await s.call('GET', '/api/v1/users')).statusCode).toBe(200);
  });

  it('can go once another enabled admin exists, and other changes to it still work', async () => {
    const other = await createUser(h, 'second@example.com', PW, { isPlatformAdmin: true });
    expect((await h.call('PATCH', `/api/v1/users/${root}`, { name: 'Root renamed' })).statusCode).toBe(200);
    const demote = await h.call('PATCH', `/api/v1/users/${root}`, { isPlatformAdmin: false });
    expect(demote.statusCode, demote.body).toBe(200);
    // Now `second` is the last one.
    const r = await h.call('PATCH', `/api/v1/users/${other.id}`, { disabled: true });
    expect(r.json().code).toBe('SY_LAST_PLATFORM_ADMIN');
    expect((await h.call('PATCH', `/api/v1/users/${root}`, { isPlatformAdmin: true })).statusCode).toBe(200);
  });

  it('two concurrent demotions of the last two admins leave one', async () => {
    const admins = await h.app.prisma.user.findMany({ where: { isPlatformAdmin: true, disabledAt: null }, select: { id: true } });
    expect(admins).toHaveLength(2);
    const results = await Promise.all(admins.map((a) => h.call('PATCH', `/api/v1/users/${a.id}`, { isPlatformAdmin: false })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(await h.app.prisma.user.count({ where: { isPlatformAdmin: true, disabledAt: null } })).toBe(1);
  });
});
