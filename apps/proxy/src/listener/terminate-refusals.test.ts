import { describe, expect, it } from 'vitest';
import { kubernetesDiscovery, terminateAnswer } from './terminate-refusals.js';

const get = (target: string) => Buffer.from(`GET ${target} HTTP/1.1\r\nHost: kube.example.com\r\nAccept: application/json\r\n\r\n`);

function respond(a: ReturnType<typeof terminateAnswer>, request: Buffer): string {
  expect(a).not.toBeNull();
  const r = a!.response;
  return (typeof r === 'function' ? r(request) : r).toString('utf8');
}

describe('kubernetesDiscovery', () => {
  it("matches the paths client-go's discovery reads, with or without a query", () => {
    for (const t of ['/version', '/version?timeout=32s', '/api', '/api?timeout=32s', '/api/v1', '/apis', '/apis/', '/apis/apps', '/apis/apps/v1?timeout=32s']) expect(kubernetesDiscovery(get(t)), t).toBe(true);
  });

  it('not resource requests, other methods, or bytes without a request line', () => {
    for (const t of ['/api/v1/namespaces/default/pods', '/apis/apps/v1/deployments', '/versionz', '/healthz', '/']) expect(kubernetesDiscovery(get(t)), t).toBe(false);
    expect(kubernetesDiscovery(Buffer.from('POST /api HTTP/1.1\r\n\r\n'))).toBe(false);
    expect(kubernetesDiscovery(Buffer.from('GET /api HTTP/1.1'))).toBe(false);
    expect(kubernetesDiscovery(Buffer.alloc(0))).toBe(false);
  });
});

describe('terminateAnswer', () => {
  it('kubernetes-api: a Status in JSON for API requests, worded for an API server', () => {
    const text = respond(terminateAnswer('upstream_unreachable', 'kubernetes-api', ['h2', 'http/1.1']), get('/api/v1/namespaces/default/pods'));
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain('Content-Type: application/json');
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Switchyard: the Kubernetes API server is not reachable', reason: 'ServiceUnavailable', code: 502 });
  });

  it('kubernetes-api discovery: the message as text/plain, the status unchanged', () => {
    const text = respond(terminateAnswer('upstream_unreachable', 'kubernetes-api', []), get('/api?timeout=32s'));
    expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(text).toContain('Content-Type: text/plain; charset=utf-8');
    expect(text.endsWith('\r\n\r\nSwitchyard: the Kubernetes API server is not reachable\n')).toBe(true);
  });

  it('kubernetes-api: a disabled route is 403 Forbidden (a 404 on /api reads as "no such group" to discovery)', () => {
    const text = respond(terminateAnswer('route_disabled', 'kubernetes-api', ['http/1.1']), get('/api/v1/pods'));
    expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(text).toContain('"reason":"Forbidden"');
    expect(text).toContain('Switchyard: external access to this Kubernetes API server is disabled');
    // HTTP apps keep 404.
    expect(respond(terminateAnswer('route_disabled', 'http', ['http/1.1']), get('/'))).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
  });

  it('HTTP apps and Redis read no database words; an order is 503 for HTTP', () => {
    const web = respond(terminateAnswer('upstream_unreachable', 'tls', ['http/1.1']), get('/'));
    expect(web).toContain('Switchyard: the upstream server is not reachable');
    const order = respond(terminateAnswer('terminated', 'http', ['http/1.1']), get('/'));
    expect(order).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(order).toContain('Switchyard: terminating connection due to administrator command');
    const redis = respond(terminateAnswer('route_connection_limit', 'redis', []), Buffer.from('PING\r\n'));
    expect(redis).toBe('-ERR Switchyard: too many connections to this Redis database\r\n');
  });

  it('no answer for clients whose protocol is unknown', () => {
    expect(terminateAnswer('upstream_unreachable', 'tls', [])).toBeNull();
    expect(terminateAnswer('upstream_unreachable', 'http', ['h2'])).toBeNull();
    expect(terminateAnswer('upstream_unreachable', 'mongodb', [])).toBeNull();
  });
});
