/**
 * Kubernetes end to end, against the fake API server (no cluster can run here): the real
 * proxy process, the API and the controller. An ExternalAccess whose Service's EndpointSlice
 * points at the real PostgreSQL on 127.0.0.1:5432 makes real psql connect through the proxy
 * by SNI, its status turns Ready/Programmed; editing and deleting it change and remove the
 * route. A Gateway API TLSRoute does the same for redis-cli --tls --sni.
 */
import { loadConfig as loadApiConfig } from '@switchyard/api';
import { startController, type ControllerProcess } from '@switchyard/controller';
import { FakeKube, fixture, loadObjects, testControllerConfig, type KubeObject } from '@switchyard/controller/testing';
import { createTestDatabase, TEST_KEYS, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DOMAIN, seedTenant, startApi, startProxyProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { requireTool, run } from '../support/tools.js';
import { startTlsRedis, type TlsRedis } from '../support/upstreams.js';

type Cond = { type: string; status: string; reason: string };
type EA = KubeObject & { status?: { conditions?: Cond[]; hostname?: string; port?: number; observedGeneration?: number; connectionStrings?: Record<string, string> }; };
const cond = (o: EA | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
const readyAt = (gen: number) => (o: EA | undefined) => cond(o, 'Ready')?.status === 'True' && cond(o, 'Programmed')?.status === 'True' && o?.status?.observedGeneration === gen;

let db: TestDatabase;
let proxy: ProxyProcess;
let api: ApiServer;
let kube: FakeKube;
let controller: ControllerProcess;
let redis: TlsRedis;
const redisHost = 'cache.apps.example.test';
const redisHost2 = 'cache2.apps.example.test';

const psql = (host: string) =>
  run('psql', [`host=${host} hostaddr=127.0.0.1 port=${proxy.ports.postgres} user=postgres dbname=test sslmode=require connect_timeout=5`, '-Atc', "select 'through-k8s'"], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  requireTool('psql');
  requireTool('redis-cli');
  requireTool('redis-server');
  db = await createTestDatabase();
  redis = await startTlsRedis([redisHost, redisHost2]);
  const env = { SWITCHYARD_KEYS: TEST_KEYS };
  proxy = await startProxyProcess(db.url, env);
  api = await startApi(db.url, proxy.ports, env);
  await seedTenant(api);
  expect((await api.call('PATCH', '/api/v1/tenants/acme', { allowedCustomDomains: ['apps.example.test'] })).status).toBe(200);
  kube = new FakeKube();
  await kube.start();
  const objects = loadObjects([fixture('gateway-api-tlsroute.yaml')]);
  for (const o of [...objects.namespaces, ...objects.gatewayClasses, ...objects.gateways]) kube.apply(o);
  kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'acme-prod', uid: '', labels: { 'switchyard.io/tenant': 'acme' } } });
  kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pg', namespace: 'acme-prod', uid: '' }, spec: { ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }] } });
  kube.apply({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'pg-x1', namespace: 'acme-prod', uid: '', labels: { 'kubernetes.io/service-name': 'pg' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
  } as never);
  const apiConfig = loadApiConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_BASE_DOMAIN: BASE_DOMAIN,
    SWITCHYARD_LISTENERS: `postgres=postgres@127.0.0.1:${proxy.ports.postgres},tls=tls@127.0.0.1:${proxy.ports.tls}`,
    PROXY_LIVENESS_MS: '5000',
    SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true',
    ...env,
  });
  controller = await startController(testControllerConfig(apiConfig, kube.kubeconfigPath));
});

afterAll(async () => {
  await controller?.stop();
  await kube?.stop();
  await api?.close();
  await proxy?.stop();
  await redis?.stop();
  await db?.drop();
});

const externalAccess = (spec: Record<string, unknown>) => ({ apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name: 'orders', namespace: 'acme-prod', uid: '' }, spec });

