/**
 * Tenant limits in Debian's Chromium against the real API: the platform admin sets a limit on
 * the Tenants page (and sees the usage, "1 of 1"); the tenant's owner then sees the refusal of
 * an over-limit action beside the control it is about — the External access switch, and the
 * name when registering one database too many — and the usage above the databases list.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { fieldError } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { PLATFORM_ADMIN, USERS } from './support/web-stack.js';

const web = useWebStack({
  platformAdmin: true,
  seed: async (stack) => {
    for (const name of ['orders', 'billing']) {
      await stack.must('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: `${name}.acme.svc.cluster.local`, port: 5432 } });
    }
    await stack.must('PUT', '/api/v1/tenants/acme/databases/orders/external-access', { enabled: true });
  },
});

/** A page signed in as `email` (its profile closes with the browser). */
async function as(email: string): Promise<Page> {
  return (await web.signedIn(email)).page;
}

describe('tenant limits', () => {
  it('the admin sets them on the Tenants page; the owner’s over-limit actions are refused beside their fields', async () => {
    const admin = await as(PLATFORM_ADMIN);
    await admin.goto('/admin/tenants');
    await admin.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
    await admin.getByRole('button', { name: 'Edit acme' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Edit acme' });
    await dialog.getByLabel('With external access').fill('1');
    await dialog.getByLabel('Databases').fill('2');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    const limits = admin.getByTestId('limits-acme');
    await limits.getByText('1 of 1 with external access').waitFor();
    await limits.getByText('2 of 2 databases').waitFor();
    expect(await web.stack.must('GET', '/api/v1/tenants/acme')).toMatchObject({ maxExternalAccess: 1, maxDatabases: 2, maxDedicatedPorts: null });

    const owner = await as(USERS.owner);
    // The databases list says how much of the limits is taken.
    await owner.getByRole('group', { name: 'Tenant limits' }).getByText('2 of 2 databases').waitFor();

    await owner.goto('/t/acme/databases/billing');
    const toggle = owner.getByRole('switch', { name: /External access/ });
    await owner.locator('[data-testid="propagation"][data-phase="off"]').waitFor();
    await toggle.click();
    const refusal = owner.locator('.mantine-Switch-root').filter({ has: toggle }).getByText(/at most 1 database with external access \(maxExternalAccess\) and has 1/);
    await refusal.waitFor();
    expect(await toggle.isChecked()).toBe(false);

    await owner.goto('/t/acme/databases?register=true');
    await owner.getByLabel(/^Name/).fill('cache');
    await owner.getByLabel('Host 1').fill('cache.acme.svc.cluster.local');
    await owner.getByRole('button', { name: 'Register', exact: true }).click();
    expect(await fieldError(owner.getByLabel(/^Name/))).toMatch(/at most 2 databases \(maxDatabases\) and has 2/);
  });
});
