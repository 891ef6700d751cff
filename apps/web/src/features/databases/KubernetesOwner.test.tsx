import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { renderUi } from '../../test/render';
import { READ_ONLY_REASON } from '../auth/session';
import { AccessSettings } from './AccessSettings';
import { AccessSwitch } from './AccessSwitch';
import type { DiscoveredService, Meta } from './api';
import { createBody, DatabaseForm } from './DatabaseForm';
import { changeLock, KubernetesBadge, type Owner } from './KubernetesOwner';
import { externalAccess } from './fixtures.test-data';

const OWNER: Owner = { type: 'kubernetes', kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders', uid: '8c1f4a52-1111-4222-8333-944455556666' };
const REASON = 'Managed by Kubernetes object ExternalAccess acme-prod/orders; change it with kubectl (kubectl edit externalaccess orders -n acme-prod)';

const ACCESS = externalAccess({ hostname: 'acme-prod-orders.acme.db.example.com', owner: OWNER });
const META: Meta = { version: '0.1.0', baseDomain: 'db.example.com', listeners: [], propagationTimeoutMs: 10_000, dedicatedPorts: false, egressSourceAddresses: [], acme: false };

describe('a Kubernetes-owned database', () => {
  it('is marked with a badge naming kind namespace/name', () => {
    renderUi(<KubernetesBadge owner={OWNER} />);
    expect(screen.getByTestId('kubernetes-owner')).toHaveTextContent('Kubernetes: ExternalAccess acme-prod/orders');
    expect(screen.getByLabelText('Kubernetes: ExternalAccess acme-prod/orders (read-only here)')).toBeInTheDocument();
  });

  it('an API-owned one has no badge', () => {
    const { container } = renderUi(<KubernetesBadge owner={{ type: 'api' }} />);
    expect(container.querySelector('[data-testid="kubernetes-owner"]')).toBeNull();
  });

  it('locks changes for an admin with the object named, and a member sees the role first', () => {
    expect(changeLock(true, READ_ONLY_REASON, OWNER)).toEqual({ allowed: false, reason: REASON });
    expect(changeLock(false, READ_ONLY_REASON, OWNER)).toEqual({ allowed: false, reason: READ_ONLY_REASON });
    expect(changeLock(true, READ_ONLY_REASON, { type: 'api' })).toEqual({ allowed: true, reason: '' });
  });

  it('the switch is disabled and says to change the object with kubectl', async () => {
    const lock = changeLock(true, READ_ONLY_REASON, ACCESS.owner);
    renderUi(<AccessSwitch tenant="acme" database="orders" access={ACCESS} canManage={lock.allowed} readOnlyReason={lock.reason} />);
    const toggle = screen.getByRole('switch', { name: /External access/ });
    expect(toggle).toBeDisabled();
    expect(toggle).toBeChecked();
    // The reason is the wrapper's accessible name and its tooltip.
    const wrapper = screen.getByLabelText(REASON);
    expect(wrapper).toHaveAttribute('data-disabled-reason', REASON);
    await userEvent.hover(wrapper);
    expect(await screen.findByRole('tooltip')).toHaveTextContent(REASON);
  });

  it('the access settings are read-only with the same reason', () => {
    const lock = changeLock(true, READ_ONLY_REASON, ACCESS.owner);
    renderUi(
      <AccessSettings tenant="acme" database="orders" access={ACCESS} meta={META} tenantInfo={undefined} clientAddress={null} canManage={lock.allowed} readOnlyReason={lock.reason} />,
    );
    expect(screen.getByLabelText('Hostname')).toBeDisabled();
    expect(screen.getByRole('radio', { name: 'terminate' })).toBeDisabled();
    expect(screen.queryByRole('button', { name: 'Save access settings' })).toBeNull();
    expect(screen.getByTestId('access-read-only')).toHaveTextContent(REASON);
  });
});

describe('registering from a discovered service', () => {
  const SERVICES: DiscoveredService[] = [
    {
      namespace: 'acme-prod',
      name: 'orders-rw',
      engine: 'postgres',
      engineReason: 'cnpg',
      role: 'primary',
      upstream: { host: 'orders-rw.acme-prod.svc.cluster.local', port: 5432 },
      ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
      readyEndpoints: [{ host: '10.0.0.7', port: 5432 }],
      observedAt: '2026-12-06T03:00:00.000Z',
    },
    {
      namespace: 'acme-prod',
      name: 'cache',
      engine: 'redis',
      engineReason: 'port',
      role: null,
      upstream: { host: 'cache.acme-prod.svc.cluster.local', port: 6379 },
      ports: [{ name: null, port: 6379, protocol: 'TCP' }],
      readyEndpoints: [],
      observedAt: '2026-12-06T03:00:00.000Z',
    },
  ];

  it('picking a service fills name, engine and upstream, and registers it by reference', async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    renderUi(<DatabaseForm submitLabel="Register" pending={false} onSubmit={onSubmit} discovered={SERVICES} />);
    await userEvent.click(screen.getByLabelText('Register from a discovered service', { selector: 'input' }));
    await userEvent.click(await screen.findByRole('option', { name: 'acme-prod/cache · redis · cache.acme-prod.svc.cluster.local:6379', hidden: true }));
    expect(screen.getByLabelText(/^Name/)).toHaveValue('cache');
    expect(screen.getByLabelText('Host 1')).toHaveValue('cache.acme-prod.svc.cluster.local');
    expect(screen.getByLabelText('Port 1')).toHaveValue('6379');
    await userEvent.click(screen.getByRole('button', { name: 'Register' }));
    const values = onSubmit.mock.calls[0]![0];
    expect(createBody(values, SERVICES)).toEqual({ name: 'cache', engine: 'redis', discoveredService: { namespace: 'acme-prod', name: 'cache' } });
  });

  it('an upstream edited after the pick is sent as typed', () => {
    const body = createBody({ name: 'orders', engine: 'postgres', source: 'acme-prod/orders-rw', endpoints: [{ host: '10.0.0.7', port: 5432 }] }, SERVICES);
    expect(body).toEqual({ name: 'orders', engine: 'postgres', upstream: { host: '10.0.0.7', port: 5432 } });
  });
});
