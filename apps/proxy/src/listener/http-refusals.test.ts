import { describe, expect, it } from 'vitest';
import { REFUSALS, type RefusalCode } from '../errors.js';
import { httpRefusal, httpStatusFor } from './http-refusals.js';

describe('httpStatusFor', () => {
  it('answers 502 for every refusal about reaching the upstream, the dial-time guard and egress included', () => {
    const upstream = (Object.keys(REFUSALS) as RefusalCode[]).filter((c) => REFUSALS[c].kind === 'upstream');
    expect(upstream).toContain('upstream_unreachable');
    for (const code of [...upstream, 'upstream_forbidden', 'egress_source_unavailable'] as const) expect([code, httpStatusFor(code)]).toEqual([code, 502]);
  });

  it('keeps 404 for a host without a route and the documented statuses of the rest', () => {
    expect(httpStatusFor('unknown_host')).toBe(404);
    expect(httpStatusFor('route_disabled')).toBe(404);
    expect(httpStatusFor('misdirected')).toBe(421);
    expect(httpStatusFor('source_not_allowed')).toBe(403);
    expect(httpStatusFor('handshake_timeout')).toBe(408);
    expect(httpStatusFor('not_ready')).toBe(503);
  });

  it('writes the status into a complete Connection: close response', () => {
    const head = httpRefusal('upstream_forbidden', 'http').toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 502 /);
    expect(head.toLowerCase()).toContain('connection: close');
  });
});
