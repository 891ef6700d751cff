import { ENGINES } from '@switchyard/core';
import { describe, expect, it } from 'vitest';
import { audienceOfListener, REFUSALS, refusalMessage, type RefusalCode } from './errors.js';

const CODES = Object.keys(REFUSALS) as RefusalCode[];

describe('refusalMessage', () => {
  it("gives PostgreSQL clients the catalogue's message, word for word, for every code", () => {
    for (const code of CODES) expect(refusalMessage(code, 'postgres'), code).toBe(REFUSALS[code].message);
  });

  it('tells clients of other engines nothing about a database server', () => {
    for (const audience of ['kubernetes-api', 'http', 'tls', 'any'] as const) {
      for (const code of ['unknown_host', 'route_disabled', 'source_not_allowed', 'route_connection_limit', 'tenant_connection_limit', 'upstream_unreachable', 'upstream_tls_failed', 'upstream_certificate_invalid', 'upstream_forbidden'] as const) {
        expect(refusalMessage(code, audience), `${code} for ${audience}`).not.toMatch(/database/i);
      }
    }
    expect(refusalMessage('upstream_unreachable', 'kubernetes-api')).toBe('Switchyard: the Kubernetes API server is not reachable');
    expect(refusalMessage('route_disabled', 'http')).toBe('Switchyard: external access to this service is disabled');
    expect(refusalMessage('upstream_tls_failed', 'tls')).toBe('Switchyard: TLS to the upstream server failed');
    expect(refusalMessage('route_connection_limit', 'redis')).toBe('Switchyard: too many connections to this Redis database');
    expect(refusalMessage('upstream_unreachable', 'redis')).toBe('Switchyard: the Redis server is not reachable');
  });

  it('every engine has its words, and codes without any keep the catalogue text', () => {
    for (const engine of ENGINES) expect(refusalMessage('upstream_unreachable', engine)).toMatch(/^Switchyard: the .+ is not reachable$/);
    expect(refusalMessage('terminated', 'http')).toBe(REFUSALS.terminated.message);
    expect(refusalMessage('not_ready', 'kubernetes-api')).toBe(REFUSALS.not_ready.message);
  });

  it('a plain-HTTP listener has no TLS handshake to time out', () => {
    expect(refusalMessage('handshake_timeout', 'http', true)).not.toMatch(/TLS/);
    expect(refusalMessage('handshake_timeout', 'postgres')).toBe(REFUSALS.handshake_timeout.message);
  });

  it('before a route matched, the listener kind decides', () => {
    expect(audienceOfListener('postgres')).toBe('postgres');
    expect(audienceOfListener('egress')).toBe('postgres');
    expect(audienceOfListener('http')).toBe('http');
    expect(audienceOfListener('tls')).toBe('any');
    expect(audienceOfListener('destination')).toBe('any');
  });
});
