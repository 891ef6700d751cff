/**
 * The dashboard in Debian's Chromium against the real API, as a demanding user of the token,
 * user, audit and outage paths: a secret the API returns once (a platform token, a generated
 * password) survives Escape and a click beside its dialog and copies exactly; revoked platform
 * tokens are marked, not offered for revoking again, and each names who created it; the audit
 * trail shows a change made elsewhere without a reload; a role changed from the keyboard keeps
 * the focus; and a page opened while the control database is down says so with the request id
 * and recovers with *Try again*.
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, newContext, launchBrowser, signIn } from './support/browser.js';
import { addPlatformAdmin, PLATFORM_ADMIN as ADMIN, startWebStack, USERS, type WebStack } from './support/web-stack.js';

// The callbacks given to page.evaluate run in the browser; the e2e programs have no DOM types.
declare const window: any;
declare const document: any;
declare const navigator: any;

let db: TestDatabase;
let stack: WebStack;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;


beforeAll(async () => {
  browser = await launchBrowser();
  db = await createTestDatabase();
  stack = await startWebStack(db.url);
  await addPlatformAdmin(stack);
  ctx = await newContext(browser, stack.url);
  page = await ctx.newPage();
  await signIn(page, ADMIN);
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await db?.drop();
});

/** Escape and a click beside the dialog: a secret's dialog must still be open after both. */
async function tryToDismiss(dialog: ReturnType<Page['getByRole']>) {
  await page.keyboard.press('Escape');
  await page.mouse.click(5, 5);
  // Mantine closes on the next frame: give a close every chance to happen before looking.
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  expect(await dialog.isVisible()).toBe(true);
  expect(await dialog.getByRole('button', { name: /close/i }).count()).toBe(0);
}

