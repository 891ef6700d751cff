/**
 * The platform admin's Tenants page: each tenant's usage against its limits ("3 of 5
 * databases"), and the limits edited in the tenant's form (empty: no limit; 0 allows none).
 */
import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import { TenantsAdminPage } from './TenantsAdminPage';

const ACME = {
  id: '0b8e4d1a-7a53-4a2e-9a57-2f7b0f1d9c11',
  slug: 'acme',
  name: 'Acme Corp',
  upstreamPolicy: { hostSuffixes: ['acme.svc.cluster.local'], cidrs: [] },
  allowedCustomDomains: [],
  maxConnections: null,
  maxDatabases: 5,
  maxExternalAccess: null,
  maxDedicatedPorts: 1,
  usage: { databases: 3, externalAccess: 2, dedicatedPorts: 1 },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
};

const json = (data: unknown, status = 200) => new Response(JSON.stringify(data), { status });

function withTenants() {
  vi.spyOn(api, 'GET').mockImplementation((async () => ({ data: { items: [ACME] }, response: json({ items: [ACME] }) })) as never);
  const sent: unknown[] = [];
  const patch = vi.spyOn(api, 'PATCH');
  renderUi(<TenantsAdminPage />);
  return { sent, patch };
}

afterEach(() => vi.restoreAllMocks());

describe('tenant limits on the Tenants page', { timeout: 15_000 }, () => {
  it('shows each tenant’s usage against its limits, and just the count without one', async () => {
    withTenants();
    const cell = await screen.findByTestId('limits-acme');
    expect(within(cell).getByText('3 of 5 databases')).toBeInTheDocument();
    expect(within(cell).getByText('2 with external access')).toBeInTheDocument();
    expect(within(cell).getByText('1 of 1 dedicated ports')).toBeInTheDocument();
  });

  it('edits the limits with the usage beside each; an emptied limit is sent as null', async () => {
    const { sent, patch } = withTenants();
    patch.mockImplementation((async (_p: string, init: { body: unknown }) => {
      sent.push(init.body);
      const data = { ...ACME, maxDatabases: null, maxDedicatedPorts: 0 };
      return { data, response: json(data) };
    }));
    await userEvent.click(await screen.findByRole('button', { name: 'Edit acme' }));
    const dbs = await screen.findByLabelText('Databases');
    expect(dbs).toHaveValue('5');
    expect(screen.getByText('3 in use')).toBeInTheDocument();
    await userEvent.clear(dbs);
    const ports = screen.getByLabelText('Dedicated ports');
    await userEvent.clear(ports);
    await userEvent.type(ports, '0');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: 0 });
  });

  it('shows the API’s refusal of a limit beside its field', async () => {
    const { patch } = withTenants();
    patch.mockImplementation((async () => {
      const error = { statusCode: 400, code: 'SY_VALIDATION', error: 'Bad Request', requestId: 'r1', message: 'body.maxExternalAccess must be integer', details: [{ field: 'body.maxExternalAccess', message: 'must be integer or null' }] };
      return { error, response: json(error, 400) };
    }) as never);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit acme' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Save' }));
    const field = screen.getByLabelText('With external access');
    await vi.waitFor(() => expect(field).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByText('must be integer or null')).toBeInTheDocument();
  });
});
