/**
 * A database's page in real Chromium against the real stack (web-stack.ts), where the page
 * itself moves under the user: flipping the switch while Access settings has unsaved edits
 * keeps them (the form was remounted at each new version and lost them), the Connect tab's
 * user and database survive a visit to another tab, and a change that ends the route's ACME
 * request says so before saving (the API ends it: docs/certificates.md). ACME as in
 * acme-kubernetes.test.ts: a directory nobody answers, the worker stopped, so a request
 * stays `pending`.
 */
import { createTestDatabase, type TestDatabase } from '@switchyard/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, launchBrowser, signedIn } from './support/browser.js';
import { startWebStack, USERS, type WebStack } from './support/web-stack.js';

let db: TestDatabase;
let stack: WebStack;
let browser: Browser;
let page: Page;


beforeAll(async () => {
  browser = await launchBrowser();
  db = await createTestDatabase();
  stack = await startWebStack(db.url, { ACME_DIRECTORY_URL: 'https://127.0.0.1:9/directory' });
  await stack.api.app.services.acmeWorker?.stop();
  for (const name of ['orders', 'billing', 'ledger']) {
    await stack.must('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
  }
  await stack.must('PUT', '/api/v1/tenants/acme/databases/billing/external-access?wait=false', { enabled: true, tlsMode: 'terminate', acme: { challenge: 'tls-alpn-01' } });
  ({ page } = await signedIn(browser, stack.url, USERS.owner));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await db?.drop();
});

describe('a database page that moves under the user', () => {
  it('flipping the switch keeps unsaved access settings, and saving sends them with access on', async () => {
    await page.goto('/t/acme/databases/orders?tab=access');
    const limit = page.getByLabel('Connection limit');
    await limit.fill('50');
    await page.getByRole('switch', { name: /External access/ }).check();
    await page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    expect(await limit.inputValue()).toBe('50');
    await page.getByRole('button', { name: 'Save access settings' }).click();
    await page.getByText('Access settings saved').waitFor();
    expect(await stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ enabled: true, maxConnections: 50 });
    expect(await limit.inputValue()).toBe('50');
  });

  it('the switch keeps keyboard focus while a change is on its way: Space enables, Space again asks to disable', async () => {
    await page.goto('/t/acme/databases/ledger?tab=connect');
    const toggle = page.getByRole('switch', { name: /External access/ });
    await toggle.focus();
    await page.keyboard.press('Space');
    await page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    expect(await toggle.evaluate((el) => el === (el.ownerDocument as { activeElement: unknown }).activeElement), 'the switch still has focus').toBe(true);
    await page.keyboard.press('Space');
    const dialog = page.getByRole('dialog', { name: 'Disable external access?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await toggle.isChecked()).toBe(true);
  });

  it('the Connect tab’s user and database survive a visit to another tab', async () => {
    await page.goto('/t/acme/databases/orders?tab=connect');
    await page.getByLabel('Database user').fill('app');
    await page.getByLabel('Database name').fill('shop');
    await page.getByRole('tab', { name: 'Access settings' }).click();
    await page.getByRole('form', { name: 'Access settings' }).waitFor();
    await page.getByRole('tab', { name: 'Connect' }).click();
    expect(await page.getByLabel('Database user').inputValue()).toBe('app');
    expect(await page.getByLabel('Database name').inputValue()).toBe('shop');
    expect(await page.getByTestId('conn-psql connection string').innerText()).toContain('dbname=shop user=app');
  });

  it('choosing another certificate says it ends the pending ACME request before saving, then the API has none', async () => {
    await page.goto('/t/acme/databases/billing?tab=access');
    await page.getByTestId('access-acme-state').waitFor();
    expect(await page.getByTestId('acme-ends').count()).toBe(0);
    await page.getByRole('combobox', { name: 'Certificate' }).click();
    await page.getByRole('option', { name: 'Issue from the platform CA' }).click();
    const warning = page.getByTestId('acme-ends');
    await warning.waitFor();
    expect(await warning.innerText()).toContain('Saving ends the ACME request for billing.acme.');
    expect(await axeViolations(page), 'axe on access settings with the warning').toEqual([]);
    await page.getByRole('button', { name: 'Save access settings' }).click();
    await page.getByText('Access settings saved').waitFor();
    expect((await stack.must('GET', '/api/v1/tenants/acme/databases/billing/external-access')).acme).toBeNull();
    await warning.waitFor({ state: 'detached' });
  });
});
