/**
 * Certificates in a real browser (Debian's Chromium) against the real API, PostgreSQL and
 * proxy: each refusal of an upload lands beside the field that has to change — a chain whose
 * leaf is not first on the chain (not "the key does not match"), a replacement that does not
 * cover the route using the certificate on the chain too — and an ACME order against a CA
 * that does not answer shows `failed` with the cause, not an internal error. The private key
 * is never shown back.
 */
import { createCertificateAuthority, issueCertificate } from '@switchyard/pki';
import { describe, expect, it } from 'vitest';
import { axeViolations, fieldError } from './support/browser.js';
import { useWebStack } from './support/fixture.js';
import { BASE_DOMAIN, USERS } from './support/web-stack.js';

const ORDERS = `orders.acme.${BASE_DOMAIN}`;
const root = createCertificateAuthority({ commonName: 'E2E Root' });
const intermediate = createCertificateAuthority({ commonName: 'E2E Intermediate', issuer: root });
const leaf = issueCertificate(intermediate, { hostnames: [ORDERS] });

// Nothing listens on port 9: the CA is down. The worker is stopped; the test runs one order.
const web = useWebStack({ unansweredAcme: true, databases: ['orders'], page: { as: USERS.owner } });

describe('certificates in the dashboard', () => {
  it('an upload whose leaf is not first is refused on the chain field; in order it is listed, its key never shown', async () => {
    await web.page.goto('/t/acme/certificates?add=upload');
    const dialog = web.page.getByRole('dialog', { name: 'Upload a certificate' });
    await dialog.getByLabel(/^Name/).fill('orders-public');
    const chain = dialog.getByLabel(/^Certificate chain \(PEM\)/);
    const key = dialog.getByLabel(/^Private key \(PEM\)/);
    await chain.fill(intermediate.certPem + leaf.certPem);
    await key.fill(leaf.keyPem);
    await dialog.getByRole('button', { name: 'Upload certificate' }).click();
    expect(await fieldError(chain)).toContain('the private key belongs to certificate 2 of the chain, not the first');
    expect(await key.getAttribute('aria-invalid')).not.toBe('true');

    await chain.fill(leaf.certPem + intermediate.certPem);
    await dialog.getByRole('button', { name: 'Upload certificate' }).click();
    const row = web.page.getByTestId('cert-orders-public');
    await row.waitFor();
    expect(await row.textContent()).toContain(ORDERS);
    // Once the dialog has gone, nothing on the page holds the key (the form went with it).
    await dialog.waitFor({ state: 'detached' });
    expect(await web.page.content()).not.toContain('PRIVATE KEY');
    await web.page.getByRole('button', { name: 'Upload certificate' }).click();
    expect(await web.page.getByRole('dialog', { name: 'Upload a certificate' }).getByLabel(/^Private key \(PEM\)/).inputValue()).toBe('');
    await web.page.keyboard.press('Escape');
  });

  it('replacing it with a chain that does not cover its route says so beside the chain', async () => {
    const cert = (await web.stack.must('GET', '/api/v1/tenants/acme/certificates')).items.find((c: { name: string }) => c.name === 'orders-public');
    await web.stack.must('PUT', '/api/v1/tenants/acme/databases/orders/external-access?wait=false', { enabled: true, tlsMode: 'terminate', certificateId: cert.id });
    const other = issueCertificate(intermediate, { hostnames: [`billing.acme.${BASE_DOMAIN}`] });
    await web.page.goto('/t/acme/certificates');
    await web.page.getByRole('button', { name: 'Replace orders-public' }).click();
    const dialog = web.page.getByRole('dialog', { name: 'Replace orders-public' });
    const chain = dialog.getByLabel(/^Certificate chain \(PEM\)/);
    await chain.fill(other.certPem + intermediate.certPem);
    await dialog.getByLabel(/^Private key \(PEM\)/).fill(other.keyPem);
    await dialog.getByRole('button', { name: 'Replace' }).click();
    expect(await fieldError(chain)).toContain(`do not cover ${ORDERS}, a host name of a route using this certificate`);
    expect(await axeViolations(web.page), 'axe on the replace dialog with an error').toEqual([]);
    await web.page.keyboard.press('Escape');
  });

  it('an ACME order against a CA that does not answer shows failed with the cause', async () => {
    const requested = await web.stack.must('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: ORDERS });
    const acme = web.stack.api.app.services.acme;
    const [row] = (await acme.due(new Date(), 100)).filter((r) => r.id === requested.id);
    await acme.process(row!);
    await web.page.goto('/t/acme/certificates');
    const acmeRow = web.page.getByTestId(`acme-${ORDERS}`);
    await acmeRow.waitFor();
    expect(await acmeRow.getAttribute('data-state')).toBe('failed');
    const note = await acmeRow.getByRole('note').innerText();
    expect(note).toContain('Failed: the ACME CA could not be reached (https://127.0.0.1:9/directory)');
    expect(note).toContain('switchyard:caUnreachable');
    expect(note).not.toContain('Cannot read properties');
    // The route serves the uploaded certificate attached above, and the table says so.
    await acmeRow.getByText('an uploaded certificate until the ACME one is issued').waitFor();
  });
});
