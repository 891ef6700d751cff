/**
 * The dashboard in a real browser (Debian's Chromium) against the real API, a real
 * PostgreSQL and the real proxy: a tenant's journey from signing in to connecting with psql
 * using exactly the string the page copied, the refusals each role and tenant must meet,
 * errors shown on the fields they name, and axe on every page. One browser, one stack.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testCert } from '@switchyard/testkit';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, fieldError, signIn } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { PASSWORD, USERS } from './support/web-stack.js';

// The owner's page: signed in by the first test, as part of the journey.
const web = useWebStack({ tools: ['psql'], page: {} });
let copiedPsql = '';
let clientDir: string;

/** Runs a copied shell command as a user would paste it: in a folder holding the CA it names. */
function runCopied(command: string, sql: string) {
  return spawnSync('sh', ['-c', command], {
    cwd: clientDir,
    input: sql,
    encoding: 'utf8',
    timeout: 20_000,
    // No DNS for test hostnames: libpq dials PGHOSTADDR and still sends the hostname as SNI.
    env: { ...process.env, PGHOSTADDR: '127.0.0.1', PGPASSWORD: 'postgres', PGCONNECT_TIMEOUT: '10' },
  });
}

async function expectAccessible(page: Page, what: string) {
  expect(await axeViolations(page), `axe on ${what}`).toEqual([]);
}

beforeAll(() => {
  clientDir = mkdtempSync(join(tmpdir(), 'sy-web-client-'));
  // Passthrough: clients verify the database's own certificate, saved as the panel says.
  copyFileSync(web.stack.upstream.caFile, join(clientDir, 'DATABASE_CA.pem'));
});

