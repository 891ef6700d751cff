/**
 * Status writes against the fake API server: merge patches with our field manager, nothing
 * sent when nothing changed, and TLSRoute parents merged again after a 409 (another
 * controller wrote in between), never overwriting its entry.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubeClient } from '../kube/client.js';
import { FakeKube } from '../testing/fake-kube.js';
import type { ExternalAccess, Gateway, GatewayClass, TLSRoute } from '../translate/objects.js';
import { StatusWriter } from './status-writer.js';

let kube: FakeKube;
let writer: StatusWriter;

beforeAll(async () => {
  kube = new FakeKube();
  await kube.start();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  writer = new StatusWriter(new KubeClient(kc));
}, 30_000); // the fake server's certificate: an RSA key from node-forge, slow on a busy machine
afterAll(async () => kube.stop());

const accepted = { type: 'Accepted', status: 'True' as const, reason: 'Accepted', message: 'ok', observedGeneration: 1 };

it('merge-patches ExternalAccess status once, then sends nothing while it is unchanged', async () => {
  const created = kube.apply<ExternalAccess>({ apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name: 'a', namespace: 'ns', uid: '' }, spec: { service: { name: 's', port: 1 } } });
  const next = { observedGeneration: 1, hostname: 'a.example.test', conditions: [{ ...accepted, lastTransitionTime: '2026-12-06T00:00:00Z' }] };
  expect(await writer.externalAccess(created, next)).toBe(true);
  const stored = kube.get<ExternalAccess>('ExternalAccess', 'ns', 'a')!;
  expect(stored.status).toMatchObject(next);
  expect(stored.status).not.toHaveProperty('port'); // explicit nulls removed absent fields
  // Same content, another transition time: no write.
  expect(await writer.externalAccess(stored, { ...next, conditions: [{ ...accepted, lastTransitionTime: '2026-12-07T00:00:00Z' }] })).toBe(false);
  const patches = kube.requests.filter((r) => r.method === 'PATCH');
  expect(patches).toHaveLength(1);
  expect(patches[0]).toMatchObject({ path: '/apis/switchyard.io/v1alpha1/namespaces/ns/externalaccesses/a/status', contentType: 'application/merge-patch+json', query: { fieldManager: 'switchyard-controller' } });
});

it('never overwrites a status written since the object was read: 409, not retried (a deposed leader, a stale cache)', async () => {
  const ea = kube.apply<ExternalAccess>({ apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name: 'stale', namespace: 'ns', uid: '' }, spec: { service: { name: 's', port: 1 } } });
  const gw = kube.apply<Gateway>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'stale', namespace: 'ns', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [] } });
  const gc = kube.apply<GatewayClass>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'stale', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
  // The new leader writes first; this writer still holds the objects as it read them before.
  const newer = { observedGeneration: 2, conditions: [{ ...accepted, message: 'newer', lastTransitionTime: '2026-12-06T02:00:00Z' }] };
  for (const [kind, ns, name] of [['ExternalAccess', 'ns', 'stale'], ['Gateway', 'ns', 'stale'], ['GatewayClass', undefined, 'stale']] as const) kube.setStatus(kind, ns, name, newer);
  const conflicts = writer.conflicts;
  expect(await writer.externalAccess(ea, { observedGeneration: 1, conditions: [{ ...accepted, message: 'older', lastTransitionTime: '2026-12-06T01:00:00Z' }] })).toBe(false);
  expect(await writer.gateway(gw, [{ ...accepted, message: 'older' }], [], '2026-12-06T01:00:00Z')).toBe(false);
  expect(await writer.gatewayClass(gc, [{ ...accepted, message: 'older' }], '2026-12-06T01:00:00Z')).toBe(false);
  expect(writer.conflicts - conflicts).toBe(3);
  expect(kube.get<ExternalAccess>('ExternalAccess', 'ns', 'stale')!.status).toEqual(newer);
  expect(kube.get<Gateway>('Gateway', 'ns', 'stale')!.status).toEqual(newer);
  expect(kube.get<GatewayClass>('GatewayClass', undefined, 'stale')!.status).toEqual(newer);
  // Each patch named the version it was computed from.
  const sent = kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/stale/status'));
  expect(sent.map((r) => (r.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion)).toEqual([ea.metadata.resourceVersion, gw.metadata.resourceVersion, gc.metadata.resourceVersion]);
});

it('re-reads and merges TLSRoute parents after a 409, keeping the other controller’s entry', async () => {
  const stale = kube.apply<TLSRoute>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'TLSRoute', metadata: { name: 'r', namespace: 'ns', uid: '' }, spec: { hostnames: ['r.example.test'] } });
  const foreign = { parentRef: { name: 'theirs' }, controllerName: 'example.net/gw', conditions: [{ ...accepted, lastTransitionTime: '2026-12-06T00:00:00Z' }] };
  kube.setStatus('TLSRoute', 'ns', 'r', { parents: [foreign] }); // after our read: our resourceVersion is now stale
  expect(await writer.tlsRoute(stale, [{ parentRef: { name: 'ours' }, conditions: [accepted] }], '2026-12-06T01:00:00Z')).toBe(true);
  const conflicts = kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/tlsroutes/r/status'));
  expect(conflicts).toHaveLength(2); // the first got 409
  const parents = kube.get<TLSRoute>('TLSRoute', 'ns', 'r')!.status!.parents!;
  expect(parents.map((p) => p.controllerName)).toEqual(['example.net/gw', 'switchyard.io/gateway-controller']);
  expect(parents[1]!.conditions[0]).toMatchObject({ type: 'Accepted', status: 'True', lastTransitionTime: '2026-12-06T01:00:00Z' });
});

it('writes Gateway and GatewayClass status (conditions and listeners) once, keeping transition times', async () => {
  const gw = kube.apply<Gateway>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'ns', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443 }] } });
  const gc = kube.apply<GatewayClass>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
  const listeners = [{ name: 'tls', supportedKinds: [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }], attachedRoutes: 1, conditions: [accepted] }];
  expect(await writer.gateway(gw, [accepted], listeners, '2026-12-06T00:00:00Z')).toBe(true);
  expect(await writer.gatewayClass(gc, [accepted], '2026-12-06T00:00:00Z')).toBe(true);
  const storedGw = kube.get<Gateway>('Gateway', 'ns', 'gw')!;
  expect(storedGw.status!.listeners![0]).toMatchObject({ name: 'tls', attachedRoutes: 1, conditions: [{ type: 'Accepted', lastTransitionTime: '2026-12-06T00:00:00Z' }] });
  expect(kube.get<GatewayClass>('GatewayClass', undefined, 'switchyard')!.status!.conditions![0]).toMatchObject({ type: 'Accepted', status: 'True' });
  // Unchanged: nothing sent. A listener's count changes: written, its condition keeps its transition time.
  expect(await writer.gateway(storedGw, [accepted], listeners, '2026-12-07T00:00:00Z')).toBe(false);
  expect(await writer.gateway(storedGw, [accepted], [{ ...listeners[0]!, attachedRoutes: 2 }], '2026-12-07T00:00:00Z')).toBe(true);
  expect(kube.get<Gateway>('Gateway', 'ns', 'gw')!.status!.listeners![0]).toMatchObject({ attachedRoutes: 2, conditions: [{ lastTransitionTime: '2026-12-06T00:00:00Z' }] });
  const paths = kube.requests.filter((r) => r.method === 'PATCH').map((r) => r.path);
  expect(paths).toContain('/apis/gateway.networking.k8s.io/v1/namespaces/ns/gateways/gw/status');
  expect(paths).toContain('/apis/gateway.networking.k8s.io/v1/gatewayclasses/switchyard/status');
});

it('sets, keeps and removes the controller’s own TLSRoute annotation: one merge patch of that key, only when it changed, never touching spec, status or the others', async () => {
  const key = 'switchyard.io/last-accepted-backends';
  const route = kube.apply<TLSRoute>({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'TLSRoute',
    metadata: { name: 'annotated', namespace: 'ns', uid: '', annotations: { 'example.net/owner': 'team-a' } },
    spec: { hostnames: ['a.example.test'] },
  });
  kube.setStatus('TLSRoute', 'ns', 'annotated', { parents: [] });
  const read = () => kube.get<TLSRoute>('TLSRoute', 'ns', 'annotated')!;
  const before = read();
  const patches = () => kube.requests.filter((r) => r.method === 'PATCH' && r.path === '/apis/gateway.networking.k8s.io/v1/namespaces/ns/tlsroutes/annotated');
  const value = '{"a.example.test":[{"namespace":"ns","name":"s","port":443}]}';

  const written = await writer.tlsRouteAnnotation(before, key, value);
  expect(written!.metadata.annotations).toEqual({ 'example.net/owner': 'team-a', [key]: value });
  expect(written!.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion); // the status patch that follows carries it
  expect(read()).toMatchObject({ metadata: { generation: route.metadata.generation }, spec: before.spec, status: before.status });
  expect(patches()).toHaveLength(1);
  expect(patches()[0]).toMatchObject({ contentType: 'application/merge-patch+json', query: { fieldManager: 'switchyard-controller' }, body: { metadata: { resourceVersion: before.metadata.resourceVersion, annotations: { [key]: value } } } });

  // Unchanged: nothing sent. Computed from a stale read: refused (409), not retried.
  expect(await writer.tlsRouteAnnotation(read(), key, value)).toBeNull();
  expect(patches()).toHaveLength(1);
  const conflicts = writer.conflicts;
  expect(await writer.tlsRouteAnnotation(before, key, '{}')).toBeNull();
  expect(writer.conflicts - conflicts).toBe(1);
  expect(read().metadata.annotations![key]).toBe(value);

  // null removes the key alone; with the last annotation gone the map goes too, as the API server serializes it.
  await writer.tlsRouteAnnotation(read(), key, null);
  expect(read().metadata.annotations).toEqual({ 'example.net/owner': 'team-a' });
  kube.apply<TLSRoute>({ ...read(), metadata: { ...read().metadata, annotations: { [key]: value } } });
  await writer.tlsRouteAnnotation(read(), key, null);
  expect(read().metadata).not.toHaveProperty('annotations');
});
