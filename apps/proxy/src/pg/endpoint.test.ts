import { describe, expect, it } from 'vitest';
import { RouteTable } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { routeForEndpoint } from './endpoint.js';

const BASE = 'db.example.com';
const table = RouteTable.build(1, [
  route({ id: 'orders', hostname: 'orders.acme.db.example.com' }),
  route({ id: 'custom', hostname: 'pg.acme.com' }),
  route({ id: 'wild', hostname: '*.apps.acme.com' }),
  route({ id: 'other-listener', hostname: 'cache.acme.db.example.com', listener: 'tls' }),
]);
const find = (name: string) => {
  const r = routeForEndpoint(table, 'postgres', name, BASE);
  return typeof r === 'string' ? r : r.id;
};

describe('routeForEndpoint', () => {
  it('maps <database>.<tenant> below the base domain, and full host names', () => {
    expect(find('orders.acme')).toBe('orders');
    expect(find('orders.acme.db.example.com')).toBe('orders');
    expect(find('ORDERS.Acme.')).toBe('orders');
    expect(find('pg.acme.com')).toBe('custom');
    expect(find('x.apps.acme.com')).toBe('wild');
  });

  it('names nothing for single labels, IP literals, unknown names and routes of other listeners', () => {
    expect(find('orders')).toBe('endpoint_invalid');
    expect(find('10.0.0.1')).toBe('endpoint_invalid');
    expect(find('')).toBe('endpoint_invalid');
    expect(find('nosuch.acme')).toBe('unknown_host');
    expect(find('nosuch.acme.db.example.com')).toBe('unknown_host');
    expect(find('cache.acme')).toBe('unknown_host');
  });

  it('never falls back from a base-domain name to a shorter one', () => {
    // "orders.acme.db.example.com" is full; it is not tried as "<...>.db.example.com.db.example.com".
    const t = RouteTable.build(1, [route({ id: 'odd', hostname: 'orders.acme.db.example.com.db.example.com' })]);
    expect(routeForEndpoint(t, 'postgres', 'orders.acme.db.example.com', BASE)).toBe('unknown_host');
  });
});
