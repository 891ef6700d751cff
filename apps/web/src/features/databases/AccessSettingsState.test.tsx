/**
 * Access settings against a moving API state: a new version (the switch flipped above the
 * form, another tab, automation) keeps what the user typed and follows the API everywhere
 * else; and a change that ends the route's ACME request (another certificate, a new host
 * name, passthrough, disabling) says so before it is made.
 */
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactElement } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cssVariablesResolver, theme } from '../../app/theme';
import { api } from '../../lib/api/client';
import { certKeys, type Certificate } from '../certificates/api';
import { AccessSettings, changeOf, valuesOf } from './AccessSettings';
import { AccessSwitch } from './AccessSwitch';
import type { ExternalAccess, Meta } from './api';
import { externalAccess } from './fixtures.test-data';

const HOST = 'orders.acme.db.example.com';
const PLATFORM_CERT = { id: 'c0', name: 'auto', kind: 'issued', fingerprint: 'AB', notAfter: '2027-12-01T00:00:00.000Z', expiresInDays: 360, auto: true };
const UPLOADED: Certificate = {
  id: 'c1',
  name: 'wildcard',
  kind: 'uploaded',
  hostnames: ['*.acme.db.example.com'],
  subject: 'CN=*.acme.db.example.com',
  issuer: 'CN=Acme CA',
  fingerprint: 'CD',
  keyType: 'ECDSA P-256',
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: new Date(Date.now() + 300 * 86_400_000).toISOString(),
  expiresInDays: 300,
  auto: false,
  publiclyTrusted: false,
  caUrl: null,
  routes: [],
  certificatePem: '-----BEGIN CERTIFICATE-----',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
const META: Meta = {
  version: '0.1.0',
  baseDomain: 'db.example.com',
  listeners: [],
  propagationTimeoutMs: 10_000,
  dedicatedPorts: false,
  egressSourceAddresses: [],
  acme: true,
};
const PENDING_ACME = { id: 'a1', state: 'pending', challenge: 'tls-alpn-01', renewAt: null, problem: null };

function ui(node: ReactElement, certificates: unknown[] = []) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  qc.setQueryData(certKeys.list('acme'), certificates);
  const wrap = (n: ReactElement) => (
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={qc}>{n}</QueryClientProvider>
    </MantineProvider>
  );
  const r = render(wrap(node));
  return { rerender: (n: ReactElement) => r.rerender(wrap(n)) };
}

const settings = (access: ExternalAccess) => <AccessSettings tenant="acme" database="orders" access={access} meta={META} tenantInfo={undefined} clientAddress={null} canManage />;

afterEach(() => vi.restoreAllMocks());

describe('access settings when the API state moves', { timeout: 15_000 }, () => {
  it('keeps an unsaved edit when a new version arrives, and takes the new version’s other values', async () => {
    const before = externalAccess({ enabled: false, version: 3 });
    const r = ui(settings(before));
    await userEvent.type(screen.getByLabelText('Connection limit'), '50');
    // Elsewhere: access enabled and the disable behaviour changed (version 4).
    r.rerender(settings(externalAccess({ enabled: true, disableBehavior: 'close', version: 4 })));
    expect(screen.getByLabelText('Connection limit')).toHaveValue('50');
    expect(screen.getByRole('radio', { name: 'Close open connections' })).toBeChecked();

    // Saving sends the edit with the new state (enabled stays what the API has now).
    const sent: unknown[] = [];
    vi.spyOn(api, 'PUT').mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const data = externalAccess({ enabled: true, disableBehavior: 'close', maxConnections: 50, version: 5 });
      return { data, response: new Response(JSON.stringify(data), { status: 200 }) };
    }));
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ enabled: true, maxConnections: 50, disableBehavior: 'close' });
  });
});

describe('the allowlist’s add field when saving', { timeout: 15_000 }, () => {
  it('refuses to save while an address is typed but not added, on that field, instead of dropping it', async () => {
    const sent: unknown[] = [];
    vi.spyOn(api, 'PUT').mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const data = externalAccess({ sourceCidrs: ['203.0.113.0/24'], maxConnections: 5, version: 4 });
      return { data, response: new Response(JSON.stringify(data), { status: 200 }) };
    }));
    ui(settings(externalAccess({ sourceCidrs: ['203.0.113.0/24'] })));
    await userEvent.type(screen.getByLabelText('Connection limit'), '5');
    const add = screen.getByLabelText('Add an address or network');
    await userEvent.type(add, '198.51.100.0/24');
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    expect(add).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText('198.51.100.0/24 is typed but not added: add it, or clear the field')).toBeInTheDocument();
    expect(sent).toEqual([]);
    // Cleared, the save goes through.
    await userEvent.clear(add);
    expect(add).not.toHaveAttribute('aria-invalid', 'true');
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ sourceCidrs: ['203.0.113.0/24'], maxConnections: 5 });
  });
});

