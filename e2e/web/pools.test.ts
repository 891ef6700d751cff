/**
 * The platform's pools on a database page, in real Chromium against the real stack with a pool
 * of dedicated ports and a static egress address configured (every other web test runs
 * without, where both controls are disabled): an owner turns on a dedicated port and picks the
 * egress address in Access settings; the Connect tab's "Without SNI" string, run by a real
 * psql without SNI, reaches the database — which sees the connection come from the chosen
 * egress address; turning the port off from the page releases it.
 *
 * Loopback stands in for the platform's addresses: the egress address is 127.0.0.2 (every
 * 127/8 address is local on Linux), and the upstream PostgreSQL is told to accept it.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, getFreePort, type TestDatabase } from '@switchyard/testkit';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../support/tools.js';
import { axeViolations, launchBrowser, signedIn } from './support/browser.js';
import { startWebStack, USERS, type WebStack } from './support/web-stack.js';

const EGRESS = '127.0.0.2';
let db: TestDatabase;
let stack: WebStack;
let browser: Browser;
let page: Page;
let dedicated: number;

const psql = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  browser = await launchBrowser();
  db = await createTestDatabase();
  dedicated = await getFreePort();
  const pools = { SWITCHYARD_DEDICATED_PORTS: String(dedicated), SWITCHYARD_EGRESS_SOURCE_ADDRESSES: EGRESS };
  stack = await startWebStack(db.url, pools, { ...pools, PROXY_DEDICATED_HOST: '127.0.0.1' });
  // The upstream accepts connections from the egress address too (initdb allows 127.0.0.1 only).
  appendFileSync(join(stack.upstream.dataDir, 'pg_hba.conf'), `\nhost all all ${EGRESS}/32 scram-sha-256\n`);
  const admin = new pg.Client({ connectionString: stack.upstream.url });
  await admin.connect();
  await admin.query('select pg_reload_conf()');
  await admin.end();
  await stack.must('POST', '/api/v1/tenants/acme/databases', { name: 'orders', engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
  ({ page } = await signedIn(browser, stack.url, USERS.owner));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await db?.drop();
});

describe('dedicated port and egress address from the database page', () => {
  it('an owner turns both on; psql without SNI connects through the port and arrives from the egress address', async () => {
    await page.goto('/t/acme/databases/orders?tab=access');
    const port = page.getByRole('switch', { name: 'Dedicated port' });
    const egress = page.getByRole('combobox', { name: 'Egress source address' });
    await port.waitFor();
    expect(await port.isDisabled(), 'the pool is configured: the control is offered').toBe(false);
    expect(await egress.isDisabled()).toBe(false);
    await page.getByRole('switch', { name: /External access/ }).click();
    await page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await port.click();
    await egress.click();
    await page.getByRole('option', { name: EGRESS }).click();
    await page.getByRole('button', { name: 'Save access settings' }).click();
    await page.getByText('Access settings saved').waitFor();
    // Saving marks the change pending at once; "live" is then this change applied on every proxy.
    await page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await page.getByText(`Port ${dedicated} is this database’s own (for clients without SNI)`).waitFor();
    expect(await egress.inputValue()).toBe(EGRESS);
    await page.getByText(`clients without SNI, port ${dedicated}`).waitFor();
    expect(await stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ enabled: true, dedicatedPort: dedicated, sourceAddress: EGRESS });
    expect(await axeViolations(page), 'axe on access settings with both pools in use').toEqual([]);

    // The Connect tab's own string for clients without SNI, filled in and run as shown.
    await page.getByRole('tab', { name: 'Connect' }).click();
    await page.getByLabel('Database user').fill('postgres');
    await page.getByLabel('Database name').fill('postgres');
    await page.getByRole('tab', { name: 'Without SNI (dedicated port)' }).click();
    const shown = await page.getByTestId('conn-Without SNI (dedicated port) connection string').innerText();
    const conn = /^psql "(.*)"$/.exec(shown.trim())?.[1];
    expect(conn, shown).toBeDefined();
    expect(conn).toContain(`port=${dedicated}`);
    expect(conn).not.toContain('hostaddr');
    // The page names the platform's public address; here the proxy listens on loopback.
    const local = conn!.replace(/host=\S+/, 'host=127.0.0.1');
    const r = await psql(local, "select host(inet_client_addr()) || ' ' || (select ssl::text from pg_stat_ssl where pid = pg_backend_pid())");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${EGRESS} true`);
  });

  it('turning the dedicated port off from the page releases it: the port no longer answers', async () => {
    await page.goto('/t/acme/databases/orders?tab=access');
    const port = page.getByRole('switch', { name: 'Dedicated port' });
    await page.getByText(`Port ${dedicated} is this database’s own (for clients without SNI)`).waitFor();
    await port.click();
    await page.getByRole('button', { name: 'Save access settings' }).click();
    await page.getByText('Access settings saved').waitFor();
    await page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await page.getByText('Give this database a port of its own, for clients that cannot send SNI').waitFor();
    expect(await stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ dedicatedPort: null });
    const r = await psql(`host=127.0.0.1 port=${dedicated} user=postgres dbname=postgres sslmode=require connect_timeout=5`, 'select 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection refused|server closed the connection/);
  });
});
