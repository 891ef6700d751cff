/** Engine inference for discovery: CloudNativePG roles, operator labels, then well-known ports. */
import { describe, expect, it } from 'vitest';
import { inferEngine } from './engine.js';
import type { Service } from './objects.js';

const svc = (name: string, ports: number[], labels: Record<string, string> = {}, protocol = 'TCP'): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'acme-prod', uid: name, labels },
  spec: { ports: ports.map((port, i) => ({ name: `p${i}`, port, protocol })) },
});

describe('inferEngine', () => {
  it('CloudNativePG: <cluster>-rw / -ro / -r are the primary, the replicas, any instance', () => {
    const l = { 'cnpg.io/cluster': 'orders' };
    expect(inferEngine(svc('orders-rw', [5432], l))).toEqual({ engine: 'postgres', reason: 'cnpg.io/cluster=orders (-rw: primary)', role: 'primary', port: 5432 });
    expect(inferEngine(svc('orders-ro', [5432], l))).toMatchObject({ engine: 'postgres', role: 'replica' });
    expect(inferEngine(svc('orders-r', [5432], l))).toMatchObject({ engine: 'postgres', role: 'any' });
    // Another Service of the cluster (e.g. its metrics) is not a role service: falls through.
    expect(inferEngine(svc('orders-metrics', [9187], l))).toBeNull();
  });

  it.each([
    [{ 'postgres-operator.crunchydata.com/cluster': 'hippo' }, 'postgres'],
    [{ application: 'spilo' }, 'postgres'],
    [{ 'app.kubernetes.io/name': 'postgresql' }, 'postgres'],
    [{ 'app.kubernetes.io/name': 'redis' }, 'redis'],
    [{ 'app.kubernetes.io/managed-by': 'redis-operator' }, 'redis'],
    [{ 'app.kubernetes.io/name': 'mongodb' }, 'mongodb'],
    [{ 'app.kubernetes.io/managed-by': 'percona-server-mongodb-operator' }, 'mongodb'],
  ])('operator labels %o → %s, on any port', (labels, engine) => {
    expect(inferEngine(svc('db', [7000], labels))).toMatchObject({ engine, role: null, port: 7000, reason: expect.stringContaining('=') });
  });

  it.each([
    [5432, 'postgres'],
    [6379, 'redis'],
    [27017, 'mongodb'],
    [6443, 'kubernetes-api'],
    [443, 'tls'],
  ])('well-known port %i → %s (found among other ports)', (port, engine) => {
    expect(inferEngine(svc('x', [9090, port]))).toEqual({ engine, reason: `port ${port}`, role: null, port });
  });

  it('nothing recognisable, or only UDP: not a database', () => {
    expect(inferEngine(svc('web', [8080]))).toBeNull();
    expect(inferEngine(svc('dns', [5432], {}, 'UDP'))).toBeNull();
    expect(inferEngine({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'headless', uid: 'h' } })).toBeNull();
  });
});