describe('secrets shown once', () => {
  it('a new platform token stays on screen until "I have stored it", copies exactly, and is never shown again', async () => {
    await page.goto('/admin/tokens');
    await page.getByRole('heading', { level: 1, name: 'Platform tokens' }).waitFor();
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByLabel(/^Name/).fill('terraform');
    await page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Platform token terraform created' });
    await dialog.waitFor();
    const secret = (await page.getByTestId('secret-once').innerText()).trim();
    // The secret works: it is a platform admin's token.
    const asAdmin = await fetch(`${stack.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${secret}` } });
    expect(asAdmin.status).toBe(200);

    await tryToDismiss(dialog);
    await dialog.getByRole('button', { name: 'Copy token' }).click();
    await dialog.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    expect(await axeViolations(page)).toEqual([]);

    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.getByRole('row').filter({ hasText: 'terraform' });
    await row.waitFor();
    // Who made it: the admin signed in here.
    await row.getByRole('cell', { name: ADMIN, exact: true }).waitFor();
    expect(await page.content()).not.toContain(secret);
    // The list names the token by its prefix, which the secret carries (sy_<prefix>_…).
    expect(secret).toContain(`sy_${(await row.locator('code').innerText()).replace('…', '')}_`);
  });

  it('a generated initial password stays on screen until "I have stored it" and copies exactly', async () => {
    await page.goto('/admin/users');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByLabel(/^Email address/).fill('new.hire@acme.test');
    await page.getByLabel(/^Name/).fill('New Hire');
    await page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Initial password of new.hire@acme.test' });
    await dialog.waitFor();
    const password = (await page.getByTestId('secret-once').innerText()).trim();
    await tryToDismiss(dialog);
    await dialog.getByRole('button', { name: 'Copy password' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(password);
    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The password is the one the API set.
    const login = await fetch(`${stack.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'new.hire@acme.test', password }) });
    expect(login.status).toBe(200);
  });
});

describe('platform tokens', () => {
  it('a revoked token is marked revoked and not offered for revoking again; an active one asks first', async () => {
    const gone = await stack.must('POST', '/api/v1/platform/tokens', { name: 'old-ci' });
    const kept = await stack.must('POST', '/api/v1/platform/tokens', { name: 'new-ci' });
    await stack.must('DELETE', `/api/v1/platform/tokens/${gone.id}`);
    await page.goto('/admin/tokens');
    const goneRow = page.locator(`[data-token="${gone.prefix}"]`);
    const keptRow = page.locator(`[data-token="${kept.prefix}"]`);
    await goneRow.waitFor();
    expect(await goneRow.getByText('revoked', { exact: true }).count()).toBe(1);
    expect(await goneRow.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
    expect(await keptRow.getByText('active', { exact: true }).count()).toBe(1);
    // Made by automation with the bootstrap token, and the list says so.
    expect(await keptRow.getByRole('cell', { name: 'the bootstrap token (SWITCHYARD_ADMIN_TOKEN)', exact: true }).count()).toBe(1);

    await keptRow.getByRole('button', { name: `Revoke new-ci (${kept.prefix}…)` }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke new-ci?' });
    await confirm.getByText(/stops working at once/).waitFor();
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('new-ci revoked.').waitFor();
    await keptRow.getByText('revoked', { exact: true }).waitFor();
    const refused = await fetch(`${stack.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${kept.token}` } });
    expect(refused.status).toBe(401);
  });
});

describe('audit trail', () => {
  it('shows a change made elsewhere when the tab is looked at again, and when Apply is pressed, without a reload', async () => {
    await page.goto('/admin/audit?action=tenant.update');
    await page.getByText('No changes match these filters').waitFor();
    const rows = page.locator('[data-audit-action="tenant.update"]');

    // Another tab (here: automation) changes a tenant; this tab is looked at again.
    await stack.must('PATCH', '/api/v1/tenants/acme', { name: 'Acme Corporation' });
    await expect
      .poll(async () => {
        // What the browser sends when the tab is shown again (TanStack Query listens on window).
        await page.evaluate(() => window.dispatchEvent(new Event('visibilitychange')));
        return rows.count();
      }, { timeout: 10_000 })
      .toBe(1);

    await stack.must('PATCH', '/api/v1/tenants/acme', { name: 'Acme Corp' });
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    // Each moment says its zone and how long ago it was.
    const when = await rows.first().locator('time').innerText();
    expect(when).toMatch(/(UTC|GMT)/);
    expect(when).toMatch(/\((just now|\d+ minutes? ago)\)/);
  });
});

describe('members', () => {
  it('a role changed from the keyboard keeps the focus on its select, which shows the change until the list has it', async () => {
    const owner = await newContext(browser, stack.url);
    try {
      const p = await owner.newPage();
      await signIn(p, USERS.owner);
      await p.goto('/t/acme/members');
      // The input (its options list carries the same label while open).
      const select = p.getByRole('combobox', { name: `Role of ${USERS.member}`, exact: true });
      await select.focus();
      // Open the options, move from "member" to "admin", choose it.
      await p.keyboard.press('ArrowDown');
      await p.getByRole('option', { name: /^admin/ }).waitFor();
      await p.keyboard.press('ArrowDown');
      await p.keyboard.press('Enter');
      await p.getByText(`${USERS.member} is now admin`).waitFor();
      expect(await p.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(`Role of ${USERS.member}`);
      expect(await select.inputValue()).toMatch(/^admin/);
      const members = await stack.must('GET', '/api/v1/tenants/acme/members');
      expect(members.items.find((m: { email: string }) => m.email === USERS.member).role).toBe('admin');
      await stack.must('PATCH', `/api/v1/tenants/acme/members/${members.items.find((m: { email: string }) => m.email === USERS.member).userId}`, { role: 'member' });
    } finally {
      await owner.close();
    }
  });
});

describe('the control database down', () => {
  it('a page opened meanwhile says what failed, with the request id, and Try again opens it once the database is back', async () => {
    const serverUrl = new URL(db.url);
    serverUrl.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: serverUrl.toString() });
    await admin.connect();
    const owner = await newContext(browser, stack.url);
    try {
      const p = await owner.newPage();
      await signIn(p, USERS.owner);
      await p.goto('/t/acme/members');
      await p.getByText(USERS.member, { exact: true }).waitFor();
      // No new connections to the control database, and the open ones cut.
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);

      await p.reload();
      await p.getByRole('heading', { level: 1, name: 'The dashboard could not open this page' }).waitFor({ timeout: 30_000 });
      const alert = p.getByRole('alert');
      expect(await alert.innerText()).toMatch(/SY_INTERNAL · request [0-9a-f-]{36}/);
      expect(await p.getByText('Something went wrong!').count()).toBe(0);
      expect(await axeViolations(p)).toEqual([]);

      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
      await p.getByRole('button', { name: 'Try again' }).click();
      await p.getByText(USERS.member, { exact: true }).waitFor({ timeout: 30_000 });
      expect(new URL(p.url()).pathname).toBe('/t/acme/members');
    } finally {
      await admin.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`).catch(() => {});
      await admin.end();
      await owner.close();
    }
  });
});
