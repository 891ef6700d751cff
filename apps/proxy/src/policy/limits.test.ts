import { describe, expect, it } from 'vitest';
import { ConnectionCounts, isCapped, slotKey, type SlotKey } from './limits.js';
import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';

const key = (over: Partial<SlotKey> = {}): SlotKey => ({ routeId: 'r1', routeMax: null, tenantId: 't1', tenantMax: null, ...over });

describe('ConnectionCounts', () => {
  it('enforces the per-route cap and frees the slot on release', () => {
    const c = new ConnectionCounts();
    const k = key({ routeMax: 2 });
    expect(c.acquire(k)).toBeNull();
    expect(c.acquire(k)).toBeNull();
    expect(c.acquire(k)).toBe('route_connection_limit');
    c.release(k);
    expect(c.acquire(k)).toBeNull();
    expect(c.route('r1')).toBe(2);
  });

  it('enforces the tenant cap across all its routes', () => {
    const c = new ConnectionCounts();
    const a = key({ routeId: 'a', tenantMax: 3 });
    const b = key({ routeId: 'b', tenantMax: 3 });
    const other = key({ routeId: 'x', tenantId: 't2', tenantMax: 3 });
    expect(c.acquire(a)).toBeNull();
    expect(c.acquire(a)).toBeNull();
    expect(c.acquire(b)).toBeNull();
    expect(c.acquire(b)).toBe('tenant_connection_limit');
    expect(c.acquire(a)).toBe('tenant_connection_limit');
    // Another tenant is unaffected.
    expect(c.acquire(other)).toBeNull();
    c.release(a);
    expect(c.acquire(b)).toBeNull();
    expect(c.tenant('t1')).toBe(3);
  });

  it('names the route cap before the tenant cap and does not count refused attempts', () => {
    const c = new ConnectionCounts();
    const k = key({ routeMax: 1, tenantMax: 1 });
    expect(c.acquire(k)).toBeNull();
    expect(c.acquire(k)).toBe('route_connection_limit');
    expect(c.route('r1')).toBe(1);
    expect(c.tenant('t1')).toBe(1);
  });

  it('counts uncapped routes too, so a cap set later sees them', () => {
    const c = new ConnectionCounts();
    expect(c.acquire(key())).toBeNull();
    expect(c.acquire(key({ tenantMax: 1 }))).toBe('tenant_connection_limit');
  });

  it('takes keys from route entries', () => {
    const k = slotKey(compileRoute(route({ maxConnections: 5, tenantMaxConnections: 50 })));
    expect(k).toEqual({ routeId: route().id, routeMax: 5, tenantId: 't', tenantMax: 50 });
    expect(isCapped(k)).toBe(true);
    expect(isCapped(slotKey(compileRoute(route())))).toBe(false);
  });
});