describe('ExternalAccess', () => {
  it('routes psql by SNI to the Service’s endpoint and reports Ready/Programmed with the hostname', async () => {
    kube.apply(externalAccess({ service: { name: 'pg', port: 5432 }, tlsMode: 'terminate', upstreamTls: false }));
    const o = await kube.waitFor<EA>('ExternalAccess', 'acme-prod', 'orders', readyAt(1));
    const host = `acme-prod-orders.acme.${BASE_DOMAIN}`;
    expect(o!.status).toMatchObject({ hostname: host, port: proxy.ports.postgres });
    expect(o!.status!.connectionStrings!.psql).toContain(host);
    const r = await psql(host);
    expect(r.stdout.trim(), r.stderr).toBe('through-k8s');
    // The status subresource got merge patches with our field manager.
    const patches = kube.requests.filter((q) => q.method === 'PATCH' && q.path.endsWith('/externalaccesses/orders/status'));
    expect(patches.length).toBeGreaterThan(0);
    for (const p of patches) expect(p).toMatchObject({ contentType: 'application/merge-patch+json', query: { fieldManager: 'switchyard-controller' } });
  });

  it('follows an edit: the new hostname works, the old one is refused', async () => {
    kube.apply(externalAccess({ service: { name: 'pg', port: 5432 }, tlsMode: 'terminate', upstreamTls: false, hostname: 'orders.apps.example.test' }));
    const o = await kube.waitFor<EA>('ExternalAccess', 'acme-prod', 'orders', readyAt(2));
    expect(o!.status!.hostname).toBe('orders.apps.example.test');
    expect((await psql('orders.apps.example.test')).stdout.trim()).toBe('through-k8s');
    const old = await psql(`acme-prod-orders.acme.${BASE_DOMAIN}`);
    expect(old.code).not.toBe(0);
  });

  it('the API refuses to change the route (409 naming the object) and shows who owns it', async () => {
    const token = (await api.call<{ token: string }>('POST', '/api/v1/tenants/acme/tokens', { name: 'k8s-e2e', role: 'owner' })).body.token;
    const r = await api.call('PUT', '/api/v1/tenants/acme/databases/acme-prod-orders/external-access', { enabled: false }, token);
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ code: 'SY_KUBERNETES_OWNED', details: [{ kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders' }] });
    const g = await api.call('GET', '/api/v1/tenants/acme/databases/acme-prod-orders', undefined, token);
    expect(g.body.owner).toMatchObject({ type: 'kubernetes', kind: 'ExternalAccess', namespace: 'acme-prod', name: 'orders' });
    const d = await api.call('GET', '/api/v1/tenants/acme/discovered-services', undefined, token);
    expect(d.body.items).toEqual([expect.objectContaining({ namespace: 'acme-prod', name: 'pg', engine: 'postgres', readyEndpoints: [{ host: '127.0.0.1', port: 5432 }] })]);
  });

  it('deleting the object removes the route: the next psql is refused', async () => {
    kube.delete('ExternalAccess', 'acme-prod', 'orders');
    const before = await api.app.prisma.configState.findFirstOrThrow();
    await waitUntil(async () => (await api.app.prisma.route.count({ where: { ownerName: 'orders' } })) === 0);
    const after = await api.app.prisma.configState.findFirstOrThrow();
    expect(Number(after.version)).toBeGreaterThan(Number(before.version));
    await api.app.services.propagation.waitFor(Number(after.version), 10_000);
    const r = await psql('orders.apps.example.test');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown|no route|refused|closed|SSL/i);
  });
});

describe('TLSRoute', () => {
  it('routes redis-cli --tls --sni to the backend and reports Accepted/ResolvedRefs on its parent', async () => {
    kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'cache', namespace: 'acme-web', uid: '' }, spec: { ports: [{ name: 'redis', port: 6379, protocol: 'TCP' }] } });
    kube.apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'cache-1', namespace: 'acme-web', uid: '', labels: { 'kubernetes.io/service-name': 'cache' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      ports: [{ name: 'redis', port: redis.port, protocol: 'TCP' }],
    } as never);
    // Another controller's entry in status.parents must survive our writes.
    const foreign = { parentRef: { name: 'elsewhere' }, controllerName: 'example.net/gateway-controller', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '' }] };
    kube.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'TLSRoute',
      metadata: { name: 'cache', namespace: 'acme-web', uid: '' },
      spec: { parentRefs: [{ name: 'example-gateway', sectionName: 'tls' }], hostnames: [redisHost], rules: [{ backendRefs: [{ name: 'cache', port: 6379 }] }] },
    } as never);
    kube.setStatus('TLSRoute', 'acme-web', 'cache', { parents: [foreign] });
    type R = KubeObject & { status?: { parents?: { controllerName: string; conditions: Cond[] }[] } };
    const o = await kube.waitFor<R>('TLSRoute', 'acme-web', 'cache', (x) => {
      const mine = x?.status?.parents?.find((p) => p.controllerName === 'switchyard.io/gateway-controller');
      return Boolean(mine?.conditions.every((c) => c.status === 'True'));
    });
    expect(o!.status!.parents!.map((p) => p.controllerName).sort()).toEqual(['example.net/gateway-controller', 'switchyard.io/gateway-controller']);
    const route = await api.app.prisma.route.findFirstOrThrow({ where: { hostname: redisHost } });
    expect(route).toMatchObject({ owner: 'kubernetes', ownerKind: 'TLSRoute', tlsMode: 'passthrough', enabled: true });
    expect((await api.app.services.propagation.waitFor(Number(route.version), 10_000)).state).toBe('applied');
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', redisHost, '--cacert', redis.caFile, 'PING']);
    expect(r.stdout.trim()).toBe('PONG');
    // The Gateway's own status: accepted, programmed, the route attached to its listener.
    type G = KubeObject & { status?: { conditions?: Cond[]; listeners?: { name: string; attachedRoutes: number }[] } };
    const gw = await kube.waitFor<G>('Gateway', 'acme-web', 'example-gateway', (x) => (x?.status?.listeners?.find((l) => l.name === 'tls')?.attachedRoutes ?? 0) >= 1);
    expect(gw!.status!.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual(['Accepted=True', 'Programmed=True']);
  });
});

