/**
 * Tenant limits in Debian's Chromium against the real API: the platform admin sets a limit on
 * the Tenants page (and sees the usage, "1 of 1"); the tenant's owner then sees the refusal of
 * an over-limit action beside the control it is about — the External access switch, and the
 * name when registering one database too many — and the usage above the databases list.
 * With more tenants than a page holds, the Tenants page pages through them (*Load more
 * tenants*, each once, in slug order) and searches them on the server, the search in the URL;
 * a search with no match says so, one the API refuses shows its message under the field; the
 * header's tenant menu finds a tenant beyond its first page by the API's search.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { axeViolations, fieldError } from './support/browser.js';
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

describe('the Tenants page at more than a page of tenants', () => {
  it('loads the next page on "Load more tenants", and searches by slug or name on the server', async () => {
    // 120 more tenants: the API's first page holds 100.
    for (let i = 0; i < 120; i++) await web.stack.must('POST', '/api/v1/tenants', { slug: `bulk${String(i).padStart(3, '0')}`, name: `Bulk tenant ${i}` });
    const expected = (await web.stack.must('GET', '/api/v1/tenants?limit=1000')).items.map((t: { slug: string }) => t.slug) as string[];
    expect(expected.length).toBeGreaterThan(120);

    const admin = await as(PLATFORM_ADMIN);
    await admin.goto('/admin/tenants');
    const table = admin.getByRole('table', { name: 'Tenants', exact: true });
    const rows = table.locator('tbody tr');
    const slugs = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-tenant')));
    await expect.poll(() => rows.count()).toBe(100);
    const status = admin.getByRole('status').filter({ hasText: /^\d+ tenants?\b/ });
    expect(await status.innerText()).toBe('100 tenants, more to load');
    const more = admin.getByRole('button', { name: 'Load more tenants' });
    await more.click();
    await expect.poll(() => rows.count()).toBe(expected.length);
    // Every tenant once, in slug order, and nothing more to load.
    expect(await slugs()).toEqual(expected);
    await more.waitFor({ state: 'detached' });
    expect(await status.innerText()).toBe(`${expected.length} tenants`);
    expect(await axeViolations(admin)).toEqual([]);

    // A search: sent once typing pauses, answered by the API (slug or name), kept in the URL.
    const search = admin.getByLabel('Search tenants');
    await search.fill('BULK TENANT 11');
    await expect.poll(slugs).toEqual(['bulk011', ...Array.from({ length: 10 }, (_, i) => `bulk${110 + i}`)]);
    await admin.waitForURL((u) => u.searchParams.get('q') === 'BULK TENANT 11');
    await admin.reload();
    await expect.poll(slugs).toEqual(['bulk011', ...Array.from({ length: 10 }, (_, i) => `bulk${110 + i}`)]);
    expect(await search.inputValue()).toBe('BULK TENANT 11');
    await search.fill('acme');
    await expect.poll(slugs).toEqual(['acme']);

    // No match: said so, with a way back.
    await search.fill('no such tenant');
    await admin.getByText('No tenants match “no such tenant”').waitFor();
    expect(await table.count()).toBe(0);
    expect(await axeViolations(admin)).toEqual([]);
    await admin.getByRole('button', { name: 'Clear the search', exact: true }).click();
    await expect.poll(() => rows.count()).toBe(100);
    expect(new URL(admin.url()).searchParams.has('q')).toBe(false);

    // A search the API refuses: its message under the field.
    await search.fill('x'.repeat(201));
    expect(await fieldError(search)).toBe('must NOT have more than 200 characters');
    expect(await axeViolations(admin)).toEqual([]);

    // The header's tenant menu offers a platform admin the first 50 other tenants and searches
    // the rest on the server: bulk119 is not among the first, by slug or by name.
    await admin.goto('/t/acme/databases');
    const switcher = admin.getByRole('banner').getByRole('combobox', { name: 'Tenant', exact: true });
    await switcher.click();
    expect(await admin.getByRole('option', { name: 'Bulk tenant 119 (platform admin)' }).count()).toBe(0);
    await switcher.fill('bulk119');
    await admin.getByRole('option', { name: 'Bulk tenant 119 (platform admin)' }).click();
    await admin.waitForURL('**/t/bulk119/databases');
    expect(await switcher.inputValue()).toBe('Bulk tenant 119 (platform admin)');
  });
});
