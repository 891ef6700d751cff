/**
 * The dashboard in Debian's Chromium against the real API, as a demanding user of the token,
 * user, audit and outage paths: a secret the API returns once (a platform token, a generated
 * password) survives Escape and a click beside its dialog and copies exactly; revoked platform
 * tokens are marked, not offered for revoking again, and each names who created it; the audit
 * trail shows a change made elsewhere without a reload; a role changed from the keyboard keeps
 * the focus; a page opened while the control database is down says so with the request id
 * and recovers with *Try again* — without the frame when the session check itself fails, inside
 * it when only the page's data does; and the route error page inside the frame when a page's
 * code cannot be loaded.
 */
import { existsSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { axeViolations, signIn } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { PLATFORM_ADMIN as ADMIN, USERS } from './support/web-stack.js';

// The callbacks given to page.evaluate run in the browser; the e2e programs have no DOM types.
declare const window: any;
declare const document: any;
declare const navigator: any;

const web = useWebStack({ platformAdmin: true, dashboardCopy: true, page: { as: ADMIN } });

/** Escape and a click beside the dialog: a secret's dialog must still be open after both. */
async function tryToDismiss(dialog: ReturnType<Page['getByRole']>) {
  await web.page.keyboard.press('Escape');
  await web.page.mouse.click(5, 5);
  // Mantine closes on the next frame: give a close every chance to happen before looking.
  await web.page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  expect(await dialog.isVisible()).toBe(true);
  expect(await dialog.getByRole('button', { name: /close/i }).count()).toBe(0);
}

describe('secrets shown once', () => {
  it('a new platform token stays on screen until "I have stored it", copies exactly, and is never shown again', async () => {
    await web.page.goto('/admin/tokens');
    await web.page.getByRole('heading', { level: 1, name: 'Platform tokens' }).waitFor();
    await web.page.getByRole('button', { name: 'Create token' }).click();
    await web.page.getByLabel(/^Name/).fill('terraform');
    await web.page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = web.page.getByRole('dialog', { name: 'Platform token terraform created' });
    await dialog.waitFor();
    const secret = (await web.page.getByTestId('secret-once').innerText()).trim();
    // The secret works: it is a platform admin's token.
    const asAdmin = await fetch(`${web.stack.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${secret}` } });
    expect(asAdmin.status).toBe(200);

    await tryToDismiss(dialog);
    await dialog.getByRole('button', { name: 'Copy token' }).click();
    await dialog.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await web.page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    expect(await axeViolations(web.page)).toEqual([]);

    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = web.page.getByRole('row').filter({ hasText: 'terraform' });
    await row.waitFor();
    // Who made it: the admin signed in here.
    await row.getByRole('cell', { name: ADMIN, exact: true }).waitFor();
    expect(await web.page.content()).not.toContain(secret);
    // The list names the token by its prefix, which the secret carries (sy_<prefix>_…).
    expect(secret).toContain(`sy_${(await row.locator('code').innerText()).replace('…', '')}_`);
  });

  it('a generated initial password stays on screen until "I have stored it" and copies exactly', async () => {
    await web.page.goto('/admin/users');
    await web.page.getByRole('button', { name: 'Create user' }).click();
    await web.page.getByLabel(/^Email address/).fill('new.hire@acme.test');
    await web.page.getByLabel(/^Name/).fill('New Hire');
    await web.page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = web.page.getByRole('dialog', { name: 'Initial password of new.hire@acme.test' });
    await dialog.waitFor();
    const password = (await web.page.getByTestId('secret-once').innerText()).trim();
    await tryToDismiss(dialog);
    await dialog.getByRole('button', { name: 'Copy password' }).click();
    expect(await web.page.evaluate(() => navigator.clipboard.readText())).toBe(password);
    await dialog.getByRole('button', { name: 'I have stored it' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The password is the one the API set.
    const login = await fetch(`${web.stack.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'new.hire@acme.test', password }) });
    expect(login.status).toBe(200);
  });
});

describe('platform tokens', () => {
  it('a revoked token is marked revoked and not offered for revoking again; an active one asks first', async () => {
    const gone = await web.stack.must('POST', '/api/v1/platform/tokens', { name: 'old-ci' });
    const kept = await web.stack.must('POST', '/api/v1/platform/tokens', { name: 'new-ci' });
    await web.stack.must('DELETE', `/api/v1/platform/tokens/${gone.id}`);
    await web.page.goto('/admin/tokens');
    const goneRow = web.page.locator(`[data-token="${gone.prefix}"]`);
    const keptRow = web.page.locator(`[data-token="${kept.prefix}"]`);
    await goneRow.waitFor();
    expect(await goneRow.getByText('revoked', { exact: true }).count()).toBe(1);
    expect(await goneRow.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
    expect(await keptRow.getByText('active', { exact: true }).count()).toBe(1);
    // Made by automation with the bootstrap token, and the list says so.
    expect(await keptRow.getByRole('cell', { name: 'the bootstrap token (SWITCHYARD_ADMIN_TOKEN)', exact: true }).count()).toBe(1);

    await keptRow.getByRole('button', { name: `Revoke new-ci (${kept.prefix}…)` }).click();
    const confirm = web.page.getByRole('dialog', { name: 'Revoke new-ci?' });
    await confirm.getByText(/stops working at once/).waitFor();
    await confirm.getByRole('button', { name: 'Revoke' }).click();
    await web.page.getByText('new-ci revoked.').waitFor();
    await keptRow.getByText('revoked', { exact: true }).waitFor();
    const refused = await fetch(`${web.stack.url}/api/v1/tenants`, { headers: { authorization: `Bearer ${kept.token}` } });
    expect(refused.status).toBe(401);
  });
});

describe('audit trail', () => {
  it('shows a change made elsewhere when the tab is looked at again, and when Apply is pressed, without a reload', async () => {
    await web.page.goto('/admin/audit?action=tenant.update');
    await web.page.getByText('No changes match these filters').waitFor();
    const rows = web.page.locator('[data-audit-action="tenant.update"]');

    // Another tab (here: automation) changes a tenant; this tab is looked at again.
    await web.stack.must('PATCH', '/api/v1/tenants/acme', { name: 'Acme Corporation' });
    await expect
      .poll(async () => {
        // What the browser sends when the tab is shown again (TanStack Query listens on window).
        await web.page.evaluate(() => window.dispatchEvent(new Event('visibilitychange')));
        return rows.count();
      }, { timeout: 10_000 })
      .toBe(1);

    await web.stack.must('PATCH', '/api/v1/tenants/acme', { name: 'Acme Corp' });
    await web.page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    // Each moment says its zone and how long ago it was.
    const when = await rows.first().locator('time').innerText();
    expect(when).toMatch(/(UTC|GMT)/);
    expect(when).toMatch(/\((just now|\d+ minutes? ago)\)/);
  });
});

describe('members', () => {
  it('a role changed from the keyboard keeps the focus on its select, which shows the change until the list has it', async () => {
    const owner = await web.newContext();
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
      const members = await web.stack.must('GET', '/api/v1/tenants/acme/members');
      expect(members.items.find((m: { email: string }) => m.email === USERS.member).role).toBe('admin');
      await web.stack.must('PATCH', `/api/v1/tenants/acme/members/${members.items.find((m: { email: string }) => m.email === USERS.member).userId}`, { role: 'member' });
    } finally {
      await owner.close();
    }
  });
});

/**
 * The control database refusing new connections, the open ones cut: the API answers 500
 * SY_INTERNAL until `up()`. `close()` lets it in again whatever happened.
 */
async function controlDatabase() {
  const serverUrl = new URL(web.db.url);
  serverUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  const up = () => admin.query(`ALTER DATABASE ${web.db.name} ALLOW_CONNECTIONS true`);
  return {
    down: async () => {
      await admin.query(`ALTER DATABASE ${web.db.name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [web.db.name]);
    },
    up,
    close: async () => {
      await up().catch(() => {});
      await admin.end();
    },
  };
}

/** The signed-in frame around the page: the header's account menu, the navigation, one <main>. */
async function expectFrame(p: Page) {
  expect(await p.getByRole('banner').getByRole('button', { name: 'Olivia Owner: account menu' }).isVisible(), 'the header').toBe(true);
  const sections = p.getByRole('navigation', { name: 'Sections' });
  for (const link of ['Databases', 'Members', 'Check connection', 'Audit trail']) {
    expect(await sections.getByRole('link', { name: link }).isVisible(), `${link} in the navigation`).toBe(true);
  }
  expect(await p.getByRole('main').count(), 'main landmarks').toBe(1);
}

describe('the control database down', () => {
  it('a page opened meanwhile says what failed, with the request id, and Try again opens it once the database is back', async () => {
    const control = await controlDatabase();
    const owner = await web.newContext();
    try {
      const p = await owner.newPage();
      await signIn(p, USERS.owner);
      await p.goto('/t/acme/members');
      await p.getByText(USERS.member, { exact: true }).waitFor();
      await control.down();

      await p.reload();
      await p.getByRole('heading', { level: 1, name: 'The dashboard could not open this page' }).waitFor({ timeout: 30_000 });
      const alert = p.getByRole('alert');
      expect(await alert.innerText()).toMatch(/SY_INTERNAL · request [0-9a-f-]{36}/);
      expect(await p.getByText('Something went wrong!').count()).toBe(0);
      expect(await axeViolations(p)).toEqual([]);

      await control.up();
      await p.getByRole('button', { name: 'Try again' }).click();
      await p.getByText(USERS.member, { exact: true }).waitFor({ timeout: 30_000 });
      expect(new URL(p.url()).pathname).toBe('/t/acme/members');
    } finally {
      await control.close();
      await owner.close();
    }
  });

  it('a page opened from the navigation says so inside the frame, with the request id the API answered, and Try again loads it once the database is back', async () => {
    const control = await controlDatabase();
    const { ctx, page: p } = await web.signedIn(USERS.owner);
    try {
      await p.getByRole('heading', { level: 1, name: 'Databases' }).waitFor();
      // The request ids of the API's 5xx answers for the members list (the dashboard asks again
      // twice before it gives up, each with its own id).
      const failed: string[] = [];
      p.on('response', (r) => {
        if (new URL(r.url()).pathname === '/api/v1/tenants/acme/members' && r.status() >= 500) failed.push(r.headers()['x-request-id'] ?? '(none)');
      });
      await control.down();

      // Within the signed-in frame: the session is known, only the page's data has to come.
      const sections = p.getByRole('navigation', { name: 'Sections' });
      await sections.getByRole('link', { name: 'Members' }).click();
      await p.waitForURL('**/t/acme/members');
      const main = p.getByRole('main');
      const alert = main.getByRole('alert').filter({ hasText: 'Could not load this' });
      await alert.waitFor({ timeout: 30_000 });
      await expectFrame(p);
      expect(await main.getByRole('heading', { level: 1, name: 'Members' }).isVisible()).toBe(true);
      // The API's message and code, and the request id of the answer that failed.
      const text = await alert.innerText();
      expect(text).toContain('Internal server error');
      const shown = /SY_INTERNAL · request ([0-9a-f-]{36})/.exec(text)?.[1];
      expect(shown, text).toBeDefined();
      expect(failed).toContain(shown);
      // With the pointer still on the navigation's active link: its hover colours pass too
      // (theme.ts; they measured 4.13:1 before).
      expect(await axeViolations(p)).toEqual([]);

      await control.up();
      await alert.getByRole('button', { name: 'Try again' }).click();
      await main.getByText(USERS.member, { exact: true }).waitFor({ timeout: 30_000 });
      await alert.waitFor({ state: 'detached' });
      expect(new URL(p.url()).pathname).toBe('/t/acme/members');
      await expectFrame(p);
    } finally {
      await control.close();
      await ctx.close();
    }
  });
});

describe('a page whose code the server cannot send', () => {
  // The route error page inside the frame. A page's data failing never shows it (the page
  // reports that itself, above); the router shows it when a page's code cannot be loaded. The
  // fault is real, on the server: the page's chunk in the copy of the build the API serves
  // becomes a link to itself (ELOOP), which the API answers with 500 — as root, a file's
  // permissions cannot make it unreadable. The browser's import() does not expose the answer,
  // so the page shows the browser's message (naming the file), not the API's request id.
  it('shows the route error inside the signed-in frame, and Try again opens the page once the file is back', async () => {
    const assets = join(web.dashboardDir, 'assets');
    const chunk = readdirSync(assets).find((f) => /^CheckConnectionPage-[\w-]+\.js$/.test(f));
    expect(chunk, 'the Check connection page is a chunk of its own (router.tsx: lazyRouteComponent)').toBeDefined();
    const file = join(assets, chunk!);
    const kept = `${file}.kept`;
    const { ctx, page: p } = await web.signedIn(USERS.owner);
    try {
      await p.getByRole('heading', { level: 1, name: 'Databases' }).waitFor();
      const answers: number[] = [];
      p.on('response', (r) => {
        if (r.url().endsWith(`/assets/${chunk}`)) answers.push(r.status());
      });
      renameSync(file, kept);
      symlinkSync(chunk!, file);

      // TanStack Router reloads the document once for a chunk that failed to load (a new
      // deployment may have replaced it); failing again, the route error page is shown.
      await p.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Check connection' }).click();
      const heading = p.getByRole('heading', { level: 1, name: 'The dashboard could not open this page' });
      await heading.waitFor({ timeout: 30_000 });
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.every((s) => s === 500), `answers for the chunk: ${answers.join(', ')}`).toBe(true);
      expect(new URL(p.url()).pathname).toBe('/t/acme/check');
      // Inside the frame, in its <main>.
      await expectFrame(p);
      const main = p.getByRole('main');
      expect(await main.getByRole('heading', { level: 1, name: 'The dashboard could not open this page' }).isVisible()).toBe(true);
      const alert = main.getByRole('alert');
      expect(await alert.innerText()).toContain(`Failed to fetch dynamically imported module: ${web.stack.url}/assets/${chunk}`);
      expect(await p.getByText('Something went wrong!').count()).toBe(0);
      expect(await axeViolations(p)).toEqual([]);

      unlinkSync(file);
      renameSync(kept, file);
      await alert.getByRole('button', { name: 'Try again' }).click();
      await main.getByRole('heading', { level: 1, name: 'Check connection' }).waitFor({ timeout: 30_000 });
      expect(await heading.count()).toBe(0);
      expect(answers.at(-1)).toBe(200);
    } finally {
      if (existsSync(kept)) {
        rmSync(file, { force: true });
        renameSync(kept, file);
      }
      await ctx.close();
    }
  });
});