describe('ending an ACME request is said before it happens', { timeout: 15_000 }, () => {
  const withAcme = externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, acme: PENDING_ACME });

  it('choosing another certificate warns that the ACME request ends', async () => {
    ui(settings(withAcme), [UPLOADED]);
    expect(screen.queryByTestId('acme-ends')).toBeNull();
    await userEvent.click(screen.getByLabelText('Certificate', { selector: 'input' }));
    await userEvent.click(await screen.findByRole('option', { name: /wildcard/, hidden: true }));
    expect(screen.getByTestId('acme-ends')).toHaveTextContent(`Saving ends the ACME request for ${HOST} (pending) because another certificate is chosen`);
  });

  it('switching to passthrough or changing the host name warns too; nothing is said without a request', async () => {
    const r = ui(settings(withAcme));
    await userEvent.click(screen.getByRole('radio', { name: /^passthrough/ }));
    expect(screen.getByTestId('acme-ends')).toHaveTextContent('because the route switches to passthrough');
    await userEvent.click(screen.getByRole('radio', { name: /^terminate/ }));
    expect(screen.queryByTestId('acme-ends')).toBeNull();
    await userEvent.type(screen.getByLabelText('Hostname'), 'x');
    expect(screen.getByTestId('acme-ends')).toHaveTextContent('because the host name changes');
    r.rerender(settings(externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, acme: null, version: 9 })));
    expect(screen.queryByTestId('acme-ends')).toBeNull();
  });

  it('the disable confirmation says the ACME request ends with it', async () => {
    ui(<AccessSwitch tenant="acme" database="orders" access={withAcme} canManage />);
    await userEvent.click(screen.getByRole('switch', { name: /External access/ }));
    const dialog = await screen.findByRole('dialog', { name: 'Disable external access?' });
    expect(dialog).toHaveTextContent(`This also ends the ACME certificate request for ${HOST} (pending)`);
  });

  it('breaks the address under the switch at its dots and before the port, and keeps it exact to copy', () => {
    ui(<AccessSwitch tenant="acme" database="orders" access={externalAccess({ enabled: true, hostname: HOST, port: 15432 })} canManage />);
    const line = screen.getByText((_, el) => el?.tagName === 'P' && el.textContent === `Clients reach ${HOST}:15432`);
    // orders. acme. db. example. com :15432 — five break opportunities, no characters added.
    expect(line.querySelectorAll('wbr')).toHaveLength(5);
  });

  it('names the dedicated port under the switch when the database has one', () => {
    ui(<AccessSwitch tenant="acme" database="orders" access={externalAccess({ enabled: true, hostname: HOST, port: 15432, dedicatedPort: 20001 })} canManage />);
    screen.getByText((_, el) => el?.tagName === 'P' && el.textContent === `Clients reach ${HOST}:15432; clients without SNI, port 20001`);
  });
});

describe('the upstream server name', { timeout: 15_000 }, () => {
  const terminate = externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, upstreamTls: true });

  it('is sent with the save, and the API’s refusal shows on that field', async () => {
    const sent: unknown[] = [];
    vi.spyOn(api, 'PUT').mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const error = {
        statusCode: 400,
        code: 'SY_VALIDATION' as const,
        error: 'Bad Request',
        requestId: 'r1',
        message: 'body.upstreamServerName "10.0.0.1" is not a DNS name',
        details: [{ field: 'body.upstreamServerName', message: 'is not a DNS name (no IP addresses, ports or wildcards)' }],
      };
      return { error, response: new Response(JSON.stringify(error), { status: 400 }) };
    }));
    ui(settings(terminate));
    const field = screen.getByLabelText('Upstream server name');
    await userEvent.type(field, '10.0.0.1');
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ upstreamTls: true, upstreamServerName: '10.0.0.1' });
    await vi.waitFor(() => expect(field).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByText('is not a DNS name (no IP addresses, ports or wildcards)')).toBeInTheDocument();
  });

  it('is not offered without TLS to the upstream, and an empty field sends null', async () => {
    ui(settings(externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, upstreamTls: false })));
    expect(screen.queryByLabelText('Upstream server name')).toBeNull();
    expect(changeOf(valuesOf(terminate), terminate).upstreamServerName).toBeNull();
    const named = externalAccess({ ...terminate, upstreamServerName: 'pg-rw.acme.svc' });
    expect(changeOf(valuesOf(named), named).upstreamServerName).toBe('pg-rw.acme.svc');
  });
});
