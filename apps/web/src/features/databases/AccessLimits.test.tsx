/**
 * A refusal by the tenant's limits (SY_TENANT_LIMIT) shows beside the control the user
 * changed: the External access switch (`enabled`), the Dedicated port switch (`dedicatedPort`)
 * and, when registering, the database's name (`name`).
 */
import { fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError } from '../../lib/api/client';
import { renderUi } from '../../test/render';
import { AccessSettings } from './AccessSettings';
import { AccessSwitch } from './AccessSwitch';
import type { Meta } from './api';
import { DatabaseForm } from './DatabaseForm';
import { externalAccess } from './fixtures.test-data';

const META: Meta = { version: '0.1.0', baseDomain: 'db.example.com', listeners: [], propagationTimeoutMs: 10_000, dedicatedPorts: true, egressSourceAddresses: [], acme: false };

/** The API's answer at a limit, as the API words it (modules/tenants/tenant-limits.ts). */
function limitError(field: string, limit: string, message: string) {
  return { statusCode: 409, code: 'SY_TENANT_LIMIT', error: 'Conflict', requestId: 'r1', message, details: [{ field, message, limit, max: 1, usage: 1 }] };
}

function refusePut(error: ReturnType<typeof limitError>) {
  const sent: unknown[] = [];
  vi.spyOn(api, 'PUT').mockImplementation((async (_p: string, init: { body: unknown }) => {
    sent.push(init.body);
    return { error, response: new Response(JSON.stringify(error), { status: 409 }) };
  }) as never);
  return sent;
}

afterEach(() => vi.restoreAllMocks());

describe('tenant limits beside the field', { timeout: 15_000 }, () => {
  it('the External access switch shows the refusal under itself', async () => {
    const message = 'The tenant may have at most 1 database with external access (maxExternalAccess) and has 1; disable external access of another, or ask a platform admin to raise the limit';
    const sent = refusePut(limitError('body.enabled', 'maxExternalAccess', message));
    renderUi(<AccessSwitch tenant="acme" database="orders" access={externalAccess({ enabled: false })} canManage />);
    const toggle = screen.getByRole('switch', { name: /External access/ });
    await userEvent.click(toggle);
    await vi.waitFor(() => expect(sent).toEqual([{ enabled: true }]));
    expect(await screen.findByText(message)).toBeInTheDocument();
    expect(toggle.closest('.mantine-Switch-root')).toHaveTextContent(message);
    expect(toggle).not.toBeChecked();
  });

  it('the Dedicated port switch of the access settings shows the refusal beside itself', async () => {
    vi.spyOn(api, 'GET').mockImplementation((async () => ({ data: { items: [] }, response: new Response('{"items":[]}') })) as never);
    const message = 'The tenant may have at most 1 dedicated port (maxDedicatedPorts) and has 1; release one, or ask a platform admin to raise the limit';
    const sent = refusePut(limitError('body.dedicatedPort', 'maxDedicatedPorts', message));
    renderUi(<AccessSettings tenant="acme" database="orders" access={externalAccess({ enabled: true })} meta={META} tenantInfo={undefined} clientAddress={null} canManage />);
    const port = screen.getByRole('switch', { name: /Dedicated port/ });
    await userEvent.click(port);
    await userEvent.click(screen.getByRole('button', { name: 'Save access settings' }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ dedicatedPort: true });
    expect(await screen.findByText(message)).toBeInTheDocument();
    // Under the switch it is about, not in a notification.
    expect(port.closest('.mantine-Switch-root')).toHaveTextContent(message);
  });

  it('registering a database past the limit shows the refusal beside the name', async () => {
    const message = 'The tenant may have at most 1 database (maxDatabases) and has 1; delete one, or ask a platform admin to raise the limit';
    const error = limitError('body.name', 'maxDatabases', message);
    const onSubmit = vi.fn(() => Promise.reject(new ApiError(409, error.code, error.message, error.details, 'r1')));
    renderUi(<DatabaseForm submitLabel="Register" pending={false} onSubmit={onSubmit} />);
    fireEvent.change(screen.getByLabelText(/^Name/), { target: { value: 'orders' } });
    fireEvent.change(screen.getByLabelText('Host 1'), { target: { value: 'orders-rw.acme.svc.cluster.local' } });
    await userEvent.click(screen.getByRole('button', { name: 'Register' }));
    expect(onSubmit).toHaveBeenCalledOnce();
    await vi.waitFor(() => expect(screen.getByLabelText(/^Name/)).toHaveAttribute('aria-invalid', 'true'));
    expect(screen.getByText(message)).toBeInTheDocument();
  });
});
