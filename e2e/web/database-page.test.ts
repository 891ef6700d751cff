/**
 * A database's page in real Chromium against the real stack (web-stack.ts), where the page
 * itself moves under the user: flipping the switch while Access settings has unsaved edits
 * keeps them (the form was remounted at each new version and lost them), the Connect tab's
 * user and database survive a visit to another tab, and a change that ends the route's ACME
 * request says so before saving (the API ends it: docs/certificates.md). ACME as in
 * acme-kubernetes.test.ts: a directory nobody answers, the worker stopped, so a request
 * stays `pending`. When `/api/v1/meta` answers 500, the tabs that need it show the error and
 * a retry instead of a spinner that never ends.
 */
import { describe, expect, it } from 'vitest';
import { axeViolations } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { USERS } from './support/web-stack.js';

const web = useWebStack({
  unansweredAcme: true,
  databases: ['orders', 'billing', 'ledger'],
  seed: async (stack) => {
    await stack.must('PUT', '/api/v1/tenants/acme/databases/billing/external-access?wait=false', { enabled: true, tlsMode: 'terminate', acme: { challenge: 'tls-alpn-01' } });
  },
  page: { as: USERS.owner },
});

describe('a database page that moves under the user', () => {
  it('flipping the switch keeps unsaved access settings, and saving sends them with access on', async () => {
    await web.page.goto('/t/acme/databases/orders?tab=access');
    const limit = web.page.getByLabel('Connection limit');
    await limit.fill('50');
    await web.page.getByRole('switch', { name: /External access/ }).check();
    await web.page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    expect(await limit.inputValue()).toBe('50');
    await web.page.getByRole('button', { name: 'Save access settings' }).click();
    await web.page.getByText('Access settings saved').waitFor();
    expect(await web.stack.must('GET', '/api/v1/tenants/acme/databases/orders/external-access')).toMatchObject({ enabled: true, maxConnections: 50 });
    expect(await limit.inputValue()).toBe('50');
  });

  it('the switch keeps keyboard focus while a change is on its way: Space enables, Space again asks to disable', async () => {
    await web.page.goto('/t/acme/databases/ledger?tab=connect');
    const toggle = web.page.getByRole('switch', { name: /External access/ });
    await toggle.focus();
    await web.page.keyboard.press('Space');
    await web.page.locator('[data-testid="propagation"][data-phase="live"]').waitFor();
    expect(await toggle.evaluate((el) => el === (el.ownerDocument as { activeElement: unknown }).activeElement), 'the switch still has focus').toBe(true);
    await web.page.keyboard.press('Space');
    const dialog = web.page.getByRole('dialog', { name: 'Disable external access?' });
    await dialog.waitFor();
    await web.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await toggle.isChecked()).toBe(true);
  });

  it('the Connect tab’s user and database survive a visit to another tab', async () => {
    await web.page.goto('/t/acme/databases/orders?tab=connect');
    await web.page.getByLabel('Database user').fill('app');
    await web.page.getByLabel('Database name').fill('shop');
    await web.page.getByRole('tab', { name: 'Access settings' }).click();
    await web.page.getByRole('form', { name: 'Access settings' }).waitFor();
    await web.page.getByRole('tab', { name: 'Connect' }).click();
    expect(await web.page.getByLabel('Database user').inputValue()).toBe('app');
    expect(await web.page.getByLabel('Database name').inputValue()).toBe('shop');
    expect(await web.page.getByTestId('conn-psql connection string').innerText()).toContain('dbname=shop user=app');
  });

  it('choosing another certificate says it ends the pending ACME request before saving, then the API has none', async () => {
    await web.page.goto('/t/acme/databases/billing?tab=access');
    await web.page.getByTestId('access-acme-state').waitFor();
    expect(await web.page.getByTestId('acme-ends').count()).toBe(0);
    await web.page.getByRole('combobox', { name: 'Certificate' }).click();
    await web.page.getByRole('option', { name: 'Issue from the platform CA' }).click();
    const warning = web.page.getByTestId('acme-ends');
    await warning.waitFor();
    expect(await warning.innerText()).toContain('Saving ends the ACME request for billing.acme.');
    expect(await axeViolations(web.page), 'axe on access settings with the warning').toEqual([]);
    await web.page.getByRole('button', { name: 'Save access settings' }).click();
    await web.page.getByText('Access settings saved').waitFor();
    expect((await web.stack.must('GET', '/api/v1/tenants/acme/databases/billing/external-access')).acme).toBeNull();
    await warning.waitFor({ state: 'detached' });
  });

  it('a tab whose /meta fails shows the error with its request id and Try again, not a spinner forever', async () => {
    const { ctx, page } = await web.signedIn(USERS.owner);
    try {
      let failing = true;
      await page.route('**/api/v1/meta', (route) =>
        failing
          ? route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ statusCode: 500, code: 'SY_INTERNAL', error: 'Internal Server Error', message: 'Internal server error', requestId: 'req-meta-1' }) })
          : route.continue(),
      );
      await page.goto('/t/acme/databases/orders?tab=access');
      const panel = page.getByRole('tabpanel', { name: 'Access settings' });
      // The query's own retries (two, a second or two apart) come first.
      const alert = panel.getByRole('alert');
      await alert.waitFor({ timeout: 15_000 });
      expect(await alert.innerText()).toContain('SY_INTERNAL · request req-meta-1');
      failing = false;
      await alert.getByRole('button', { name: 'Try again' }).click();
      await page.getByRole('form', { name: 'Access settings' }).waitFor();
      // The Connect tab, which needs the same answer, has it now too.
      await page.getByRole('tab', { name: 'Connect' }).click();
      await page.getByTestId('conn-psql connection string').waitFor();
    } finally {
      await ctx.close();
    }
  });
});