afterAll(() => {
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

describe('a tenant owner', () => {
  it('signs in, registers a database, flips the switch, sees it live on every proxy, and psql connects with the copied string', async () => {
    const { page } = web;
    await signIn(page, USERS.owner);
    await page.getByRole('heading', { name: 'Databases' }).waitFor();
    await page.getByText('No databases yet').waitFor();
    await expectAccessible(page, 'the empty databases list');

    await page.getByRole('button', { name: 'Register a database' }).click();
    await page.getByLabel(/^Name/).fill('orders');
    await page.getByLabel('Host 1').fill('127.0.0.1');
    await page.getByLabel('Port 1').fill(String(web.stack.upstream.port));
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.waitForURL('**/t/acme/databases/orders');

    const toggle = page.getByRole('switch', { name: /External access/ });
    expect(await toggle.isChecked()).toBe(false);
    await page.locator('[data-testid="propagation"][data-phase="off"]').waitFor();
    await expectAccessible(page, 'the database page (connect tab)');

    // The switch shows what the API stores: it turns on when the PUT has answered, which
    // Playwright's check() (it reads the state right after its click) does not wait for.
    await toggle.click();
    await expect.poll(() => toggle.isChecked(), { timeout: 20_000 }).toBe(true);
    const live = page.locator('[data-testid="propagation"][data-phase="live"]');
    await live.waitFor({ timeout: 20_000 });
    expect(await live.innerText()).toContain('Live on 1 of 1 proxy');

    await page.getByLabel('Database user').fill('postgres');
    await page.getByLabel('Database name').fill('postgres');
    await page.getByRole('button', { name: 'Copy psql connection string' }).click();
    // The page runs in the browser: its globals are not Node's.
    copiedPsql = await page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    expect(copiedPsql).toBe(await page.getByTestId('conn-psql connection string').innerText());
    expect(copiedPsql).toMatch(/^psql "host=orders\.acme\.db\.example\.test port=\d+ dbname=postgres user=postgres sslmode=verify-full sslrootcert=DATABASE_CA\.pem"$/);

    const out = runCopied(copiedPsql, 'select 6 * 7 as answer;\n');
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/answer\s*\n-+\s*\n\s*42/);
  });

  it('disables access choosing what happens to open connections; a new psql then fails', async () => {
    const { page } = web;
    // A controlled switch: the click asks first, so the switch itself does not move yet.
    await page.getByRole('switch', { name: /External access/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable external access?' });
    await dialog.getByLabel('Close them now').check();
    await dialog.getByRole('button', { name: 'Disable access' }).click();
    const off = page.locator('[data-testid="propagation"][data-phase="off"]');
    await off.waitFor({ timeout: 20_000 });
    expect(await off.innerText()).toContain('Off on 1 of 1 proxy');
    expect(await page.getByRole('switch', { name: /External access/ }).isChecked()).toBe(false);

    const out = runCopied(copiedPsql, 'select 1;\n');
    expect(out.status).not.toBe(0);
    expect(out.stdout).not.toContain('(1 row)');
  });

  it('sees a refused upstream explained on the host field', async () => {
    const { page } = web;
    await page.goto('/t/acme/databases?register=true');
    await page.getByLabel(/^Name/).fill('outside');
    await page.getByLabel('Host 1').fill('10.9.9.9');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const message = await fieldError(page.getByLabel('Host 1'));
    expect(message.length).toBeGreaterThan(5);
    // Nothing was registered.
    expect((await web.stack.api.call('GET', '/api/v1/tenants/acme/databases/outside')).status).toBe(404);
  });

  it('sees a taken hostname on the hostname field', async () => {
    const { page } = web;
    const taken = 'pg.acme.example.test';
    expect((await web.stack.api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: false, hostname: taken })).status).toBe(200);
    expect((await web.stack.api.call('POST', '/api/v1/tenants/acme/databases', { name: 'billing', engine: 'postgres', upstream: { host: '127.0.0.1', port: web.stack.upstream.port } })).status).toBe(201);
    await page.goto('/t/acme/databases/billing?tab=access');
    const hostname = page.getByRole('textbox', { name: /^Hostname/ });
    await hostname.fill(taken);
    await expectAccessible(page, 'the access settings tab');
    await page.getByRole('button', { name: 'Save access settings' }).click();
    expect(await fieldError(hostname)).toContain('taken');
  });

  it('sees a key that does not match the certificate rejected beside the key field', async () => {
    const { page } = web;
    await page.goto('/t/acme/certificates?add=upload');
    const chain = testCert(['www.acme.example.test']);
    const other = testCert(['www.acme.example.test']);
    await page.getByLabel(/^Name/).fill('www');
    await page.getByLabel(/^Certificate chain/).fill(chain.certPem);
    const key = page.getByLabel(/^Private key/);
    await key.fill(other.keyPem);
    await page.getByRole('button', { name: 'Upload certificate' }).last().click();
    expect(await fieldError(key)).toMatch(/key/i);
    expect(await page.getByLabel(/^Certificate chain/).getAttribute('aria-invalid')).not.toBe('true');

    await page.getByLabel(/^Private key/).fill(chain.keyPem);
    await page.getByRole('button', { name: 'Upload certificate' }).last().click();
    await page.getByTestId('cert-www').waitFor();
    await expectAccessible(page, 'the certificates page');
  });

  it('creates an API token whose secret is shown once, and passes axe on tokens, members and account', async () => {
    const { page } = web;
    await page.goto('/t/acme/tokens');
    await page.getByRole('button', { name: 'Create token' }).first().click();
    await page.getByLabel(/^Name/).fill('ci');
    await page.getByRole('dialog').getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByTestId('secret-once').innerText();
    const me = await fetch(`${web.stack.url}/api/v1/tenants/acme/databases`, { headers: { authorization: `Bearer ${secret.trim()}` } });
    expect(me.status).toBe(200);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await page.getByRole('cell', { name: 'ci', exact: true }).waitFor();
    // Whose token it is (a user's tokens go when their access does).
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'ci', exact: true }) });
    await row.getByRole('cell', { name: USERS.owner, exact: true }).waitFor();
    await expectAccessible(page, 'the tokens page');

    await page.goto('/t/acme/members');
    await page.getByText(USERS.member, { exact: true }).waitFor();
    await expectAccessible(page, 'the members page');

    await page.goto('/account');
    await page.getByRole('heading', { name: 'Change password' }).waitFor();
    await expectAccessible(page, 'the account page');
  });

  it('opening a database that does not exist says so and leads back to the list', async () => {
    const { page } = web;
    await page.goto('/t/acme/databases/no-such-db');
    await page.getByRole('heading', { name: 'Database not found' }).waitFor();
    expect(await page.getByRole('alert').innerText()).toContain('no-such-db');
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
    await expectAccessible(page, 'a database that does not exist');
    await page.getByRole('link', { name: 'Back to the databases' }).click();
    await page.waitForURL('**/t/acme/databases');
    await page.getByRole('heading', { name: 'Databases' }).waitFor();
  });
});

