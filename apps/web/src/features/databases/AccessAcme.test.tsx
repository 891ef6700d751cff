/**
 * Terminate mode with an ACME certificate from the access settings: one save sends
 * `acme: {challenge}` in the PUT (no certificateId), the API's refusal of it lands on the
 * certificate field, and without ACME on the platform the choice is disabled with the reason.
 */
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cssVariablesResolver, theme } from '../../app/theme';
import { api } from '../../lib/api/client';
import { certKeys } from '../certificates/api';
import { ACME_UNAVAILABLE_REASON } from '../certificates/AcmeSection';
import { AccessSettings } from './AccessSettings';
import type { ExternalAccess, Meta } from './api';
import { externalAccess } from './fixtures.test-data';

const HOST = 'orders.acme.db.example.com';
const PLATFORM_CERT = { id: 'c0', name: 'auto', kind: 'issued', fingerprint: 'AB', notAfter: '2027-12-01T00:00:00.000Z', expiresInDays: 360, auto: true };
const ACCESS = externalAccess({ hostname: HOST, tlsMode: 'passthrough' });
const META: Meta = {
  version: '0.1.0',
  baseDomain: 'db.example.com',
  listeners: [{ name: 'web', protocol: 'http', port: 80 }],
  propagationTimeoutMs: 10_000,
  dedicatedPorts: false,
  egressSourceAddresses: [],
  acme: true,
};

function renderSettings(access: ExternalAccess = ACCESS, meta: Meta = META) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  qc.setQueryData(certKeys.list('acme'), []);
  render(
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={qc}>
        <AccessSettings tenant="acme" database="orders" access={access} meta={meta} tenantInfo={undefined} clientAddress={null} canManage />
      </QueryClientProvider>
    </MantineProvider>,
  );
}

/** The PUT as openapi-fetch resolves it (status and JSON body), recording the request body. */
function answerPut(status: number, json: unknown) {
  const sent: unknown[] = [];
  vi.spyOn(api, 'PUT').mockImplementation((async (_path: string, init: { body: unknown }) => {
    sent.push(init.body);
    const response = new Response(JSON.stringify(json), { status, headers: { 'content-type': 'application/json' } });
    return status < 300 ? { data: json, response } : { error: json, response };
  }) as never);
  return sent;
}

async function chooseAcme() {
  await userEvent.click(screen.getByRole('radio', { name: /^terminate/ }));
  await userEvent.click(screen.getByLabelText('Certificate', { selector: 'input' }));
  await userEvent.click(await screen.findByRole('option', { name: 'Request a publicly trusted certificate (ACME)', hidden: true }));
}

afterEach(() => vi.restoreAllMocks());

describe('access settings: terminate mode with an ACME certificate', { timeout: 15_000 }, () => {
  it('sends acme with the chosen challenge in the one PUT, without a certificateId', async () => {
    const saved = externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, acme: { id: 'a1', state: 'pending', challenge: 'http-01', renewAt: null, problem: null } });
    const sent = answerPut(200, saved);
    renderSettings();
    await chooseAcme();
    await userEvent.click(screen.getByRole('radio', { name: /HTTP-01/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ tlsMode: 'terminate', acme: { challenge: 'http-01' } });
    expect(sent[0]).not.toHaveProperty('certificateId');
  });

  it('once requested, shows the state instead of offering it again', async () => {
    renderSettings(externalAccess({ hostname: HOST, tlsMode: 'terminate', certificate: PLATFORM_CERT, acme: { id: 'a1', state: 'pending', challenge: 'http-01', renewAt: null, problem: null } }));
    expect(screen.getByTestId('access-acme-state')).toHaveTextContent('ACME certificate pending (http-01): the platform-CA certificate is served until it is issued');
    await userEvent.click(screen.getByLabelText('Certificate', { selector: 'input' }));
    expect(await screen.findByRole('option', { name: 'Issue from the platform CA', hidden: true })).toBeInTheDocument();
    expect(screen.queryByRole('option', { name: 'Request a publicly trusted certificate (ACME)', hidden: true })).toBeNull();
  });

  it('shows the API’s refusal of body.acme beside the certificate field', async () => {
    answerPut(429, {
      statusCode: 429,
      code: 'SY_ACME_RATE_LIMITED',
      error: 'Too Many Requests',
      message: 'orders.acme.db.example.com failed validation 5 times in the last hour (limit 5)',
      requestId: 'req-1',
      details: [{ field: 'body.acme', message: 'orders.acme.db.example.com failed validation 5 times in the last hour (limit 5)' }],
    });
    renderSettings();
    await chooseAcme();
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    expect(await screen.findByText('orders.acme.db.example.com failed validation 5 times in the last hour (limit 5)')).toBeInTheDocument();
    expect(screen.getByLabelText('Certificate', { selector: 'input' })).toHaveAttribute('aria-invalid', 'true');
  });

  it('without ACME on the platform the choice is disabled and says why', async () => {
    renderSettings(ACCESS, { ...META, acme: false });
    await userEvent.click(screen.getByRole('radio', { name: /^terminate/ }));
    expect(screen.getByTestId('acme-unavailable')).toHaveTextContent(ACME_UNAVAILABLE_REASON);
    await userEvent.click(screen.getByLabelText('Certificate', { selector: 'input' }));
    expect(await screen.findByRole('option', { name: 'Request a publicly trusted certificate (ACME)', hidden: true })).toHaveAttribute('data-combobox-disabled', 'true');
  });
});
