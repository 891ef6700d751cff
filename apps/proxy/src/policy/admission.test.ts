import { parseIp } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { admit } from './admission.js';

describe('admit', () => {
  it('refuses disabled routes first', () => {
    expect(admit(compileRoute(route({ enabled: false, sourceCidrs: ['10.0.0.0/8'] })), parseIp('11.0.0.1'))).toBe('route_disabled');
  });

  it('matches IPv4, IPv6 and IPv4-mapped clients against source CIDRs', () => {
    const r = compileRoute(route({ sourceCidrs: ['10.0.0.0/8', '2001:db8::/32'] }));
    expect(admit(r, parseIp('10.1.2.3'))).toBeNull();
    expect(admit(r, parseIp('::ffff:10.1.2.3'))).toBeNull();
    expect(admit(r, parseIp('2001:db8::5'))).toBeNull();
    expect(admit(r, parseIp('11.0.0.1'))).toBe('source_not_allowed');
    expect(admit(r, parseIp('2001:db9::1'))).toBe('source_not_allowed');
    expect(admit(r, null)).toBe('source_not_allowed');
  });

  it('admits any source when the allowlist is empty', () => {
    expect(admit(compileRoute(route()), parseIp('192.0.2.1'))).toBeNull();
    expect(admit(compileRoute(route()), null)).toBeNull();
  });
});
