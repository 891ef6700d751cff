/**
 * `npm run docs:screenshots`: the screenshots in docs/dashboard.md, taken from the e2e stack
 * (real API, proxy and PostgreSQL) in Debian's Chromium. Uses DATABASE_URL's server when set,
 * else an embedded PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDatabase } from '../../bench/lib.js';
import { libpq, psqlSession } from '../support/tools.js';
import { launchBrowser, newContext, signIn } from './support/browser.js';
import { BASE_DOMAIN, PASSWORD, startWebStack, USERS } from './support/web-stack.js';

const out = join(fileURLToPath(import.meta.url), '..', '..', '..', 'docs', 'images');
mkdirSync(out, { recursive: true });
const db = await scratchDatabase('sy_web_screenshots');
const stack = await startWebStack(db.url);
const browser = await launchBrowser();
try {
  const api = stack.api;
  for (const name of ['orders', 'billing']) {
    await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
  }
  await api.call('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=true', { enabled: true, sourceCidrs: ['203.0.113.0/24', '127.0.0.1/32'] });
  await api.call('POST', '/api/v1/tenants/acme/certificates', { name: 'billing', type: 'platform-ca', hostnames: ['billing.acme.example.test'], validDays: 20 });
  await api.call('POST', '/api/v1/tenants/acme/tokens', { name: 'ci-pipeline', role: 'admin' });
  await api.call('POST', '/api/v1/users', { email: 'ops@platform.test', name: 'Ops Admin', password: PASSWORD, isPlatformAdmin: true });
  // A few real sessions, so the connections page and its charts have rows.
  for (let i = 0; i < 3; i++) {
    const s = psqlSession(libpq(`orders.acme.${BASE_DOMAIN}`, stack.proxy.ports.postgres, { sslmode: 'require', application_name: 'screenshots' }));
    await s.query('select 1');
    await s.quit();
  }

  const ctx = await newContext(browser, stack.url);
  const page = await ctx.newPage();
  const shot = async (file: string, ready: () => Promise<unknown>) => {
    await ready();
    await page.screenshot({ path: join(out, file) });
    console.log(`wrote docs/images/${file}`);
  };
  await page.goto('/login');
  await shot('dashboard-sign-in.png', () => page.getByRole('button', { name: 'Sign in' }).waitFor());
  await signIn(page, USERS.owner);
  await shot('dashboard-databases.png', () => page.getByRole('link', { name: 'orders' }).waitFor());
  await page.goto('/t/acme/databases/orders');
  await shot('dashboard-database-connect.png', () => page.locator('[data-testid="propagation"][data-phase="live"]').waitFor());
  await page.goto('/t/acme/databases/orders?tab=access');
  await shot('dashboard-access-settings.png', () => page.getByRole('button', { name: 'Save access settings' }).waitFor());
  await page.goto('/t/acme/certificates');
  await shot('dashboard-certificates.png', () => page.getByTestId('cert-billing').waitFor());
  await page.goto('/t/acme/tokens');
  await shot('dashboard-tokens.png', () => page.getByText('ci-pipeline', { exact: true }).waitFor());
  await page.goto('/t/acme/members');
  await shot('dashboard-members.png', () => page.getByText(USERS.member, { exact: true }).waitFor());
  await page.goto('/t/acme/connections?range=1h');
  await shot('dashboard-connections.png', () => page.getByRole('table', { name: 'Connection events' }).waitFor());
  await page.goto('/t/acme/check?database=orders');
  await page.getByRole('button', { name: 'Check connection' }).click();
  await shot('dashboard-check-connection.png', () => page.getByTestId('check-result').waitFor());
  await page.goto('/t/acme/audit');
  await shot('dashboard-audit.png', () => page.getByRole('table').first().waitFor());

  const admin = await (await newContext(browser, stack.url)).newPage();
  await signIn(admin, 'ops@platform.test');
  const adminShot = async (path: string, file: string) => {
    await admin.goto(path);
    await admin.getByRole('table').first().waitFor();
    await admin.screenshot({ path: join(out, file) });
    console.log(`wrote docs/images/${file}`);
  };
  await adminShot('/admin/proxies', 'dashboard-proxies.png');
  await adminShot('/admin/tenants', 'dashboard-admin-tenants.png');
} finally {
  await browser.close();
  await stack.close();
  await db.close();
}
