/**
 * The dashboard's connections and operations pages in real Chromium (playwright-core) against
 * the real stack (web-stack.ts: API serving the built dashboard, the proxy process, a real
 * PostgreSQL with TLS) and real psql sessions:
 *  - a psql session shows in live mode while open, then in the table with its bytes and a
 *    normal close reason, and the chart counts it; a filter in the URL survives a reload;
 *    the CSV export of a filtered view holds exactly the rows shown;
 *  - Check connection: every step for a working route, the failing step for a disabled route
 *    and for one whose database is down;
 *  - a platform admin finds a connection refused for an unknown host name, and terminates a
 *    running psql from the page (psql reports the connection closed; the event names them);
 *  - another tenant's owner can neither see nor terminate it (UI and API);
 *  - axe finds no serious or critical violations on these pages.
 */
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { expectPsqlDisconnected, libpq, psqlSession } from '../support/tools.js';
import { axeViolations, fieldError } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { BASE_DOMAIN, PLATFORM_ADMIN as ADMIN, USERS } from './support/web-stack.js';

/** A clean end in passthrough: whichever side's FIN reached the proxy first. */
const NORMAL_ENDS = ['client_closed', 'upstream_closed'];
const orders = `orders.acme.${BASE_DOMAIN}`;

const web = useWebStack({
  tools: ['psql'],
  env: { PROXY_LIVENESS_MS: '5000' },
  platformAdmin: true,
  seed: async (stack) => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    for (const [name, port, enabled] of [
      ['orders', stack.upstream.port, true],
      ['closed', stack.upstream.port, false],
      ['gone', deadPort, true],
    ] as const) {
      await stack.must('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port } });
      await stack.must('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled, tlsMode: 'passthrough' });
    }
  },
});

/** A page in a fresh profile with a wide window, signed in as `email`. */
async function signIn(email: string): Promise<Page> {
  return (await web.signedIn(email, { viewport: { width: 1400, height: 1000 } })).page;
}

/** Reloads and counts matching rows once the list has loaded (rows or its empty state). */
async function reloadAndCount(page: Page, rows: ReturnType<Page['locator']>): Promise<number> {
  await page.reload();
  await page.getByRole('table', { name: 'Connection events' }).or(page.getByText('No connections match these filters')).first().waitFor();
  return rows.count();
}

const axe = axeViolations;

const psqlOrders = () => psqlSession(libpq(orders, web.stack.proxy.ports.postgres, { sslmode: 'require', application_name: 'web-e2e' }));

describe('connections page', () => {
  it('shows a psql session live, then in the table with its bytes and a normal close, counted by the chart; CSV matches the rows', async () => {
    const page = await signIn(USERS.owner);
    await page.goto('/t/acme/connections?live=true&range=1h');
    const session = psqlOrders();
    expect(await session.query('select 6 * 7')).toBe('42');
    const liveRow = page.getByRole('table', { name: 'Open connections' }).getByRole('row').filter({ hasText: orders });
    await liveRow.waitFor({ timeout: 15_000 });
    const liveId = await liveRow.getAttribute('data-live-id');
    await session.quit();
    await liveRow.waitFor({ state: 'detached', timeout: 15_000 });

    // Out of live mode, the finished connection is in the table with a normal close. The
    // proxy reports the close at once but writes the event with its next audit flush, which
    // may come after this page loaded: reload until it is there. Filtered on the outcome, not
    // the reason: in passthrough the proxy cannot read psql's Terminate, and on a loaded host
    // the database's FIN can reach it before psql's own — `upstream_closed`, also a normal
    // end (docs/proxy.md "Close reasons").
    await page.goto(`/t/acme/connections?range=1h&sni=${orders}&outcome=ok`);
    const rows = page.getByRole('table', { name: 'Connection events' }).locator('[data-event-id]');
    await expect.poll(() => reloadAndCount(page, rows), { timeout: 30_000 }).toBeGreaterThan(0);
    const row = rows.first();
    await row.click();
    const panel = page.getByRole('dialog', { name: 'Connection' });
    await expect.poll(() => panel.locator('[data-field="Connection id on the proxy"]').textContent()).toBe(liveId);
    const bytesIn = Number((await panel.locator('[data-field="Bytes from the client"]').textContent())!.split(' ')[0]);
    const bytesOut = Number((await panel.locator('[data-field="Bytes to the client"]').textContent())!.split(' ')[0]);
    expect(bytesIn).toBeGreaterThan(500);
    expect(bytesOut).toBeGreaterThan(1000);
    expect(await panel.locator('[data-field="Outcome"]').textContent()).toBe('ok');
    const reason = await panel.locator('[data-field="Reason"]').textContent();
    expect(NORMAL_ENDS).toContain(reason);
    // The API's record agrees byte for byte.
    const events = await web.stack.api.call('GET', `/api/v1/tenants/acme/connection-events?sni=${orders}&outcome=ok`);
    expect(events.body.items.find((e: { connectionId: string }) => e.connectionId === liveId)).toMatchObject({ bytesIn, bytesOut, outcome: 'ok', reason });
    await page.keyboard.press('Escape');
    expect(Number((await page.getByTestId('chart-total').textContent())!.split(' ')[0])).toBeGreaterThanOrEqual(1);

    // CSV of the filtered view = the rows shown.
    const shown = await page.locator('[data-event-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-id')));
    const href = (await page.getByTestId('csv-export').getAttribute('href'))!;
    const csv = await page.evaluate(async (u) => (await fetch(u)).text(), href);
    const ids = csv.trim().split('\r\n').slice(1).map((l) => l.split(',')[0]);
    expect(ids).toEqual(shown);
    expect(await axe(page)).toEqual([]);
    await page.close();
  });

  it('keeps filters in the URL across a reload', async () => {
    const page = await signIn(USERS.owner);
    await page.goto('/t/acme/connections?range=1h&outcome=rejected&client=10.0.0.0%2F8');
    await page.reload();
    expect(new URL(page.url()).searchParams.get('outcome')).toBe('rejected');
    await expect.poll(() => page.getByLabel('Client address or CIDR').inputValue()).toBe('10.0.0.0/8');
    await expect.poll(() => page.getByRole('textbox', { name: 'Outcome' }).or(page.getByLabel('Outcome')).first().inputValue()).toBe('rejected');
    await page.close();
  });

  it('shows a filter the API refuses on that filter, once, and recovers when it is corrected', async () => {
    const page = await signIn(USERS.owner);
    await page.goto('/t/acme/connections?range=1h');
    await page.getByRole('table', { name: 'Connection events' }).or(page.getByText('No connections match these filters')).first().waitFor();
    const client = page.getByLabel('Client address or CIDR');
    // Host bits set: the API refuses it (400 SY_VALIDATION on querystring.clientAddress).
    await client.fill('10.0.0.1/8');
    await client.press('Enter');
    expect(await fieldError(client)).toContain('zero host bits');
    await page.getByText('Correct the filter marked above').waitFor();
    expect(await page.getByText('Could not load this').count()).toBe(0);
    expect(new URL(page.url()).searchParams.get('client')).toBe('10.0.0.1/8');
    await client.fill('10.0.0.0/8');
    await client.press('Enter');
    await page.getByText('No connections match these filters').waitFor();
    expect(await client.getAttribute('aria-invalid')).not.toBe('true');
    // A span longer than the API serves (93 days), e.g. from an edited link.
    await page.goto('/t/acme/connections?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z');
    await page.getByRole('alert').filter({ hasText: 'must not exceed 93 days' }).waitFor();
    expect(await page.getByText('Could not load this').count()).toBe(0);
    await page.close();
  });
});