describe('other people', () => {
  it('a member sees the database read-only and cannot flip the switch', async () => {
    const { ctx, page } = await web.signedIn(USERS.member);
    await page.goto('/t/acme/databases/orders');
    const toggle = page.getByRole('switch', { name: /External access/ });
    await toggle.waitFor();
    expect(await toggle.isDisabled()).toBe(true);
    expect(await page.locator('[data-disabled-reason]').first().getAttribute('aria-label')).toContain('member');
    await toggle.click({ force: true });
    expect(await toggle.isChecked()).toBe(false);
    await expectAccessible(page, 'the database page as a member');
    // The API agrees: the member's session cannot change access either.
    const put = await page.evaluate(async () => {
      const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
      const r = await fetch('/api/v1/tenants/acme/databases/orders/external-access', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ enabled: true }),
      });
      return r.status;
    });
    expect(put).toBe(403);
    await ctx.close();
  });

  it('the audit trail shows each action in full to the owner, and tells a member it is for admins', async () => {
    const { page } = web;
    await page.goto('/t/acme/audit');
    const actions = page.getByTestId('audit-action');
    await actions.first().waitFor();
    // Each badge's label holds its whole text ("member.add", not "membe…").
    const cut = await actions.evaluateAll((els) =>
      els
        .filter((el) => {
          const label = el.querySelector('span') ?? el;
          return label.scrollWidth > label.clientWidth;
        })
        .map((el) => el.textContent),
    );
    expect(cut).toEqual([]);
    // An action filter the API refuses is shown on that filter, not as a trail that failed.
    const action = page.getByLabel('Action');
    await action.fill('Route Enable');
    await action.press('Enter');
    expect(await fieldError(action)).toContain('must match pattern');
    await page.getByText('Correct the filter marked above').waitFor();
    expect(await page.getByText('Could not load this').count()).toBe(0);
    await action.fill('route.enable');
    await action.press('Enter');
    await page.locator('[data-audit-action="route.enable"]').first().waitFor();

    const ctx = await web.newContext();
    const member = await ctx.newPage();
    const asked: string[] = [];
    member.on('request', (r) => {
      if (r.url().includes('/audit-events')) asked.push(r.url());
    });
    await signIn(member, USERS.member);
    await member.goto('/t/acme/audit');
    await member.getByText('the audit trail is for its admins and owners').waitFor();
    expect(await member.getByText('Could not load this').count()).toBe(0);
    expect(asked).toEqual([]);
    await expectAccessible(member, 'the audit trail as a member');
    await ctx.close();
  });

  it('a tenant admin manages members but not owners, and is told why before the API refuses', async () => {
    const email = 'admin@acme.test';
    expect((await web.stack.api.call('POST', '/api/v1/users', { email, name: 'Acme Admin', password: PASSWORD })).status).toBe(201);
    expect((await web.stack.api.call('POST', '/api/v1/tenants/acme/members', { email, role: 'admin' })).status).toBe(201);
    const { ctx, page } = await web.signedIn(email);
    await page.goto('/t/acme/members');
    const ownerRole = page.getByRole('combobox', { name: `Role of ${USERS.owner}` });
    await ownerRole.waitFor();
    expect(await ownerRole.isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: `Remove ${USERS.owner}` }).isDisabled()).toBe(true);
    expect(await page.locator('[data-disabled-reason*="owner role"]').count()).toBeGreaterThan(0);
    expect(await page.getByRole('combobox', { name: `Role of ${USERS.member}` }).isDisabled()).toBe(false);
    // Adding someone: owner is offered, disabled, with the reason under the field.
    await page.getByRole('button', { name: 'Add member' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Only an owner of this tenant').waitFor();
    await dialog.getByRole('combobox', { name: 'Role' }).click();
    const owner = page.getByRole('option', { name: /^owner/ });
    await owner.waitFor();
    expect(await owner.getAttribute('data-combobox-disabled')).toBe('true');
    expect(await page.getByRole('option', { name: /^admin/ }).getAttribute('data-combobox-disabled')).toBeNull();
    await ctx.close();
  });

  it('a user of another tenant cannot open the database’s URL', async () => {
    const { ctx, page } = await web.signedIn(USERS.other);
    await page.waitForURL('**/t/globex/databases');
    await page.goto('/t/acme/databases/orders');
    await page.getByRole('alert').filter({ hasText: 'not a member' }).waitFor();
    const text = await page.locator('body').innerText();
    expect(text).not.toContain('orders.acme');
    expect(text).not.toContain(String(web.stack.upstream.port));
    expect((await page.request.get('/api/v1/tenants/acme/databases/orders')).status()).toBe(404);
    await expectAccessible(page, 'the no-access page');
    await ctx.close();
  });

  it('a page whose session ended elsewhere goes to the sign-in page, which comes back to it', async () => {
    const { ctx, page } = await web.signedIn(USERS.owner);
    await page.goto('/t/acme/databases');
    await page.getByRole('heading', { name: 'Databases' }).waitFor();
    // Another tab of the same browser signs out: this tab's session is gone.
    const other = await ctx.newPage();
    await other.goto('/t/acme/databases');
    await other.getByRole('heading', { name: 'Databases' }).waitFor();
    const status = await other.evaluate(async () => {
      const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
      return (await fetch('/api/v1/auth/logout', { method: 'POST', headers: { 'x-csrf-token': me.csrfToken } })).status;
    });
    expect(status).toBeLessThan(300);
    await other.close();
    // The next page this tab opens asks the API, which answers 401: not an error box with
    // "Try again", but the sign-in page saying why.
    await page.getByRole('link', { name: 'Members' }).click();
    await page.waitForURL('**/login?**');
    await page.getByText('Your session has ended').waitFor();
    expect(await page.getByText('Could not load this').count()).toBe(0);
    await page.getByLabel(/^Email/).fill(USERS.owner);
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/t/acme/members');
    await page.getByRole('heading', { name: 'Members' }).waitFor();
    await ctx.close();
  });

  it('a signed-out visitor gets the sign-in page, which passes axe', async () => {
    const ctx = await web.newContext();
    const page = await ctx.newPage();
    await page.goto('/t/acme/databases');
    await page.waitForURL('**/login**');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await expectAccessible(page, 'the sign-in page');
    await ctx.close();
  });
});
