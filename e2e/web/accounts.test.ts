/**
 * The dashboard in Debian's Chromium against the real API: sessions across tabs (a change made
 * after signing in again elsewhere still goes through), the administration forms' errors on
 * their fields, dates in the browser's time zone, Check connection with nothing to check, a
 * tenant the user is not in asking the API nothing, and leaving a tenant.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { axeViolations, fieldError, signIn } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { PASSWORD, PLATFORM_ADMIN as ADMIN, USERS } from './support/web-stack.js';

const web = useWebStack({ platformAdmin: true });

async function createUser(email: string, name: string, opts: { tenant?: string; role?: 'owner' | 'admin' | 'member'; isPlatformAdmin?: boolean } = {}) {
  expect((await web.stack.api.call('POST', '/api/v1/users', { email, name, password: PASSWORD, isPlatformAdmin: opts.isPlatformAdmin ?? false })).status).toBe(201);
  if (opts.tenant) expect((await web.stack.api.call('POST', `/api/v1/tenants/${opts.tenant}/members`, { email, role: opts.role ?? 'member' })).status).toBe(201);
}

/** The API's requests a page makes, by method and path (query left off). */
function recordApi(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/api/')) seen.push(`${r.method()} ${url.pathname}`);
  });
  return seen;
}

describe('sessions across tabs', () => {
  it('a change made after signing in again in another tab goes through: the token is fetched once and the change sent once more', async () => {
    const email = 'tabs@acme.test';
    await createUser(email, 'Tess Tabs', { tenant: 'acme' });
    const ctx = await web.newContext();
    const first = await ctx.newPage();
    await signIn(first, email);
    await first.goto('/account');
    await first.getByRole('heading', { name: 'Change password' }).waitFor();
    // Another tab signs in again: the browser's cookie is a new session with a new CSRF token.
    const second = await ctx.newPage();
    await signIn(second, email);
    await second.close();

    const asked = recordApi(first);
    const newPassword = 'a brand new passphrase';
    await first.getByLabel(/^Current password/).fill(PASSWORD);
    await first.getByLabel(/^New password/).fill(newPassword);
    await first.getByLabel(/^Repeat the new password/).fill(newPassword);
    await first.getByRole('button', { name: 'Change password' }).click();
    await first.getByText(/^Password changed/).waitFor();
    expect(await first.getByText('SY_CSRF_FAILED').count()).toBe(0);
    // Refused once with the old token, the current token asked for, the change sent once more.
    expect(asked).toEqual(['POST /api/v1/auth/password', 'GET /api/v1/auth/me', 'POST /api/v1/auth/password']);
    const login = await fetch(`${web.stack.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: newPassword }) });
    expect(login.status).toBe(200);
    await ctx.close();
  });
});

describe('administration forms', () => {
  it('a refused password reset and a refused platform-token name are shown on their fields, not in a toast', async () => {
    const { ctx, page } = await web.signedIn(ADMIN);
    await page.goto('/admin/users');
    const row = page.getByRole('row').filter({ hasText: USERS.member });
    await row.getByRole('button', { name: 'Reset password' }).click();
    const dialog = page.getByRole('dialog', { name: `Reset the password of ${USERS.member}` });
    const password = dialog.getByLabel(/^New password/);
    // Longer than the API takes: its message, under the field.
    await password.fill('x'.repeat(300));
    await dialog.getByRole('button', { name: 'Reset password' }).click();
    expect(await fieldError(password)).toMatch(/256/);
    expect(await page.getByText('Resetting the password failed').count()).toBe(0);
    await expectAccessible(page, 'the reset-password dialog with its error');
    await dialog.getByRole('button', { name: 'Close' }).click();

    await page.goto('/admin/tokens');
    await page.getByRole('button', { name: 'Create token' }).click();
    const tokenDialog = page.getByRole('dialog', { name: 'Create platform token' });
    const name = tokenDialog.getByLabel(/^Name/);
    await name.fill('t'.repeat(101));
    await tokenDialog.getByRole('button', { name: 'Create' }).click();
    expect(await fieldError(name)).toMatch(/100/);
    expect(await page.getByText('Creating the token failed').count()).toBe(0);
    expect((await web.stack.api.call('GET', '/api/v1/platform/tokens')).body.items).toEqual([]);
    await ctx.close();
  });
});

describe('dates', () => {
  it('a token’s expiry is shown in the browser’s time zone, like every other date', async () => {
    const expiresAt = '2030-01-01T20:00:00.000Z';
    expect((await web.stack.api.call('POST', '/api/v1/tenants/acme/tokens', { name: 'nightly', role: 'member', expiresAt })).status).toBe(201);
    // UTC+14: 20:00 UTC on 1 January is 10:00 on 2 January there.
    const timezoneId = 'Pacific/Kiritimati';
    const ctx = await web.newContext({ locale: 'en-US', timezoneId });
    const page = await ctx.newPage();
    await signIn(page, USERS.owner);
    await page.goto('/t/acme/tokens');
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'nightly', exact: true }) });
    await row.waitFor();
    const expires = await row.getByRole('cell').nth(4).innerText();
    // With the zone's name (a date without its zone is a guess) and how far off it is.
    expect(expires).toMatch(/^1\/2\/2030, 10:00:00 AM GMT\+14 \(in \d+ years?\)$/);
    expect(expires.startsWith(new Date(expiresAt).toLocaleString('en-US', { timeZone: timezoneId, timeZoneName: 'short' }))).toBe(true);
    await ctx.close();
  });
});

describe('check connection', () => {
  it('with no databases says what to do, and leads to registering one', async () => {
    const { ctx, page } = await web.signedIn(USERS.other);
    await page.goto('/t/globex/check');
    await page.getByText('No databases to check yet').waitFor();
    await page.getByText(/Register a database, turn on its external access/).waitFor();
    expect(await page.getByRole('textbox', { name: 'Database' }).count()).toBe(0);
    await expectAccessible(page, 'check connection without databases');
    await page.getByRole('link', { name: 'Register a database' }).click();
    await page.waitForURL('**/t/globex/databases?register=true');
    await page.getByRole('dialog').getByLabel(/^Name/).waitFor();
    await ctx.close();
  });

  it('a member is told who can register one', async () => {
    const ctx = await web.newContext();
    const page = await ctx.newPage();
    await createUser('viewer@globex.test', 'Vic Viewer', { tenant: 'globex', role: 'member' });
    await signIn(page, 'viewer@globex.test');
    await page.goto('/t/globex/check');
    await page.getByText('No databases to check yet').waitFor();
    await page.getByText(/an admin or owner registers databases/).waitFor();
    expect(await page.getByRole('link', { name: 'Register a database' }).count()).toBe(0);
    await ctx.close();
  });
});

describe('a tenant the user is not in', () => {
  it('asks the API nothing about it before saying “Not found”', async () => {
    expect((await web.stack.api.call('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: web.stack.upstream.port } })).status).toBe(201);
    const { ctx, page } = await web.signedIn(USERS.other);
    await page.waitForURL('**/t/globex/databases');
    const asked = recordApi(page);
    for (const path of ['/t/acme/databases', '/t/acme/databases/orders', '/t/acme/members', '/t/acme/check']) {
      await page.goto(path);
      await page.getByRole('alert').filter({ hasText: 'not a member' }).waitFor();
    }
    expect(asked.filter((r) => r.includes('/tenants/acme'))).toEqual([]);
    await ctx.close();
  });
});

describe('leaving a tenant', () => {
  it('a member leaves after confirming, and the tenant is gone from their dashboard', async () => {
    const { ctx, page } = await web.signedIn(USERS.member);
    await page.goto('/t/acme/members');
    const mine = page.getByRole('row').filter({ hasText: USERS.member });
    await mine.getByRole('button', { name: 'Leave' }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave Acme Corp?' });
    await dialog.getByText('You lose access to this tenant at once').waitFor();
    await expectAccessible(page, 'the leave confirmation');
    // Staying changes nothing.
    await dialog.getByRole('button', { name: 'Stay' }).click();
    await dialog.waitFor({ state: 'detached' });
    await mine.getByRole('button', { name: 'Leave' }).click();
    await page.getByRole('dialog', { name: 'Leave Acme Corp?' }).getByRole('button', { name: 'Leave tenant' }).click();
    await page.getByText('You left Acme Corp.').waitFor();
    // Acme was their only tenant.
    await page.getByRole('heading', { name: 'No tenants yet' }).waitFor();
    const members = (await web.stack.api.call('GET', '/api/v1/tenants/acme/members')).body.items as Array<{ email: string }>;
    expect(members.map((m) => m.email)).not.toContain(USERS.member);
    await page.goto('/t/acme/members');
    await page.getByRole('alert').filter({ hasText: 'not a member' }).waitFor();
    await ctx.close();
  });

  it('the last owner is warned, and the API’s refusal is shown when they try anyway', async () => {
    const { ctx, page } = await web.signedIn(USERS.owner);
    await page.goto('/t/acme/members');
    await page.getByRole('row').filter({ hasText: USERS.owner }).getByRole('button', { name: 'Leave' }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave Acme Corp?' });
    await dialog.getByText('You are its only owner').waitFor();
    await dialog.getByRole('button', { name: 'Leave tenant' }).click();
    await page.getByText('Leaving the tenant failed').waitFor();
    await page.getByText('A tenant must keep at least one owner').waitFor();
    await page.getByText(/SY_LAST_OWNER · request /).waitFor();
    expect(new URL(page.url()).pathname).toBe('/t/acme/members');
    const members = (await web.stack.api.call('GET', '/api/v1/tenants/acme/members')).body.items as Array<{ email: string; role: string }>;
    expect(members.find((m) => m.email === USERS.owner)?.role).toBe('owner');
    await ctx.close();
  });
});

async function expectAccessible(page: Page, what: string) {
  expect(await axeViolations(page), `axe on ${what}`).toEqual([]);
}
