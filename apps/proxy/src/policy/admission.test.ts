import { parseIp } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { admit } from './admission.js';

const none = { count: () => 0 };

describe('admit', () => {
  it('refuses disabled routes first', () => {
    expect(admit(compileRoute(route({ enabled: false })), parseIp('10.0.0.1'), none)).toBe('route_disabled');
  });

  it('matches IPv4, IPv6 and IPv4-mapped clients against source CIDRs', () => {
    const r = compileRoute(route({ sourceCidrs: ['10.0.0.0/8', '2001:db8::/32'] }));
    expect(admit(r, parseIp('10.1.2.3'), none)).toBeNull();
    expect(admit(r, parseIp('::ffff:10.1.2.3'), none)).toBeNull();
    expect(admit(r, parseIp('2001:db8::5'), none)).toBeNull();
    expect(admit(r, parseIp('11.0.0.1'), none)).toBe('source_not_allowed');
    expect(admit(r, parseIp('2001:db9::1'), none)).toBe('source_not_allowed');
    expect(admit(r, null, none)).toBe('source_not_allowed');
  });

  it('enforces the per-route connection limit', () => {
    const r = compileRoute(route({ maxConnections: 2 }));
    expect(admit(r, null, { count: () => 1 })).toBeNull();
    expect(admit(r, null, { count: () => 2 })).toBe('route_connection_limit');
  });
});
