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
import { getFreePort } from '@switchyard/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { run } from '../support/tools.js';
import { axeViolations } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { USERS } from './support/web-stack.js';

const EGRESS = '127.0.0.2';
const dedicated = await getFreePort();
const pools = { SWITCHYARD_DEDICATED_PORTS: String(dedicated), SWITCHYARD_EGRESS_SOURCE_ADDRESSES: EGRESS };

const psql = (conn: string, sql: string) => run('psql', ['-X', '-A', '-t', '-c', sql, conn], { env: { PGPASSWORD: 'postgres' } });

const web = useWebStack({
  tools: ['psql'],
  env: pools,
  proxyEnv: { ...pools, PROXY_DEDICATED_HOST: '127.0.0.1' },
  databases: ['orders'],
  seed: async (stack) => {
    // The upstream accepts connections from the egress address too (initdb allows 127.0.0.1 only).
    appendFileSync(join(stack.upstream.dataDir, 'pg_hba.conf'), `\nhost all all ${EGRESS}/32 scram-sha-256\n`);
    const admin = new pg.Client({ connectionString: stack.upstream.url });
    await admin.connect();
    await admin.query('select pg_reload_conf()');
    await admin.end();
  },
  page: { as: USERS.owner },
});

describe('dedicated port and egress address from the database page', () => {
  it('an owner turns both on; psql without SNI connects through the port and arrives from the egress address', async () => {
    await web.page.goto('/t/acme/databases/orders?tab=access');
    const port = web.page.getByRole('switch', { name: 'Dedicated port' });
    const egress = web.page.getByRole('combobox', { name: 'Egress source address' });
    await port.waitFor();
    expect(await port.isDisabled(), 'the pool is configured: the control is offered').toBe(false);
    expect(await egress.isDisabled()).toBe(false);
    await web.page.getByRole('switch', { name: /External access/ }).click();
    await web.page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await port.click();
    await egress.click();
    await web.page.getByRole('option', { name: EGRESS }).click();
    await web.page.getByRole('button', { name: 'Save access settings' }).click();
    await web.page.getByText('Access settings saved').waitFor();
    // Saving marks the change pending at once; "live" is then this change applied on every proxy.
    await web.page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await web.page.getByText(`Port ${dedicated} is this database’s own (for clients without SNI)`).waitFor();
    expect(await egress.inputValue()).toBe(EGRESS);
    await web.page.getByText(`clients without SNI, port ${dedicated}`).waitFor();
    expect(await web.stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ enabled: true, dedicatedPort: dedicated, sourceAddress: EGRESS });
    expect(await axeViolations(web.page), 'axe on access settings with both pools in use').toEqual([]);

    // The Connect tab's own string for clients without SNI, filled in and run as shown.
    await web.page.getByRole('tab', { name: 'Connect' }).click();
    await web.page.getByLabel('Database user').fill('postgres');
    await web.page.getByLabel('Database name').fill('postgres');
    await web.page.getByRole('tab', { name: 'Without SNI (dedicated port)' }).click();
    const shown = await web.page.getByTestId('conn-Without SNI (dedicated port) connection string').innerText();
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
    await web.page.goto('/t/acme/databases/orders?tab=access');
    const port = web.page.getByRole('switch', { name: 'Dedicated port' });
    await web.page.getByText(`Port ${dedicated} is this database’s own (for clients without SNI)`).waitFor();
    await port.click();
    await web.page.getByRole('button', { name: 'Save access settings' }).click();
    await web.page.getByText('Access settings saved').waitFor();
    await web.page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    await web.page.getByText('Give this database a port of its own, for clients that cannot send SNI').waitFor();
    expect(await web.stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ dedicatedPort: null });
    const r = await psql(`host=127.0.0.1 port=${dedicated} user=postgres dbname=postgres sslmode=require connect_timeout=5`, 'select 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Connection refused|server closed the connection/);
  });
});
