/**
 * The certificate picker of a terminate-mode route: only certificates covering the route's
 * host name can be chosen (the others are listed disabled, saying why), expired ones are
 * flagged, and the choice follows a host name typed into the form.
 */
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { cssVariablesResolver, theme } from '../../app/theme';
import { certKeys, type Certificate } from '../certificates/api';
import { AccessSettings, changeOf, valuesOf } from './AccessSettings';
import type { ExternalAccess, Meta } from './api';
import { externalAccess } from './fixtures.test-data';

const HOST = 'orders.acme.db.example.com';
const ACCESS = externalAccess({ hostname: HOST, tlsMode: 'terminate' });
const META: Meta = { version: '0.1.0', baseDomain: 'db.example.com', listeners: [], propagationTimeoutMs: 10_000, dedicatedPorts: false, egressSourceAddresses: [], acme: false };

const DAY = 86_400_000;
function cert(name: string, hostnames: string[], daysLeft: number): Certificate {
  const notAfter = new Date(Date.now() + daysLeft * DAY).toISOString();
  return {
    id: `id-${name}`,
    name,
    kind: 'uploaded',
    hostnames,
    subject: `CN=${hostnames[0]}`,
    issuer: 'CN=Example CA',
    fingerprint: 'AA:BB',
    keyType: 'ECDSA P-256',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter,
    expiresInDays: Math.floor(daysLeft),
    auto: false,
    publiclyTrusted: false,
    caUrl: null,
    routes: [],
    certificatePem: '-----BEGIN CERTIFICATE-----',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}
const CERTS = [cert('wild', ['*.acme.db.example.com'], 200), cert('billing', ['billing.acme.db.example.com'], 200), cert('old', [HOST], -3), cert('exact', [HOST], 90)];

function renderSettings(access: ExternalAccess = ACCESS) {
  // The list is already loaded (and stays fresh): a component test never reaches a network.
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  qc.setQueryData(certKeys.list('acme'), CERTS);
  render(
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={qc}>
        <AccessSettings tenant="acme" database="orders" access={access} meta={META} tenantInfo={undefined} clientAddress={null} canManage />
      </QueryClientProvider>
    </MantineProvider>,
  );
}

async function openPicker() {
  await userEvent.click(screen.getByLabelText('Certificate', { selector: 'input' }));
  return (name: RegExp) => screen.findByRole('option', { name, hidden: true });
}

// The whole access form renders per step; on a busy two-core machine that takes seconds.
describe('certificate picker', { timeout: 15_000 }, () => {
  it('offers the certificates covering the host name; the others are disabled with the reason, expired ones flagged', async () => {
    renderSettings();
    const option = await openPicker();
    expect(await option(/^wild \(\*\.acme\.db\.example\.com\)$/)).not.toHaveAttribute('data-combobox-disabled');
    expect(await option(/^exact /)).not.toHaveAttribute('data-combobox-disabled');
    const billing = await option(/^billing /);
    expect(billing).toHaveTextContent(`does not cover ${HOST}`);
    expect(billing).toHaveAttribute('data-combobox-disabled', 'true');
    const old = await option(/^old /);
    expect(old).toHaveTextContent(/expired on \d{4}-\d\d-\d\d/);
    expect(old).toHaveAttribute('data-combobox-disabled', 'true');
    // A disabled one cannot be chosen.
    await userEvent.click(billing);
    expect(screen.getByLabelText('Certificate', { selector: 'input' })).toHaveValue('Issue from the platform CA');
  });

  it('follows the host name typed into the form', async () => {
    renderSettings();
    const hostname = screen.getByRole('textbox', { name: 'Hostname' });
    await userEvent.clear(hostname);
    // One input event, as a paste (typing re-renders the whole form once per key).
    await userEvent.paste('billing.acme.db.example.com');
    const option = await openPicker();
    expect(await option(/^billing /)).not.toHaveAttribute('data-combobox-disabled');
    expect(await option(/^exact /)).toHaveTextContent('does not cover billing.acme.db.example.com');
    expect(await option(/^wild /)).not.toHaveAttribute('data-combobox-disabled');
  });

  it('refuses to save a chosen certificate the new host name leaves uncovered, on the field', async () => {
    renderSettings({ ...ACCESS, certificate: { id: 'id-exact', name: 'exact' } as ExternalAccess['certificate'] });
    const hostname = screen.getByRole('textbox', { name: 'Hostname' });
    await userEvent.clear(hostname);
    // One input event, as a paste (typing re-renders the whole form once per key).
    await userEvent.paste('billing.acme.db.example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    const picker = screen.getByLabelText('Certificate', { selector: 'input' });
    expect(picker).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('exact does not cover billing.acme.db.example.com')).toBeInTheDocument();
  });
});

describe('changeOf: the certificate in the PUT body', () => {
  const attached = { ...ACCESS, certificate: { id: 'id-exact', name: 'exact' } as ExternalAccess['certificate'] };
  it('is left out when unchanged (the API keeps it, or re-issues an automatic one)', () => {
    expect(changeOf(valuesOf(attached), attached)).not.toHaveProperty('certificateId');
  });
  it('is the new id when another is chosen, and null for "issue from the platform CA"', () => {
    expect(changeOf({ ...valuesOf(attached), certificateId: 'id-wild' }, attached).certificateId).toBe('id-wild');
    expect(changeOf({ ...valuesOf(attached), certificateId: '' }, attached).certificateId).toBeNull();
  });
});
