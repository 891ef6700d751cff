/**
 * The dashboard's ACME and Kubernetes parts in a real browser (Debian's Chromium) against the
 * real API, PostgreSQL and proxy: an owner requests an ACME certificate for a terminate-mode
 * route and sees it `pending` while the route keeps its platform-CA certificate (no CA here:
 * the worker is stopped, as in the API's own ACME tests), and a database declared by a
 * Kubernetes object is shown read-only with the object named. The owned database is made
 * through the API's domain services with a controller actor, as the controller does.
 */
import { describe, expect, it } from 'vitest';
import { axeViolations } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { BASE_DOMAIN, USERS, type WebStack } from './support/web-stack.js';

type Actor = Parameters<WebStack['api']['app']['services']['databases']['create']>[0];

const ORDERS = `orders.acme.${BASE_DOMAIN}`;
const OBJECT = { kind: 'ExternalAccess' as const, namespace: 'acme-prod', name: 'ledger', uid: '0b7e7c1a-2222-4d2c-9a55-000000000002' };
const controller: Actor = {
  principal: { actorType: 'controller', actorId: 'e2e-controller', isPlatformAdmin: true, tenantRoles: new Map() },
  requestId: 'e2e-controller',
  clientAddress: '127.0.0.1',
  owner: OBJECT,
};

const web = useWebStack({
  unansweredAcme: true,
  databases: ['orders'],
  seed: async (stack) => {
    await stack.must('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=false', { enabled: true, tlsMode: 'terminate' });
    const s = stack.api.app.services;
    await s.databases.create(controller, 'acme', { name: 'acme-prod-ledger', engine: 'postgres', upstream: { host: '127.0.0.1', port: stack.upstream.port } });
    await s.externalAccess.put(controller, 'acme', 'acme-prod-ledger', { enabled: true }, { wait: false });
  },
  page: { as: USERS.owner },
});

describe('ACME in the dashboard', () => {
  it('an owner requests a certificate for a terminate-mode route and sees it pending while the platform CA serves', async () => {
    await web.page.goto('/t/acme/certificates');
    await web.page.getByRole('heading', { name: 'ACME certificates' }).waitFor();
    await web.page.getByRole('button', { name: 'Request ACME certificate' }).click();
    const dialog = web.page.getByRole('dialog', { name: 'Request an ACME certificate' });
    expect(await dialog.getByLabel(/^Host name/).inputValue()).toBe(ORDERS);
    await dialog.getByRole('button', { name: 'Request certificate' }).click();

    const row = web.page.getByTestId(`acme-${ORDERS}`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('pending');
    await row.getByText('a platform-CA certificate until the ACME one is issued').waitFor();
    expect(await axeViolations(web.page), 'axe on the certificates page with ACME').toEqual([]);

    // The API agrees.
    const list = (await web.stack.must('GET', '/api/v1/tenants/acme/acme-certificates')) as { items: Array<{ hostname: string; state: string }> };
    expect(list.items).toEqual([expect.objectContaining({ hostname: ORDERS, state: 'pending' })]);

    // The database's Connect view says which certificate clients get meanwhile.
    await web.page.goto('/t/acme/databases/orders?tab=connect');
    const notice = web.page.getByTestId('acme-notice');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('served with a platform-CA certificate');
  });
});

describe('Kubernetes in the dashboard', () => {
  it('a database declared by an ExternalAccess is marked and read-only, with kubectl as the way to change it', async () => {
    await web.page.goto('/t/acme/databases');
    const badge = web.page.getByTestId('kubernetes-owner');
    await badge.waitFor();
    expect(await badge.textContent()).toBe('Kubernetes: ExternalAccess acme-prod/ledger');

    await web.page.goto('/t/acme/databases/acme-prod-ledger');
    const toggle = web.page.getByRole('switch', { name: /External access/ });
    await toggle.waitFor();
    expect(await toggle.isDisabled()).toBe(true);
    expect(await toggle.isChecked()).toBe(true);
    const reason = await web.page.locator('[data-disabled-reason]').first().getAttribute('data-disabled-reason');
    expect(reason).toContain('Managed by Kubernetes object ExternalAccess acme-prod/ledger; change it with kubectl');
    await toggle.click({ force: true });
    expect(await toggle.isChecked()).toBe(true);

    await web.page.goto('/t/acme/databases/acme-prod-ledger?tab=settings');
    await web.page.getByText(/^Managed by Kubernetes object ExternalAccess acme-prod\/ledger/).waitFor();
    expect(await web.page.getByRole('button', { name: 'Delete database' }).isDisabled()).toBe(true);
    expect(await axeViolations(web.page), 'axe on a Kubernetes-owned database').toEqual([]);
  });
});
