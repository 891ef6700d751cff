import { MantineProvider } from '@mantine/core';
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from '@tanstack/react-router';
import { render, screen, within } from '@testing-library/react';
import { beforeAll, describe, expect, it } from 'vitest';
import { cssVariablesResolver, theme } from '../../app/theme';
import type { Database } from './api';
import { DatabasesList, openConnectionsText, type ListLayout } from './DatabasesList';
import { externalAccess } from './fixtures.test-data';

const ACCESS = externalAccess();

const db = (name: string, openConnections: number, enabled = true): Database => ({
  id: `00000000-0000-4000-8000-00000000000${openConnections}`,
  tenant: 'acme',
  name,
  engine: 'postgres',
  upstream: { host: `${name}-rw.acme.svc.cluster.local`, port: 5432 },
  endpoints: [{ host: `${name}-rw.acme.svc.cluster.local`, port: 5432 }],
  balance: 'round-robin',
  healthCheck: null,
  externalAccess: { ...ACCESS, enabled, hostname: `${name}.acme.db.example.com` },
  openConnections,
  owner: { type: 'api' },
  createdAt: '2026-11-22T08:00:00.000Z',
  updatedAt: '2026-11-22T08:00:00.000Z',
});

// The router restores scroll after each navigation; jsdom has no scrolling.
beforeAll(() => {
  window.scrollTo = () => {};
});

const ITEMS = [db('orders', 2), db('billing', 0, false)];

/** The view inside a router (its links are router links) and the dashboard's theme. */
async function renderList(layout: ListLayout, items = ITEMS) {
  const root = createRootRoute({ component: () => <DatabasesList tenant="acme" items={items} layout={layout} /> });
  const router = createRouter({ routeTree: root, history: createMemoryHistory({ initialEntries: ['/t/acme/databases'] }) });
  render(
    <MantineProvider theme={theme} cssVariablesResolver={cssVariablesResolver}>
      <RouterProvider router={router} />
    </MantineProvider>,
  );
  return screen.findByLabelText('Databases');
}

describe('DatabasesList', () => {
  it('says how many connections are open, in words', () => {
    expect(openConnectionsText(0)).toBe('0 open connections');
    expect(openConnectionsText(1)).toBe('1 open connection');
    expect(openConnectionsText(12)).toBe('12 open connections');
  });

  /** The row (table) or card (list) of one database. */
  const entry = (list: HTMLElement, name: string) => list.querySelector<HTMLElement>(`[data-database="${name}"]`)!;

  it.each(['table', 'cards'] as const)('%s: each database links its open connections to the live connections view filtered to it', async (layout) => {
    const list = await renderList(layout);
    const orders = within(entry(list, 'orders')).getByRole('link', { name: '2 open connections' });
    expect(orders).toHaveAccessibleDescription('orders');
    const url = new URL(orders.getAttribute('href')!, 'http://x');
    expect(url.pathname).toBe('/t/acme/connections');
    expect(Object.fromEntries(url.searchParams)).toEqual({ database: 'orders', live: 'true' });
    expect(within(entry(list, 'billing')).getByRole('link', { name: '0 open connections' })).toHaveAccessibleDescription('billing');
  });

  it.each(['table', 'cards'] as const)('%s: Connect opens the database page on its Connect tab; access state and hostname shown', async (layout) => {
    const list = await renderList(layout);
    const connect = within(entry(list, 'orders')).getByRole('link', { name: 'Connect' });
    expect(connect).toHaveAccessibleDescription('orders');
    expect(connect.getAttribute('href')).toBe('/t/acme/databases/orders?tab=connect');
    // The database's own link is the only one named after it (tests and people find it by name).
    expect(screen.getAllByRole('link', { name: /billing/ })).toHaveLength(1);
    expect(screen.getByRole('link', { name: 'billing' }).getAttribute('href')).toBe('/t/acme/databases/billing');
    expect(within(list).getByText('orders.acme.db.example.com:5432')).toBeInTheDocument();
    expect(within(entry(list, 'orders')).getByText('on · passthrough')).toBeInTheDocument();
    expect(within(entry(list, 'billing')).getByText('off')).toBeInTheDocument();
  });

  it('table: the count sits in its own column, as a number', async () => {
    const table = await renderList('table');
    expect(table.tagName).toBe('TABLE');
    expect(within(table).getByRole('columnheader', { name: 'Open connections' })).toBeInTheDocument();
    const count = within(entry(table, 'orders')).getByRole('link', { name: '2 open connections' });
    expect(count).toHaveTextContent(/^2$/);
  });

  it('cards: one list item per database, count in words, nothing in a table', async () => {
    const list = await renderList('cards');
    expect(list.tagName).toBe('UL');
    const items = within(list).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(within(items[0]!).getByTestId('open-connections')).toHaveTextContent('2 open connections');
    expect(within(items[1]!).getByTestId('open-connections')).toHaveTextContent('0 open connections');
    expect(screen.queryByRole('table')).toBeNull();
  });
});