describe('TLSRoute changes', () => {
  const ping = (sni: string) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', sni, '--cacert', redis.caFile, 'PING'], { timeoutMs: 10_000 });
  const route = (hostnames: string[]) =>
    kube.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'TLSRoute',
      metadata: { name: 'cache', namespace: 'acme-web', uid: '' },
      spec: { parentRefs: [{ name: 'example-gateway', sectionName: 'tls' }], hostnames, rules: [{ backendRefs: [{ name: 'cache', port: 6379 }] }] },
    } as never);

  it('an edited hostname works and the old one is refused; deleting the TLSRoute removes its route', async () => {
    route([redisHost2]);
    await waitUntil(async () => (await api.app.prisma.route.count({ where: { hostname: redisHost2, ownerName: 'cache' } })) === 1 && (await api.app.prisma.route.count({ where: { hostname: redisHost } })) === 0);
    const edited = await api.app.prisma.configState.findFirstOrThrow();
    expect((await api.app.services.propagation.waitFor(Number(edited.version), 10_000)).state).toBe('applied');
    expect((await ping(redisHost2)).stdout.trim()).toBe('PONG');
    expect((await ping(redisHost)).stdout.trim()).not.toBe('PONG');

    kube.delete('TLSRoute', 'acme-web', 'cache');
    await waitUntil(async () => (await api.app.prisma.route.count({ where: { ownerKind: 'TLSRoute' } })) === 0);
    const deleted = await api.app.prisma.configState.findFirstOrThrow();
    expect((await api.app.services.propagation.waitFor(Number(deleted.version), 10_000)).state).toBe('applied');
    expect((await ping(redisHost2)).stdout.trim()).not.toBe('PONG');
  });
});

describe('TLSRoute backends', () => {
  it('keeps serving redis-cli when one of two backends’ Service is deleted; ResolvedRefs names the missing backendRef', async () => {
    const svc = (name: string) => {
      kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'acme-web', uid: '' }, spec: { ports: [{ name: 'redis', port: 6379, protocol: 'TCP' }] } });
      kube.apply({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-1`, namespace: 'acme-web', uid: '', labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
        ports: [{ name: 'redis', port: redis.port, protocol: 'TCP' }],
      } as never);
    };
    svc('cache');
    svc('cache-canary');
    kube.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'TLSRoute',
      metadata: { name: 'cache-split', namespace: 'acme-web', uid: '' },
      spec: { parentRefs: [{ name: 'example-gateway', sectionName: 'tls' }], hostnames: [redisHost], rules: [{ backendRefs: [{ name: 'cache', port: 6379, weight: 90 }, { name: 'cache-canary', port: 6379, weight: 10 }] }] },
    } as never);
    type R = KubeObject & { status?: { parents?: { controllerName: string; conditions: (Cond & { message: string })[] }[] } };
    const refs = (x: R | undefined) => x?.status?.parents?.find((p) => p.controllerName === 'switchyard.io/gateway-controller')?.conditions.find((c) => c.type === 'ResolvedRefs');
    await kube.waitFor<R>('TLSRoute', 'acme-web', 'cache-split', (x) => refs(x)?.status === 'True');
    const route = await api.app.prisma.route.findFirstOrThrow({ where: { hostname: redisHost } });
    expect((await api.app.services.propagation.waitFor(Number(route.version), 10_000)).state).toBe('applied');
    const ping = () => run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', redisHost, '--cacert', redis.caFile, 'PING'], { timeoutMs: 10_000 });
    expect((await ping()).stdout.trim()).toBe('PONG');

    // The canary goes: the route stays, to the backend that is left.
    kube.delete('EndpointSlice', 'acme-web', 'cache-canary-1');
    kube.delete('Service', 'acme-web', 'cache-canary');
    const o = await kube.waitFor<R>('TLSRoute', 'acme-web', 'cache-split', (x) => refs(x)?.status === 'False');
    expect(refs(o)).toMatchObject({ reason: 'BackendNotFound' });
    expect(refs(o)!.message).toMatch(/^spec\.rules\[0\]\.backendRefs\[1\]: Service acme-web\/cache-canary not found; the other backends are used: 127\.0\.0\.1:\d+$/);
    expect(await api.app.prisma.route.count({ where: { hostname: redisHost, ownerName: 'cache-split' } })).toBe(1);
    expect((await ping()).stdout.trim()).toBe('PONG');

    kube.delete('TLSRoute', 'acme-web', 'cache-split');
    await waitUntil(async () => (await api.app.prisma.route.count({ where: { ownerKind: 'TLSRoute' } })) === 0);
  });
});

/** Polls a database condition the controller reaches asynchronously (no event to await in SQL). */
async function waitUntil(pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