describe('check connection page', () => {
  it('reports every step for a working route and names the failing one otherwise', async () => {
    const page = await signIn(USERS.owner);
    const run = async (database: string) => {
      await page.goto(`/t/acme/check?database=${database}`);
      await page.getByRole('button', { name: 'Check connection' }).click();
      const result = page.getByTestId('check-result');
      await result.waitFor({ timeout: 20_000 });
      return result;
    };
    let r = await run('orders');
    expect(await r.locator('[data-step]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-step')}:${e.getAttribute('data-ok')}`))).toEqual([
      'reach:true',
      'tls:true',
      'certificate:true',
      'upstream:true',
    ]);
    expect(await r.textContent()).toContain('Works');
    expect(await axe(page)).toEqual([]);
    r = await run('closed');
    expect(await r.textContent()).toMatch(/Fails at: The proxy accepted the host name \(TLS\).*disabled/s);
    r = await run('gone');
    expect(await r.textContent()).toMatch(/Fails at: The database answered.*could not reach the database/s);
    await page.close();
  });
});

describe('platform admin operations', () => {
  it('finds a connection refused for an unknown host name', async () => {
    const s = tlsConnect({ host: '127.0.0.1', port: web.stack.proxy.ports.tls, servername: 'nobody.example.net', rejectUnauthorized: false });
    await new Promise<void>((resolve) => {
      s.once('error', () => resolve());
      s.once('close', () => resolve());
    });
    const page = await signIn(ADMIN);
    await page.goto('/admin/connections?range=1h&reason=unknown_host');
    const row = page.getByRole('table', { name: 'Connection events' }).getByRole('row').filter({ hasText: 'nobody.example.net' });
    await expect.poll(() => reloadAndCount(page, row), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await row.first().textContent()).toContain('unrouted');
    expect(await axe(page)).toEqual([]);
    for (const path of ['/admin/proxies', '/admin/audit', '/admin/tenants', '/admin/users', '/admin/tokens']) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1 }).waitFor();
      // The list, or its empty state (shown instead of an empty table: no platform token yet, say).
      await page.locator('table, [data-empty-state]').first().waitFor();
      expect(await axe(page), path).toEqual([]);
    }
    await page.close();
  });

  it('terminates a running psql from the page; the event names the admin; another tenant cannot see or end it', async () => {
    const session = psqlOrders();
    expect(await session.query('select 1')).toBe('1');

    // Another tenant's owner: no access to acme's pages, nothing in its own live list, 404 from the API.
    const other = await signIn(USERS.other);
    await other.goto('/t/acme/connections?live=true');
    await other.getByText(/no access|not found/i).first().waitFor();
    const seen = await other.evaluate(async () => {
      const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
      const acmeLive = await fetch('/api/v1/tenants/acme/connections/live');
      const own = (await (await fetch('/api/v1/tenants/globex/connections/live')).json()) as { items: unknown[] };
      const all = (await fetch('/api/v1/connections/live')).status;
      return { acme: acmeLive.status, own: own.items.length, all, csrf: me.csrfToken };
    });
    expect(seen).toMatchObject({ acme: 404, own: 0, all: 403 });

    const admin = await signIn(ADMIN);
    await admin.goto('/admin/connections?live=true&range=1h');
    const liveRow = admin.getByRole('table', { name: 'Open connections' }).getByRole('row').filter({ hasText: orders });
    await liveRow.waitFor({ timeout: 15_000 });
    const liveId = (await liveRow.getAttribute('data-live-id'))!;
    const proxyId = (await web.stack.api.call('GET', '/api/v1/connections/live')).body.items.find((c: { id: string }) => c.id === liveId).proxyId as string;
    const denied = await other.evaluate(
      async ({ path, csrf }) => (await fetch(path, { method: 'DELETE', headers: { 'x-csrf-token': csrf } })).status,
      { path: `/api/v1/proxies/${encodeURIComponent(proxyId)}/connections/${liveId}`, csrf: seen.csrf },
    );
    expect(denied).toBe(404);
    expect(await session.query('select 2')).toBe('2');

    await liveRow.getByRole('button', { name: 'Terminate' }).click();
    // The order is asynchronous (202 once committed): wait for the API's answer, then for the
    // proxy to report the connection gone, and only then ask psql for more — a query sent
    // before the proxy acted would succeed and psql would sit idle on a dead socket.
    const ordered = admin.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes(`/connections/${liveId}`));
    await admin.getByRole('dialog').getByRole('button', { name: 'Terminate' }).click();
    expect((await ordered).status()).toBe(202);
    await liveRow.waitFor({ state: 'detached', timeout: 30_000 });
    await expectPsqlDisconnected(session, 'select 3');

    await admin.goto('/admin/connections?range=1h&reason=terminated');
    const row = admin.getByRole('table', { name: 'Connection events' }).getByRole('row').filter({ hasText: 'terminated' });
    await expect.poll(() => reloadAndCount(admin, row), { timeout: 30_000 }).toBeGreaterThan(0);
    await row.first().click();
    const panel = admin.getByRole('dialog', { name: 'Connection' });
    await expect.poll(() => panel.locator('[data-field="Ended by"]').textContent()).toBe(`user:${ADMIN}`);
    expect(await panel.locator('[data-field="Connection id on the proxy"]').textContent()).toBe(liveId);

    // The audit trail has it, with before/after.
    await admin.goto('/admin/audit?action=connection.terminate');
    const audit = admin.locator('[data-audit-action="connection.terminate"]');
    await audit.first().waitFor();
    expect(await audit.first().textContent()).toMatch(/open.*→.*terminated/);
    await admin.close();
    await other.close();
  });
});
