import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { renderUi } from '../../test/render';
import type { Tenant } from './api';
import { LimitsSummary } from './LimitsSummary';

const tenant = (limits: Partial<Tenant>): Tenant => ({
  id: '0b8e4d1a-7a53-4a2e-9a57-2f7b0f1d9c11',
  slug: 'acme',
  name: 'Acme Corp',
  upstreamPolicy: { hostSuffixes: [], cidrs: [] },
  allowedCustomDomains: [],
  maxConnections: null,
  maxDatabases: null,
  maxExternalAccess: null,
  maxDedicatedPorts: null,
  usage: { databases: 4, externalAccess: 2, dedicatedPorts: 1 },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
  ...limits,
});

describe('LimitsSummary above the databases', () => {
  it('shows the usage of the limits that are set, marking one that is reached', () => {
    renderUi(<LimitsSummary tenant={tenant({ maxDatabases: 10, maxDedicatedPorts: 1 })} />);
    expect(screen.getByRole('group', { name: 'Tenant limits' })).toHaveTextContent('4 of 10 databases1 of 1 dedicated ports');
    expect(screen.getByText('1 of 1 dedicated ports')).toHaveAttribute('title', 'At the limit set by the platform admin: ask them to raise it');
    expect(screen.getByText('4 of 10 databases')).not.toHaveAttribute('title');
  });

  it('says nothing when the tenant has no limits', () => {
    renderUi(<LimitsSummary tenant={tenant({})} />);
    expect(screen.queryByRole('group', { name: 'Tenant limits' })).toBeNull();
  });
});
