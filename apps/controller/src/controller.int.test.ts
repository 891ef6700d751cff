/**
 * The controller against the fake API server and a real control database (no proxy: routes
 * are checked in the database). What must never happen: deleting routes from an unsynced
 * cache, two replicas writing, a tenant reaching another tenant's namespace, a lost or
 * duplicated route after a watch failure or a restart.
 */
import { buildDomainServices, loadConfig as loadApiConfig, type ApiConfig } from '@switchyard/api';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ROUTE_SNAPSHOT_SQL, routeFromRow, type RouteSnapshotRow } from '@switchyard/core';
import { createPrisma, type PrismaClient } from '@switchyard/db';
import { createTestDatabase, TEST_KEYS, testCa, type TestDatabase } from '@switchyard/testkit';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Controller } from './controller.js';
import { KubeClient } from './kube/client.js';
import { CONTROLLER_LOCK_KEY, NotLeaderError } from './leader.js';
import { ControllerMetrics } from './metrics.js';
import { startController, type ControllerProcess } from './process.js';
import { FakeKube, testControllerConfig } from './testing/index.js';
import type { ExternalAccess, KubeObject, RouteParentStatus, TLSRoute } from './translate/objects.js';

let db: TestDatabase;
let prisma: PrismaClient;
let kube: FakeKube;
let apiConfig: ApiConfig;
const running = new Set<ControllerProcess>();

type Cond = { type: string; status: string; reason: string; message: string };
const cond = (o: ExternalAccess | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type) as Cond | undefined;
const accepted = (o: ExternalAccess | undefined) => cond(o, 'Accepted')?.status === 'True' && o?.status?.observedGeneration === o?.metadata.generation;

async function start(over = {}): Promise<ControllerProcess> {
  const c = await startController(testControllerConfig(apiConfig, kube.kubeconfigPath, over));
  running.add(c);
  return c;
}
async function stop(c: ControllerProcess): Promise<void> {
  running.delete(c);
  await c.stop();
}

const ea = (ns: string, name: string, spec: ExternalAccess['spec'], created?: string): ExternalAccess =>
  ({ apiVersion: 'switchyard.io/v1alpha1', kind: 'ExternalAccess', metadata: { name, namespace: ns, uid: '', creationTimestamp: created }, spec });
const routes = async () => (await prisma.route.findMany({ where: { owner: 'kubernetes' }, orderBy: { hostname: 'asc' } })).map((r) => `${r.ownerNamespace}/${r.ownerName} ${r.hostname}`);

/**
 * A Service `name` in acme-prod (port 5432, which names the engine) and its EndpointSlice
 * `<name>-1`: pods at `addresses` on 5499, all `ready` or not. Applied again, it moves the pods.
 */
function serviceWithPods(name: string, addresses: string[], ready = true): void {
  if (!kube.get('Service', 'acme-prod', name)) kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'acme-prod', uid: '' }, spec: { ports: [{ name: 'postgres', port: 5432 }] } });
  kube.apply({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace: 'acme-prod', uid: '', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready } })),
    ports: [{ name: 'postgres', port: 5499 }],
  } as never);
}

/**
 * Stops the test's controller and starts another, which decides the same from the objects, the
 * cluster and the control database: after its first reconcile `state()` (the route row, the
 * config version, the patches sent…) is what it was. Returns the new controller.
 */
async function restartWritesNothing(c: ControllerProcess, state: () => Promise<unknown>): Promise<ControllerProcess> {
  await c.controller.idle();
  const before = await state();
  await stop(c);
  const next = await start();
  await waitUntil(async () => next.leader.isLeader && next.controller.reconciles > 0);
  await next.controller.idle();
  expect(await state()).toEqual(before);
  return next;
}

/** A test's own objects in acme-prod deleted (those still there), its routes gone, its controller stopped. */
async function cleanUp(c: ControllerProcess, objects: ReadonlyArray<readonly [kind: string, name: string]>): Promise<void> {
  for (const [kind, name] of objects) if (kube.get(kind, 'acme-prod', name)) kube.delete(kind, 'acme-prod', name);
  await waitUntil(async () => (await routes()).length === 0);
  await stop(c);
}

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrisma(db.url, { max: 2 });
  for (const slug of ['acme', 'beta']) {
    await prisma.tenant.create({ data: { slug, name: slug, allowedUpstreamCidrs: ['127.0.0.0/8'], allowedUpstreamSuffixes: [`${slug}.svc.cluster.local`, `${slug}-prod.svc.cluster.local`], allowedCustomDomains: [`${slug}.example.test`] } });
  }
  // A keyring: terminate-mode routes get a certificate from the platform CA.
  apiConfig = loadApiConfig({ DATABASE_URL: db.url, SWITCHYARD_BASE_DOMAIN: 'db.example.test', SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true', SWITCHYARD_KEYS: TEST_KEYS, LOG_LEVEL: 'silent' });
  kube = new FakeKube();
  kube.bookmarkMs = 100;
  await kube.start();
  // The pods listen on 5499 behind Service port 5432 (which names the engine): a pod address
  // 127.0.0.1:5432 would be the control database itself when the tests run against the
  // machine's PostgreSQL (DATABASE_URL=…127.0.0.1:5432), and the API refuses that upstream.
  for (const [ns, tenant] of [['acme-prod', 'acme'], ['beta-prod', 'beta']] as const) {
    kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, uid: '', labels: { 'switchyard.io/tenant': tenant } } });
    kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pg', namespace: ns, uid: '' }, spec: { ports: [{ name: 'postgres', port: 5432 }] } });
    kube.apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'pg-1', namespace: ns, uid: '', labels: { 'kubernetes.io/service-name': 'pg' } },
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      ports: [{ name: 'postgres', port: 5499 }],
    } as never);
  }
});

afterAll(async () => {
  await Promise.all([...running].map((c) => c.stop()));
  await kube?.stop();
  await prisma?.$disconnect();
  await db?.drop();
});

describe('controller', () => {
  it('deletes nothing before its caches are synced, then removes routes of objects deleted while it was down', async () => {
    const first = await start();
    kube.apply(ea('acme-prod', 'gone-while-down', { service: { name: 'pg', port: 5432 } }));
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'gone-while-down', accepted);
    expect(await routes()).toEqual(['acme-prod/gone-while-down acme-prod-gone-while-down.acme.db.example.test']);
    await stop(first);

    kube.delete('ExternalAccess', 'acme-prod', 'gone-while-down');
    kube.failNext('ExternalAccess', 1_000_000);
    const second = await start();
    // Wait for several failed lists of ExternalAccess while the rest synced: still nothing deleted.
    await waitUntil(async () => second.controller.informers.externalAccesses.restarts >= 3 && second.controller.informers.services.synced && second.leader.isLeader);
    expect(second.controller.synced).toBe(false);
    expect(await routes()).toHaveLength(1);
    kube.failNext('ExternalAccess', 0);
    await waitUntil(async () => (await routes()).length === 0);
    await stop(second);
  });

  it('one replica writes, the other waits and takes over when it stops', async () => {
    const a = await start();
    const b = await start();
    kube.apply(ea('acme-prod', 'replicated', { service: { name: 'pg', port: 5432 } }));
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'replicated', accepted);
    expect([a.leader.isLeader, b.leader.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.leader.isLeader ? [a, b] : [b, a];
    expect(leader.controller.status.writes).toBeGreaterThan(0);
    expect(follower.controller.status.writes).toBe(0);
    expect(follower.controller.reconciles).toBe(0);

    await stop(leader);
    kube.apply(ea('acme-prod', 'after-failover', { service: { name: 'pg', port: 5432 } }));
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'after-failover', accepted);
    expect(follower.leader.isLeader).toBe(true);
    expect(follower.controller.status.writes).toBeGreaterThan(0);
    expect(await routes()).toEqual([
      'acme-prod/after-failover acme-prod-after-failover.acme.db.example.test',
      'acme-prod/replicated acme-prod-replicated.acme.db.example.test',
    ]);
    // No write loop: a settled controller sends no further status patches.
    const settled = follower.controller.status.writes;
    follower.controller.trigger();
    await follower.controller.idle();
    expect(follower.controller.status.writes).toBe(settled);
    kube.delete('ExternalAccess', 'acme-prod', 'replicated');
    kube.delete('ExternalAccess', 'acme-prod', 'after-failover');
    await waitUntil(async () => (await routes()).length === 0);
    await stop(follower);
  });

  it('a restarted controller finds every route as it left it: none lost, none duplicated, nothing rewritten', async () => {
    const first = await start();
    kube.apply(ea('acme-prod', 'kept', { service: { name: 'pg', port: 5432 } }));
    kube.apply(ea('acme-prod', 'kept-named', { service: { name: 'pg', port: 5432 }, hostname: 'kept.acme.example.test' }));
    for (const n of ['kept', 'kept-named']) await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', n, accepted);
    await first.controller.idle();
    const rows = async () => (await prisma.route.findMany({ where: { owner: 'kubernetes' }, orderBy: { hostname: 'asc' } })).map((r) => `${r.id} ${r.hostname} v${r.version}`);
    const before = { rows: await rows(), version: (await prisma.configState.findFirstOrThrow()).version, patches: kube.requests.filter((r) => r.method === 'PATCH').length };
    await stop(first);

    const second = await start();
    await waitUntil(async () => second.leader.isLeader && second.controller.reconciles > 0);
    await second.controller.idle();
    expect(await rows()).toEqual(before.rows); // same rows (ids), same versions
    expect(await routes()).toEqual(['acme-prod/kept acme-prod-kept.acme.db.example.test', 'acme-prod/kept-named kept.acme.example.test']);
    expect((await prisma.configState.findFirstOrThrow()).version).toBe(before.version); // no route change reached the proxies
    expect(kube.requests.filter((r) => r.method === 'PATCH').length).toBe(before.patches); // statuses unchanged: not rewritten
    kube.delete('ExternalAccess', 'acme-prod', 'kept');
    kube.delete('ExternalAccess', 'acme-prod', 'kept-named');
    await waitUntil(async () => (await routes()).length === 0);
    await stop(second);
  });

  it('when the leader process is killed, the other replica takes over within seconds (default 2 s leader checks)', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const holder = async () => (await prisma.$queryRaw<Array<{ pid: number }>>`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ${CONTROLLER_LOCK_KEY}::bigint::oid`)[0]?.pid ?? null;
    let child: ChildProcess | null = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(root, 'apps/controller/src/main.ts')], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: db.url, SWITCHYARD_BASE_DOMAIN: 'db.example.test', SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true', KUBECONFIG: kube.kubeconfigPath, CONTROLLER_METRICS_HOST: '127.0.0.1', CONTROLLER_METRICS_PORT: '0', LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    try {
      await waitUntil(async () => (await holder()) !== null, 60_000); // a tsx start on a busy machine
      kube.apply(ea('acme-prod', 'before-kill', { service: { name: 'pg', port: 5432 } }));
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'before-kill', accepted);
      const follower = await start({ leaderCheckMs: 2000 });
      await waitUntil(async () => follower.controller.synced);
      expect(follower.leader.isLeader).toBe(false);

      const t0 = Date.now();
      child.kill('SIGKILL');
      child = null;
      kube.apply(ea('acme-prod', 'after-kill', { service: { name: 'pg', port: 5432 } }));
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'after-kill', accepted);
      const takeover = Date.now() - t0;
      console.info(`leader killed → follower acted in ${takeover} ms`);
      expect(follower.leader.isLeader).toBe(true);
      expect(takeover).toBeLessThan(5000); // one 2 s check, the barrier, a 100 ms debounce
      expect(await routes()).toEqual(['acme-prod/after-kill acme-prod-after-kill.acme.db.example.test', 'acme-prod/before-kill acme-prod-before-kill.acme.db.example.test']);
      kube.delete('ExternalAccess', 'acme-prod', 'before-kill');
      kube.delete('ExternalAccess', 'acme-prod', 'after-kill');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(follower);
    } finally {
      child?.kill('SIGKILL');
    }
  }, 90_000);

  it('on SIGTERM the leader process releases the lock and exits 0', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const spawnedAt = new Date();
    // The holder's session must be the child's (opened after the spawn), not one of an earlier test still closing.
    const holder = async () =>
      (
        await prisma.$queryRaw<Array<{ pid: number }>>`SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ${CONTROLLER_LOCK_KEY}::bigint::oid AND a.backend_start >= ${spawnedAt}`
      )[0]?.pid ?? null;
    const child = spawn(process.execPath, ['--conditions=switchyard-source', '--import', 'tsx', join(root, 'apps/controller/src/main.ts')], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: db.url, SWITCHYARD_BASE_DOMAIN: 'db.example.test', SWITCHYARD_ALLOW_LOOPBACK_UPSTREAMS: 'true', KUBECONFIG: kube.kubeconfigPath, CONTROLLER_METRICS_HOST: '127.0.0.1', CONTROLLER_METRICS_PORT: '0', LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(async () => (await holder()) !== null, 60_000); // a tsx start on a busy machine
      // Right after the election the informers may still be listing: stop() must not wait for
      // a watch opened after it (up to CONTROLLER_WATCH_TIMEOUT_SECONDS, 300 s).
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await holder()).toBeNull(); // released by the process, not by a session timeout
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('routes to the ready pods of the EndpointSlices and follows readiness; upstream: service uses the Service name', async () => {
    const c = await start();
    const slice = (ready2: boolean) =>
      kube.apply({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'pods-1', namespace: 'acme-prod', uid: '', labels: { 'kubernetes.io/service-name': 'pods' } },
        addressType: 'IPv4',
        endpoints: [
          { addresses: ['127.0.0.2'], conditions: { ready: true } },
          { addresses: ['127.0.0.3'], conditions: { ready: ready2 } },
        ],
        ports: [{ name: 'postgres', port: 5499 }],
      } as never);
    kube.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pods', namespace: 'acme-prod', uid: '' }, spec: { ports: [{ name: 'postgres', port: 5432 }] } });
    slice(false);
    kube.apply(ea('acme-prod', 'per-pod', { service: { name: 'pods', port: 5432 } }));
    kube.apply(ea('acme-prod', 'by-name', { service: { name: 'pods', port: 5432 }, upstream: 'service' }));
    const endpoints = async (name: string) => ((await prisma.database.findFirst({ where: { ownerName: name } }))?.endpoints ?? null) as { host: string; port: number }[] | null;
    await waitUntil(async () => (await endpoints('per-pod'))?.length === 1);
    expect(await endpoints('per-pod')).toEqual([{ host: '127.0.0.2', port: 5499 }]);
    slice(true); // the second pod turns ready
    await waitUntil(async () => (await endpoints('per-pod'))?.length === 2);
    expect(await endpoints('per-pod')).toEqual([{ host: '127.0.0.2', port: 5499 }, { host: '127.0.0.3', port: 5499 }]);
    await waitUntil(async () => (await endpoints('by-name')) !== null);
    expect(await endpoints('by-name')).toEqual([{ host: 'pods.acme-prod.svc.cluster.local', port: 5432 }]);
    kube.delete('ExternalAccess', 'acme-prod', 'per-pod');
    kube.delete('ExternalAccess', 'acme-prod', 'by-name');
    await waitUntil(async () => (await routes()).length === 0);
    await stop(c);
  });

  it('sets the upstream TLS leg of a terminate-mode route from the object (upstreamCa; the Service’s name for pod addresses), follows changes, refuses bad values naming the field, and rewrites nothing when nothing changed', async () => {
    const ca = testCa().certPem;
    const row = async () => prisma.route.findFirst({ where: { ownerName: 'upstream-tls' }, select: { id: true, version: true, tlsMode: true, upstreamTls: true, upstreamCa: true, upstreamServerName: true } });
    const spec = (extra: Partial<ExternalAccess['spec']>): ExternalAccess['spec'] => ({ service: { name: 'pg', port: 5432 }, tlsMode: 'terminate', ...extra });
    // The status of the object's current generation: written after that reconcile applied (or
    // removed) the route, so the row is checked once, not polled.
    const change = async (s: ExternalAccess['spec']) => {
      const { generation } = kube.apply(ea('acme-prod', 'upstream-tls', s)).metadata;
      const o = await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'upstream-tls', (x) => x?.status?.observedGeneration === generation && cond(x, 'Accepted') !== undefined);
      return cond(o, 'Accepted')!;
    };
    let c = await start();
    try {
      // The route lists the pod addresses (127.0.0.1 here); the database's certificate names the Service.
      expect(await change(spec({ upstreamCa: ca }))).toMatchObject({
        status: 'True',
        message: "Routes acme-prod-upstream-tls.acme.db.example.test to 127.0.0.1:5499; the database's certificate is verified for pg.acme-prod.svc.cluster.local",
      });
      expect(await row()).toMatchObject({ tlsMode: 'terminate', upstreamTls: true, upstreamCa: ca, upstreamServerName: 'pg.acme-prod.svc.cluster.local' });

      // Nothing changed: a restarted controller writes no route, bumps no version, patches no status.
      await c.controller.idle();
      const before = { row: await row(), version: (await prisma.configState.findFirstOrThrow()).version, patches: kube.requests.filter((r) => r.method === 'PATCH').length };
      await stop(c);
      c = await start();
      await waitUntil(async () => c.leader.isLeader && c.controller.reconciles > 0);
      await c.controller.idle();
      expect(await row()).toEqual(before.row);
      expect((await prisma.configState.findFirstOrThrow()).version).toBe(before.version);
      expect(kube.requests.filter((r) => r.method === 'PATCH').length).toBe(before.patches);

      // An explicit name replaces the default, stored as the API normalises it; the same route is updated.
      expect((await change(spec({ upstreamCa: ca, upstreamServerName: 'PG-RW.acme-prod.svc.' }))).message).toMatch(/verified for pg-rw\.acme-prod\.svc$/);
      const lastGood = await row();
      expect(lastGood).toMatchObject({ id: before.row!.id, upstreamCa: ca, upstreamServerName: 'pg-rw.acme-prod.svc' });

      // Bad values are refused naming the field (the fake API server does not apply the CRD's
      // schema, so the controller's own check answers), and the route of the last accepted
      // generation stays exactly as it was (same row, same version: nothing written).
      const kept = / the route of generation \d+ \(the last accepted\) keeps serving acme-prod-upstream-tls\.acme\.db\.example\.test:\d+ unchanged but for its endpoints, which follow Service acme-prod\/pg$/;
      expect(await change(spec({ upstreamCa: ca, upstreamServerName: '10.0.0.7' }))).toMatchObject({ status: 'False', reason: 'Invalid', message: expect.stringMatching(/^spec\.upstreamServerName: "10\.0\.0\.7" is not a DNS name/) });
      expect(await row()).toEqual(lastGood);
      // (The value is never repeated: it could be a key pasted by mistake.)
      const badCa = await change(spec({ upstreamCa: 'secret-not-a-certificate', upstreamServerName: 'pg-rw.acme-prod.svc' }));
      expect(badCa).toMatchObject({ status: 'False', reason: 'UpstreamCaInvalid', message: expect.stringMatching(/^spec\.upstreamCa: is not PEM/) });
      expect(badCa.message).toMatch(kept);
      expect(badCa.message).not.toContain('secret-not-a-certificate');
      expect(await row()).toEqual(lastGood);
      // A refusal of the API itself (the controller does not check CIDRs) names the object's field too, not the API body's.
      const cidr = await change(spec({ upstreamCa: ca, sourceCidrs: ['10.0.0.1/8'] }));
      expect(cidr).toMatchObject({ status: 'False', reason: 'Invalid', message: expect.stringMatching(/^spec\.sourceCidrs\[0\]: "10\.0\.0\.1\/8" is not a CIDR with zero host bits; /) });
      expect(cidr.message).toMatch(kept);
      expect(await row()).toEqual(lastGood);

      // Both fields removed: the route has no CA (null) and is checked for the Service's name again.
      expect((await change(spec({}))).message).toBe('Routes acme-prod-upstream-tls.acme.db.example.test to 127.0.0.1:5499');
      expect(await row()).toMatchObject({ upstreamCa: null, upstreamServerName: 'pg.acme-prod.svc.cluster.local' });
      expect((await change(spec({ upstreamCa: ca }))).status).toBe('True');
      expect(await row()).toMatchObject({ upstreamCa: ca, upstreamServerName: 'pg.acme-prod.svc.cluster.local' });

      // Plaintext to the database, then passthrough: no upstream TLS leg, both cleared (null).
      expect((await change(spec({ upstreamTls: false, upstreamCa: ca, upstreamServerName: 'pg-rw.acme-prod.svc' }))).status).toBe('True');
      expect(await row()).toMatchObject({ tlsMode: 'terminate', upstreamTls: false, upstreamCa: null, upstreamServerName: null });
      expect((await change(spec({ tlsMode: 'passthrough', upstreamCa: ca, upstreamServerName: 'pg-rw.acme-prod.svc' }))).status).toBe('True');
      expect(await row()).toMatchObject({ tlsMode: 'passthrough', upstreamCa: null, upstreamServerName: null });
    } finally {
      kube.delete('ExternalAccess', 'acme-prod', 'upstream-tls');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('keeps the last accepted route when an edit is refused for its own spec — across a restart, disabled at once by spec.enabled false — updates it once fixed, and removes it when the Service goes', async () => {
    // A Service of its own, so that deleting it touches no other test's routes.
    serviceWithPods('lg', ['127.0.0.1']);
    const service = { name: 'lg', port: 5432 };
    const row = async () =>
      prisma.route.findFirst({
        where: { ownerName: 'last-good' },
        select: { id: true, hostname: true, enabled: true, version: true, tlsMode: true, database: { select: { name: true, engine: true, endpoints: true } } },
      });
    const version = async () => (await prisma.configState.findFirstOrThrow()).version;
    const patches = () => kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/externalaccesses/last-good/status')).length;
    // The status of the object's new generation: written after that reconcile applied, kept or
    // removed the route, so the route is checked once, not polled.
    const edit = async (spec: ExternalAccess['spec']) => {
      const { generation } = kube.apply(ea('acme-prod', 'last-good', spec)).metadata;
      return (await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'last-good', (x) => x?.status?.observedGeneration === generation && cond(x, 'Accepted') !== undefined))!;
    };
    let c = await start();
    try {
      const g1 = await edit({ service, hostname: 'orders.acme.example.test' });
      expect(cond(g1, 'Accepted')?.status).toBe('True');
      expect(g1.status).toMatchObject({ lastAcceptedGeneration: g1.metadata.generation, hostname: 'orders.acme.example.test', database: 'acme-prod-last-good' });
      await c.controller.idle();
      const lastGood = await row();
      expect(lastGood).toMatchObject({ hostname: 'orders.acme.example.test', enabled: true, database: { engine: 'postgres', endpoints: [{ host: '127.0.0.1', port: 5499 }] } });
      const v1 = await version();

      // A hostname outside the tenant's domains (the API refuses it): the route stays as it was.
      const g2 = await edit({ service, hostname: 'orders.evil.example.net' });
      const gen1 = g1.metadata.generation!;
      expect(cond(g2, 'Accepted')).toMatchObject({
        status: 'False',
        reason: 'HostnameNotAllowed',
        observedGeneration: g2.metadata.generation,
        message: expect.stringMatching(
          new RegExp(`^spec\\.hostname: orders\\.evil\\.example\\.net is not under the tenant’s allowed domains \\(acme\\.example\\.test\\); the route of generation ${gen1} \\(the last accepted\\) keeps serving orders\\.acme\\.example\\.test:\\d+ unchanged but for its endpoints, which follow Service acme-prod/lg$`),
        ),
      });
      // Programmed and Ready describe what serves: the route of generation 1 (no proxy runs here).
      for (const type of ['Programmed', 'Ready']) {
        expect(g2.status!.conditions!.find((x) => x.type === type)).toMatchObject({ observedGeneration: gen1, reason: 'NoProxies', message: `generation ${gen1} (the last accepted): No live proxy` });
      }
      expect(g2.status).toMatchObject({ observedGeneration: g2.metadata.generation, lastAcceptedGeneration: gen1, hostname: 'orders.acme.example.test', database: 'acme-prod-last-good' });
      expect(await row()).toEqual(lastGood);
      expect(await version()).toBe(v1); // nothing reached the proxies

      // A restarted controller knows nothing but the control database and the objects: still kept,
      // and nothing is written (no route change, no status patch).
      await c.controller.idle();
      const before = patches();
      await stop(c);
      c = await start();
      await waitUntil(async () => c.leader.isLeader && c.controller.reconciles > 0);
      await c.controller.idle();
      expect(await row()).toEqual(lastGood);
      expect(await version()).toBe(v1);
      expect(patches()).toBe(before);

      // Refused by the controller itself this time (an unknown engine; the fake API server does not
      // apply the CRD's enum — a Service whose engine cannot be inferred is refused the same way):
      // kept, naming the same generation.
      const g3 = await edit({ service, hostname: 'orders.acme.example.test', engine: 'postgress' });
      expect(cond(g3, 'Accepted')).toMatchObject({ status: 'False', reason: 'EngineUnknown', message: expect.stringMatching(new RegExp(`^Unknown engine postgress; the route of generation ${gen1} \\(the last accepted\\) keeps serving`)) });
      expect(g3.status!.lastAcceptedGeneration).toBe(gen1);
      expect(await row()).toEqual(lastGood);

      // spec.enabled false still acts at once, refused spec or not: the kept route is disabled, nothing else changes.
      const g4 = await edit({ service, hostname: 'orders.evil.example.net', enabled: false });
      expect(cond(g4, 'Accepted')).toMatchObject({ reason: 'HostnameNotAllowed', message: expect.stringMatching(/is kept unchanged but disabled \(spec\.enabled is false\)/) });
      expect(cond(g4, 'Ready')).toMatchObject({ status: 'False', reason: 'Disabled' });
      const disabled = await row();
      expect(disabled).toEqual({ ...lastGood, enabled: false, version: disabled!.version });
      expect(disabled!.version).toBeGreaterThan(lastGood!.version);

      // Fixed: the route is updated as usual (the same row), and Accepted.
      const g5 = await edit({ service, hostname: 'orders2.acme.example.test' });
      expect(cond(g5, 'Accepted')).toMatchObject({ status: 'True', observedGeneration: g5.metadata.generation });
      expect(g5.status).toMatchObject({ lastAcceptedGeneration: g5.metadata.generation, hostname: 'orders2.acme.example.test' });
      expect(await row()).toMatchObject({ id: lastGood!.id, hostname: 'orders2.acme.example.test', enabled: true });

      // The world refuses it (its Service deleted): no route is kept pointing at a deleted Service's addresses.
      kube.delete('EndpointSlice', 'acme-prod', 'lg-1');
      kube.delete('Service', 'acme-prod', 'lg');
      const gone = await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'last-good', (x) => cond(x, 'Accepted')?.reason === 'ServiceNotFound');
      expect(cond(gone, 'Accepted')?.message).toBe('spec.service.name: Service acme-prod/lg not found');
      expect(gone!.status!.lastAcceptedGeneration).toBeUndefined();
      expect(await row()).toBeNull();
    } finally {
      await cleanUp(c, [['ExternalAccess', 'last-good'], ['EndpointSlice', 'lg-1'], ['Service', 'lg']]);
    }
  });

  it('a kept route’s endpoints follow the pods of its last accepted Service — refused by the API or by the controller, across a restart — and it goes with that Service', async () => {
    // A Service of its own, whose pods get rescheduled (new addresses) while the object's latest spec is refused.
    const pods = (addresses: string[], ready = true) => serviceWithPods('fw', addresses, ready);
    pods(['127.0.0.1']);
    const service = { name: 'fw', port: 5432 };
    const row = async () => prisma.route.findFirst({ where: { ownerName: 'follow' }, select: { id: true, hostname: true, enabled: true, version: true, database: { select: { endpoints: true } } } });
    const version = async () => (await prisma.configState.findFirstOrThrow()).version;
    const patches = () => kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/externalaccesses/follow/status')).length;
    // What the proxies load (their snapshot query) and which changes their deltas carry.
    const served = async () => {
      const rows = await prisma.$queryRawUnsafe<RouteSnapshotRow[]>(ROUTE_SNAPSHOT_SQL, null);
      return rows.map(routeFromRow).find((r) => r.hostname === 'follow.acme.example.test')?.endpoints ?? null;
    };
    const changedSince = async (v: bigint | number, routeId: string) => (await prisma.configChange.findMany({ where: { version: { gt: BigInt(v) }, routeId } })).length;
    const edit = async (spec: ExternalAccess['spec']) => {
      const { generation } = kube.apply(ea('acme-prod', 'follow', spec)).metadata;
      return (await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'follow', (x) => x?.status?.observedGeneration === generation && cond(x, 'Accepted') !== undefined))!;
    };
    // A kept route's endpoints written: its status names the route's new config version.
    const followed = (configVersion: number | undefined) => kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'follow', (x) => x?.status?.configVersion !== undefined && x.status.configVersion !== configVersion);
    let c = await start();
    try {
      const g1 = await edit({ service, hostname: 'follow.acme.example.test' });
      expect(cond(g1, 'Accepted')?.status).toBe('True');
      expect(g1.status!.lastAcceptedService).toEqual({ namespace: 'acme-prod', name: 'fw', port: 5432, upstream: 'endpoints' });
      const gen1 = g1.metadata.generation!;
      await c.controller.idle();
      const first = (await row())!;
      expect(first.database.endpoints).toEqual([{ host: '127.0.0.1', port: 5499 }]);

      // Refused by the API (a hostname outside the tenant's domains), and moved to another Service
      // in the same edit: kept, following fw (the last accepted spec's), not pg (the refused one's).
      const g2 = await edit({ service: { name: 'pg', port: 5432 }, hostname: 'follow.evil.example.net' });
      expect(cond(g2, 'Accepted')).toMatchObject({
        status: 'False',
        reason: 'HostnameNotAllowed',
        message: expect.stringMatching(new RegExp(`; the route of generation ${gen1} \\(the last accepted\\) keeps serving follow\\.acme\\.example\\.test:\\d+ unchanged but for its endpoints, which follow Service acme-prod/fw$`)),
      });
      expect(g2.status).toMatchObject({ lastAcceptedGeneration: gen1, lastAcceptedService: { name: 'fw' } });
      expect(await row()).toEqual(first); // nothing written: the pods did not move
      const v1 = await version();

      // The pod is rescheduled: the kept route follows it, and the proxies get the change.
      pods(['127.0.0.2']);
      const moved = await followed(g2.status!.configVersion);
      const second = (await row())!;
      expect(second).toMatchObject({ id: first.id, hostname: 'follow.acme.example.test', enabled: true, database: { endpoints: [{ host: '127.0.0.2', port: 5499 }] } });
      expect(second.version).toBeGreaterThan(first.version);
      expect(await served()).toEqual([{ host: '127.0.0.2', port: 5499 }]);
      expect(await changedSince(v1, first.id)).toBe(1);
      expect(moved!.status).toMatchObject({ observedGeneration: g2.metadata.generation, lastAcceptedGeneration: gen1, hostname: 'follow.acme.example.test' });
      expect(cond(moved, 'Accepted')).toMatchObject({ reason: 'HostnameNotAllowed' });
      expect(cond(moved, 'Ready')).toMatchObject({ observedGeneration: gen1 }); // what serves: generation 1's route

      // Refused by the controller itself (an unknown engine; pg again in the same edit): kept, and it follows fw too.
      const g3 = await edit({ service: { name: 'pg', port: 5432 }, hostname: 'follow.acme.example.test', engine: 'postgress' });
      expect(cond(g3, 'Accepted')).toMatchObject({ reason: 'EngineUnknown', message: expect.stringMatching(/which follow Service acme-prod\/fw$/) });
      pods(['127.0.0.3', '127.0.0.4']);
      await followed(g3.status!.configVersion);
      expect((await row())!.database.endpoints).toEqual([{ host: '127.0.0.3', port: 5499 }, { host: '127.0.0.4', port: 5499 }]);
      expect(await served()).toEqual([{ host: '127.0.0.3', port: 5499 }, { host: '127.0.0.4', port: 5499 }]);

      // A restarted controller decides the same from the object, the cluster and the control
      // database: with nothing changed it writes nothing…
      c = await restartWritesNothing(c, async () => ({ row: await row(), version: await version(), patches: patches() }));
      // …and pods moved while no controller ran are followed once one does.
      await stop(c);
      pods(['127.0.0.5']);
      const before = kube.get<ExternalAccess>('ExternalAccess', 'acme-prod', 'follow')!.status!.configVersion;
      c = await start();
      await followed(before);
      expect((await row())!.database.endpoints).toEqual([{ host: '127.0.0.5', port: 5499 }]);
      expect(await served()).toEqual([{ host: '127.0.0.5', port: 5499 }]);

      // No pod ready: the route names the Service itself, as an accepted route would (no proxy runs
      // here, so Ready says NoProxies before it could say NoReadyEndpoints).
      pods(['127.0.0.5'], false);
      const idle = await followed(kube.get<ExternalAccess>('ExternalAccess', 'acme-prod', 'follow')!.status!.configVersion);
      expect((await row())!.database.endpoints).toEqual([{ host: 'fw.acme-prod.svc.cluster.local', port: 5432 }]);
      expect(cond(idle, 'Ready')).toMatchObject({ status: 'False', reason: 'NoProxies', observedGeneration: gen1 });

      // The Service it follows is deleted (the world's refusal): the kept route goes, and the status says why.
      kube.delete('EndpointSlice', 'acme-prod', 'fw-1');
      kube.delete('Service', 'acme-prod', 'fw');
      const gone = await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'follow', (x) => x?.status?.lastAcceptedGeneration === undefined);
      expect(cond(gone, 'Accepted')).toMatchObject({ reason: 'EngineUnknown', message: 'Unknown engine postgress; its last accepted route was removed: the Service it follows: Service acme-prod/fw not found' });
      expect(gone!.status!.lastAcceptedService).toBeUndefined();
      expect(await row()).toBeNull();
      expect(await served()).toBeNull();
    } finally {
      await cleanUp(c, [['ExternalAccess', 'follow'], ['EndpointSlice', 'fw-1'], ['Service', 'fw']]);
    }
  });

  it('keeps a TLSRoute’s route while it is refused for its own spec (Accepted=False saying what keeps serving) — across a restart — replaces it once fixed, and removes it when its backend Service goes', async () => {
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
    serviceWithPods('trk', ['127.0.0.1']);
    const ours = (o?: TLSRoute) => (o?.status?.parents ?? []).find((p) => p.controllerName === 'switchyard.io/gateway-controller');
    const acc = (o?: TLSRoute) => ours(o)?.conditions.find((x) => x.type === 'Accepted');
    const edit = async (hostnames: string[]) => {
      const { generation } = kube.apply<TLSRoute>({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'TLSRoute',
        metadata: { name: 'kept-tls', namespace: 'acme-prod', uid: '' },
        spec: { parentRefs: [{ name: 'gw' }], hostnames, rules: [{ backendRefs: [{ name: 'trk', port: 5432 }] }] },
      }).metadata;
      return (await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'kept-tls', (o) => acc(o)?.observedGeneration === generation))!;
    };
    const row = async () => prisma.route.findFirst({ where: { ownerName: 'kept-tls' }, select: { id: true, hostname: true, version: true, database: { select: { name: true, endpoints: true } } } });
    const version = async () => (await prisma.configState.findFirstOrThrow()).version;
    const patches = () => kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/tlsroutes/kept-tls/status')).length;
    let c = await start();
    try {
      expect(acc(await edit(['kept-tls.acme.example.test']))).toMatchObject({ status: 'True', reason: 'Accepted' });
      await c.controller.idle();
      const lastGood = (await row())!;
      expect(lastGood).toMatchObject({ hostname: 'kept-tls.acme.example.test', database: { name: 'acme-prod-kept-tls', endpoints: [{ host: '127.0.0.1', port: 5499 }] } });
      const v1 = await version();

      // A hostname that is not one (the fake API server does not apply the CRD's pattern): refused
      // for its own spec, and the route it has keeps serving exactly as it was.
      const refused = await edit(['kept tls.acme.example.test']);
      expect(acc(refused)).toMatchObject({
        status: 'False',
        reason: 'UnsupportedValue',
        observedGeneration: refused.metadata.generation,
        message: 'spec.hostnames[0]: "kept tls.acme.example.test" is not a valid host name; its last accepted route keeps serving kept-tls.acme.example.test unchanged',
      });
      await c.controller.idle();
      expect(await row()).toEqual(lastGood);
      expect(await version()).toBe(v1);

      // A restarted controller keeps it too, and writes nothing.
      c = await restartWritesNothing(c, async () => ({ row: await row(), version: await version(), patches: patches() }));
      expect(await row()).toEqual(lastGood);
      expect(await version()).toBe(v1);

      // Fixed: the route of the new generation replaces it.
      expect(acc(await edit(['kept-tls2.acme.example.test']))).toMatchObject({ status: 'True', message: 'Routes kept-tls2.acme.example.test (passthrough)' });
      await c.controller.idle();
      expect(await routes()).toEqual(['acme-prod/kept-tls kept-tls2.acme.example.test']);
      expect(await version()).toBeGreaterThan(v1);

      // Its backend Service deleted: no backend resolves, no route (nothing is kept for the world's changes).
      kube.delete('EndpointSlice', 'acme-prod', 'trk-1');
      kube.delete('Service', 'acme-prod', 'trk');
      const orphan = await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'kept-tls', (o) => ours(o)?.conditions.find((x) => x.type === 'ResolvedRefs')?.reason === 'BackendNotFound');
      expect(acc(orphan)?.message).toMatch(/no backend resolves \(ResolvedRefs\): connections are refused$/);
      await c.controller.idle();
      expect(await row()).toBeNull();
    } finally {
      if (kube.get('GatewayClass', undefined, 'switchyard')) kube.delete('GatewayClass', undefined, 'switchyard');
      await cleanUp(c, [['TLSRoute', 'kept-tls'], ['EndpointSlice', 'trk-1'], ['Service', 'trk'], ['Gateway', 'gw']]);
    }
  });

  it('a kept TLSRoute route’s endpoints follow the pods of its last accepted backends (the switchyard.io/last-accepted-backends annotation) — across a restart — follow nothing without it, and go when the upstream policy refuses them', async () => {
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
    const pods = (addresses: string[]) => serviceWithPods('tf', addresses);
    pods(['127.0.0.1']);
    const key = 'switchyard.io/last-accepted-backends';
    const host = 'follow-tls.acme.example.test';
    const get = () => kube.get<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls')!;
    const acc = (o?: TLSRoute) => (o?.status?.parents ?? []).find((p) => p.controllerName === 'switchyard.io/gateway-controller')?.conditions.find((x) => x.type === 'Accepted');
    // Edited as `kubectl apply` does: the annotations it did not set (the controller's) stay.
    const edit = async (hostnames: string[], backend: string) => {
      const { generation } = kube.apply<TLSRoute>({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'TLSRoute',
        metadata: { name: 'follow-tls', namespace: 'acme-prod', uid: '', annotations: kube.get<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls')?.metadata.annotations },
        spec: { parentRefs: [{ name: 'gw' }], hostnames, rules: [{ backendRefs: [{ name: backend, port: 5432 }] }] },
      }).metadata;
      return (await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => acc(o)?.observedGeneration === generation))!;
    };
    const row = async () => prisma.route.findFirst({ where: { ownerName: 'follow-tls' }, select: { id: true, hostname: true, version: true, database: { select: { endpoints: true } } } });
    const endpoints = async () => ((await row())?.database.endpoints ?? null) as { host: string; port: number }[] | null;
    const version = async () => (await prisma.configState.findFirstOrThrow()).version;
    const served = async () => {
      const rows = await prisma.$queryRawUnsafe<RouteSnapshotRow[]>(ROUTE_SNAPSHOT_SQL, null);
      return rows.map(routeFromRow).find((r) => r.hostname === host)?.endpoints ?? null;
    };
    const writes = () => kube.requests.filter((r) => r.method === 'PATCH' && /\/tlsroutes\/follow-tls(\/status)?$/.test(r.path)).length;
    const followsTo = (addresses: string[]) => waitUntil(async () => JSON.stringify(await endpoints()) === JSON.stringify(addresses.map((a) => ({ host: a, port: 5499 }))));
    const recorded = JSON.stringify({ [host]: [{ namespace: 'acme-prod', name: 'tf', port: 5432 }] });
    let c = await start();
    try {
      // Accepted: the route, and the backends it was written with recorded on the object.
      expect(acc(await edit([host], 'tf'))).toMatchObject({ status: 'True' });
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => o?.metadata.annotations?.[key] === recorded);
      await c.controller.idle();
      const first = (await row())!;
      expect(first.database.endpoints).toEqual([{ host: '127.0.0.1', port: 5499 }]);

      // Refused for its own spec (a hostname that is not one), and moved to pg in the same edit:
      // kept, following tf (the last accepted generation's backend), not pg.
      const refused = await edit(['follow tls.acme.example.test'], 'pg');
      expect(acc(refused)).toMatchObject({
        status: 'False',
        reason: 'UnsupportedValue',
        message: `spec.hostnames[0]: "follow tls.acme.example.test" is not a valid host name; its last accepted route keeps serving ${host} unchanged but for its endpoints, which follow Service acme-prod/tf`,
      });
      await c.controller.idle();
      expect(await row()).toEqual(first); // the pods did not move: nothing written
      expect(get().metadata.annotations?.[key]).toBe(recorded); // kept as it was
      const v1 = await version();

      // The pod is rescheduled: the kept route follows it, and the proxies get it as one change.
      pods(['127.0.0.2']);
      await followsTo(['127.0.0.2']);
      expect(await served()).toEqual([{ host: '127.0.0.2', port: 5499 }]);
      expect(await prisma.configChange.count({ where: { version: { gt: BigInt(v1) }, routeId: first.id } })).toBe(1);
      expect((await row())!).toMatchObject({ id: first.id, hostname: host });

      // A restarted controller reads the annotation back: with nothing changed it writes
      // nothing, and pods moved while none ran are followed once one does.
      c = await restartWritesNothing(c, async () => ({ row: await row(), version: await version(), writes: writes() }));
      await stop(c);
      pods(['127.0.0.3', '127.0.0.4']);
      c = await start();
      await followsTo(['127.0.0.3', '127.0.0.4']);
      expect(await served()).toEqual([{ host: '127.0.0.3', port: 5499 }, { host: '127.0.0.4', port: 5499 }]);

      // An annotation edited into something else is not the controller's: ignored (nothing to
      // follow: the route stays as it is, as before the annotation existed) and removed.
      kube.apply<TLSRoute>({ ...get(), metadata: { ...get().metadata, annotations: { [key]: 'tf:5432' } } });
      // (The annotation goes first, then the status says the route follows nothing.)
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => o?.metadata.annotations?.[key] === undefined && (acc(o)?.message ?? '').endsWith(`keeps serving ${host} unchanged`));
      const reconciled = c.controller.reconciles;
      pods(['127.0.0.5']);
      await waitUntil(async () => c.controller.reconciles > reconciled);
      await c.controller.idle();
      expect(await endpoints()).toEqual([{ host: '127.0.0.3', port: 5499 }, { host: '127.0.0.4', port: 5499 }]);

      // Accepted again (recorded again), refused again, and its pods moved out of the tenant's
      // upstream policy (127.0.0.0/8): the API refuses the endpoints, and the kept route goes.
      expect(acc(await edit([host], 'tf'))).toMatchObject({ status: 'True' });
      await followsTo(['127.0.0.5']);
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => o?.metadata.annotations?.[key] === recorded);
      await edit(['follow tls.acme.example.test'], 'tf');
      pods(['10.1.2.3']);
      const removed = await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => /was removed/.test(acc(o)?.message ?? ''));
      expect(acc(removed)?.message).toMatch(
        new RegExp(`is not a valid host name; its last accepted route for ${host.replace(/\./g, '\\.')} was removed: the endpoints of Service acme-prod/tf, which it follows, are refused: `),
      );
      expect(acc(removed)?.message).not.toMatch(/keeps serving/);
      expect(await row()).toBeNull();
      expect(await served()).toBeNull();
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'follow-tls', (o) => o?.metadata.annotations?.[key] === undefined);
    } finally {
      if (kube.get('GatewayClass', undefined, 'switchyard')) kube.delete('GatewayClass', undefined, 'switchyard');
      await cleanUp(c, [['TLSRoute', 'follow-tls'], ['EndpointSlice', 'tf-1'], ['Service', 'tf'], ['Gateway', 'gw']]);
    }
  });

  it('the crash window: a route rewritten for another Service whose status never records it (the controller stops, or the object changes, between the two writes) is kept following nothing — never the Service before — until accepted again', async () => {
    serviceWithPods('cw-a', ['127.0.0.1']);
    serviceWithPods('cw-b', ['127.0.0.2']);
    const host = 'cw.acme.example.test';
    const get = () => kube.get<ExternalAccess>('ExternalAccess', 'acme-prod', 'cw')!;
    const endpoints = async () => (await prisma.database.findFirst({ where: { ownerName: 'cw' }, select: { endpoints: true } }))?.endpoints;
    const at = (address: string) => [{ host: address, port: 5499 }];
    const apply = (service: string, hostname = host) => kube.apply(ea('acme-prod', 'cw', { service: { name: service, port: 5432 }, hostname })).metadata.generation!;
    const observed = async (generation: number) => (await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'cw', (x) => x?.status?.observedGeneration === generation && cond(x, 'Accepted') !== undefined))!;
    // `then` runs as the status patch recording `generation`'s route arrives (the route is
    // written by then), before the fake API server answers it.
    const onRecord = (generation: number, then: () => void) =>
      new Promise<void>((resolve) => {
        kube.onRequest = (r) => {
          if (r.method !== 'PATCH' || !r.path.endsWith('/externalaccesses/cw/status') || (r.body as { status?: { lastAcceptedGeneration?: number } }).status?.lastAcceptedGeneration !== generation) return;
          kube.onRequest = null;
          then();
          resolve();
        };
      });
    const keptUnchanged = new RegExp(`^spec\\.hostname: .*; the route of generation \\d+ \\(the last accepted\\) keeps serving ${host.replace(/\./g, '\\.')}:\\d+ unchanged$`);
    // Refused and kept following nothing: its endpoints stay at `address` when the pods of `other`, the Service before, move.
    const keptFollowingNothing = async (o: ExternalAccess, address: string, other: string, moved: string) => {
      expect(cond(o, 'Accepted')).toMatchObject({ status: 'False', reason: 'HostnameNotAllowed', message: expect.stringMatching(keptUnchanged) });
      expect(o.status!.lastAcceptedService).toBeUndefined();
      expect(await endpoints()).toEqual(at(address));
      const reconciled = c.controller.reconciles;
      serviceWithPods(other, [moved]);
      await waitUntil(async () => c.controller.reconciles > reconciled);
      await c.controller.idle();
      expect(await endpoints()).toEqual(at(address));
    };
    let c = await start();
    try {
      const g1 = apply('cw-a');
      expect((await observed(g1)).status).toMatchObject({ lastAcceptedGeneration: g1, lastAcceptedService: { name: 'cw-a' } });
      expect(await endpoints()).toEqual(at('127.0.0.1'));

      // The controller stops between the two writes: generation 2 (Service cw-b) is routed, and
      // no status patch lands after that (every one fails until the controller is stopped).
      const crashed = onRecord(g1 + 1, () => kube.failNextStatusPatches('ExternalAccess', 1_000_000));
      expect(apply('cw-b')).toBe(g1 + 1);
      await crashed;
      await stop(c);
      kube.failNextStatusPatches('ExternalAccess', 0);
      expect(await endpoints()).toEqual(at('127.0.0.2'));
      // What the route follows was forgotten before the route was written; the rest still says generation 1.
      expect(get().status).toMatchObject({ observedGeneration: g1, lastAcceptedGeneration: g1 });
      expect(get().status!.lastAcceptedService).toBeUndefined();

      // While no controller runs, an edit refused for its own spec. The restarted controller
      // keeps the route as generation 2 wrote it, following nothing: not cw-a, whose pods it no
      // longer serves.
      const g3 = apply('cw-b', 'cw.evil.example.net');
      c = await start();
      await keptFollowingNothing(await observed(g3), '127.0.0.2', 'cw-a', '127.0.0.3');

      // Accepted once more: recorded again.
      const g4 = apply('cw-b');
      expect((await observed(g4)).status).toMatchObject({ lastAcceptedGeneration: g4, lastAcceptedService: { name: 'cw-b' } });

      // The object changes between the two writes: generation 5 (back to cw-a) is routed, and
      // generation 6, refused, lands before its status is patched, which the API server then
      // refuses (409). The kept route follows nothing: not cw-b.
      const raced = onRecord(g4 + 1, () => apply('cw-a', 'cw.evil.example.net'));
      apply('cw-a');
      await raced;
      await keptFollowingNothing(await observed(g4 + 2), '127.0.0.3', 'cw-b', '127.0.0.4');

      // Accepted again, then refused: the kept route follows cw-a's pods again.
      const g7 = apply('cw-a');
      expect((await observed(g7)).status).toMatchObject({ lastAcceptedGeneration: g7, lastAcceptedService: { name: 'cw-a' } });
      const g8 = apply('cw-a', 'cw.evil.example.net');
      expect(cond(await observed(g8), 'Accepted')?.message).toMatch(/which follow Service acme-prod\/cw-a$/);
      serviceWithPods('cw-a', ['127.0.0.5']);
      await waitUntil(async () => JSON.stringify(await endpoints()) === JSON.stringify(at('127.0.0.5')));
    } finally {
      kube.onRequest = null;
      kube.failNextStatusPatches('ExternalAccess', 0);
      await cleanUp(c, [['ExternalAccess', 'cw'], ['EndpointSlice', 'cw-a-1'], ['Service', 'cw-a'], ['EndpointSlice', 'cw-b-1'], ['Service', 'cw-b']]);
    }
  });

  it('the crash window for a TLSRoute: a route rewritten for other backends whose annotation never records them is kept following nothing — never the backends before — until accepted again', async () => {
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
    serviceWithPods('tw-a', ['127.0.0.1']);
    serviceWithPods('tw-b', ['127.0.0.2']);
    const key = 'switchyard.io/last-accepted-backends';
    const host = 'cw-tls.acme.example.test';
    const acc = (o?: TLSRoute) => (o?.status?.parents ?? []).find((p) => p.controllerName === 'switchyard.io/gateway-controller')?.conditions.find((x) => x.type === 'Accepted');
    const recorded = (backend: string) => JSON.stringify({ [host]: [{ namespace: 'acme-prod', name: backend, port: 5432 }] });
    const apply = (hostname: string, backend: string) =>
      kube.apply<TLSRoute>({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'TLSRoute',
        metadata: { name: 'cw-tls', namespace: 'acme-prod', uid: '', annotations: kube.get<TLSRoute>('TLSRoute', 'acme-prod', 'cw-tls')?.metadata.annotations },
        spec: { parentRefs: [{ name: 'gw' }], hostnames: [hostname], rules: [{ backendRefs: [{ name: backend, port: 5432 }] }] },
      }).metadata.generation!;
    const observed = async (generation: number) => (await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'cw-tls', (o) => acc(o)?.observedGeneration === generation))!;
    const endpoints = async () => (await prisma.database.findFirst({ where: { ownerName: 'cw-tls' }, select: { endpoints: true } }))?.endpoints;
    const c = await start();
    try {
      await observed(apply(host, 'tw-a'));
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'cw-tls', (o) => o?.metadata.annotations?.[key] === recorded('tw-a'));
      // Every write to the API server is counted: the annotation's under target="annotation".
      const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_controller_status_writes_total\{kind="TLSRoute",target="annotation"\} 1\n/);
      expect(metrics).toMatch(/switchyard_controller_status_writes_total\{kind="TLSRoute",target="status"\} [1-9]/);

      // The object changes between the two writes: generation 2 (backend tw-b) is routed, and
      // generation 3, refused for its own spec, lands before the annotation recording tw-b is
      // patched, which the API server then refuses (409). The kept route follows nothing: not tw-a.
      const raced = new Promise<void>((resolve) => {
        kube.onRequest = (r) => {
          if (r.method !== 'PATCH' || !r.path.endsWith('/tlsroutes/cw-tls') || !JSON.stringify(r.body).includes('tw-b')) return;
          kube.onRequest = null;
          apply('cw tls.acme.example.test', 'tw-b');
          resolve();
        };
      });
      const g2 = apply(host, 'tw-b');
      await raced;
      const g3 = await observed(g2 + 1);
      expect(acc(g3)).toMatchObject({ status: 'False', reason: 'UnsupportedValue', message: expect.stringMatching(new RegExp(`its last accepted route keeps serving ${host.replace(/\./g, '\\.')} unchanged$`)) });
      expect(g3.metadata.annotations?.[key]).toBeUndefined();
      expect(await endpoints()).toEqual([{ host: '127.0.0.2', port: 5499 }]);
      const reconciled = c.controller.reconciles;
      serviceWithPods('tw-a', ['127.0.0.3']);
      await waitUntil(async () => c.controller.reconciles > reconciled);
      await c.controller.idle();
      expect(await endpoints()).toEqual([{ host: '127.0.0.2', port: 5499 }]);

      // Accepted once more: recorded again.
      await observed(apply(host, 'tw-b'));
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'cw-tls', (o) => o?.metadata.annotations?.[key] === recorded('tw-b'));
    } finally {
      kube.onRequest = null;
      if (kube.get('GatewayClass', undefined, 'switchyard')) kube.delete('GatewayClass', undefined, 'switchyard');
      await cleanUp(c, [['TLSRoute', 'cw-tls'], ['EndpointSlice', 'tw-a-1'], ['Service', 'tw-a'], ['EndpointSlice', 'tw-b-1'], ['Service', 'tw-b'], ['Gateway', 'gw']]);
    }
  });

  it('with a ClusterRole from before the annotation (no patch on tlsroutes) still routes TLSRoutes and writes their status; a kept route then follows nothing', async () => {
    kube.unpatchable.add('TLSRoute');
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
    const acc = (o?: TLSRoute) => (o?.status?.parents ?? []).find((p) => p.controllerName === 'switchyard.io/gateway-controller')?.conditions.find((x) => x.type === 'Accepted');
    const edit = async (hostname: string) => {
      const { generation } = kube.apply<TLSRoute>({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'TLSRoute',
        metadata: { name: 'old-role', namespace: 'acme-prod', uid: '' },
        spec: { parentRefs: [{ name: 'gw' }], hostnames: [hostname], rules: [{ backendRefs: [{ name: 'pg', port: 5432 }] }] },
      }).metadata;
      return (await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'old-role', (o) => acc(o)?.observedGeneration === generation))!;
    };
    const c = await start();
    try {
      const ok = await edit('old-role.acme.example.test');
      expect(acc(ok)).toMatchObject({ status: 'True' });
      expect(ok.metadata.annotations).toBeUndefined();
      expect(kube.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/tlsroutes/old-role'))).toBe(true); // tried, refused
      await waitUntil(async () => (await routes()).includes('acme-prod/old-role old-role.acme.example.test'));
      expect(acc(await edit('old role.acme.example.test'))?.message).toMatch(/; its last accepted route keeps serving old-role\.acme\.example\.test unchanged$/);
    } finally {
      kube.unpatchable.delete('TLSRoute');
      kube.delete('GatewayClass', undefined, 'switchyard');
      await cleanUp(c, [['TLSRoute', 'old-role'], ['Gateway', 'gw']]);
    }
  });

  it('refuses another tenant’s namespace and reports hostname conflicts as conditions', async () => {
    const c = await start();
    kube.apply(ea('acme-prod', 'steal', { service: { name: 'pg', namespace: 'beta-prod', port: 5432 } }));
    kube.apply(ea('acme-prod', 'steal-by-address', { endpoints: [{ host: 'pg.beta-prod.svc.cluster.local', port: 5432 }], engine: 'postgres' }));
    kube.apply(ea('acme-prod', 'first', { service: { name: 'pg', port: 5432 }, hostname: 'db.acme.example.test' }, '2026-12-01T00:00:00Z'));
    kube.apply(ea('acme-prod', 'second', { service: { name: 'pg', port: 5432 }, hostname: 'db.acme.example.test' }, '2026-12-02T00:00:00Z'));
    const reason = (name: string, want: string) => kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', name, (o) => cond(o, 'Accepted')?.reason === want);
    expect(cond(await reason('steal', 'UpstreamNotAllowed'), 'Ready')?.status).toBe('False');
    expect(cond(await reason('steal-by-address', 'UpstreamNotAllowed'), 'Accepted')?.message).toMatch(/refused/i);
    expect(cond(await reason('second', 'HostnameConflict'), 'Accepted')?.message).toContain('acme-prod/first');
    await reason('first', 'Accepted');
    expect(await routes()).toEqual(['acme-prod/first db.acme.example.test']);
    for (const n of ['steal', 'steal-by-address', 'first', 'second']) kube.delete('ExternalAccess', 'acme-prod', n);
    await waitUntil(async () => (await routes()).length === 0);
    await stop(c);
  });

  it('gives objects whose <namespace>-<name> collide a database and hostname each, and never renames a route it already made', async () => {
    for (const ns of ['a-b', 'a']) kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, uid: '', labels: { 'switchyard.io/tenant': 'acme' } } });
    const spec = { endpoints: [{ host: '127.0.0.1', port: 5499 }], engine: 'postgres' };
    const c = await start();
    try {
      // a/b-c comes first and gets a-b-c (as it would have from an earlier controller version).
      kube.apply(ea('a', 'b-c', spec, '2026-12-02T00:00:00Z'));
      const first = await kube.waitFor<ExternalAccess>('ExternalAccess', 'a', 'b-c', accepted);
      expect(first!.status).toMatchObject({ database: 'a-b-c', hostname: 'a-b-c.acme.db.example.test' });
      const row = async () => (await prisma.route.findFirst({ where: { hostname: 'a-b-c.acme.db.example.test' }, select: { id: true, version: true, ownerName: true } }))!;
      const before = await row();

      // a-b/c wants the same name. It is older, but a-b-c is a/b-c's working route: a-b/c gets its own.
      kube.apply(ea('a-b', 'c', spec, '2026-12-01T00:00:00Z'));
      const second = await kube.waitFor<ExternalAccess>('ExternalAccess', 'a-b', 'c', accepted);
      expect(second!.status!.database).toMatch(/^a-b-c-[0-9a-f]{8}$/);
      expect(second!.status!.hostname).toBe(`${second!.status!.database}.acme.db.example.test`);
      await c.controller.idle();
      expect(await routes()).toEqual([`a-b/c ${second!.status!.hostname}`, 'a/b-c a-b-c.acme.db.example.test']);
      expect(await row()).toEqual(before); // the same route row, never deleted or rewritten
      expect(kube.get<ExternalAccess>('ExternalAccess', 'a', 'b-c')!.status).toMatchObject({ database: 'a-b-c' });
    } finally {
      kube.delete('ExternalAccess', 'a', 'b-c');
      kube.delete('ExternalAccess', 'a-b', 'c');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('survives a stalled watch, 500s and 410 without losing or duplicating a route', async () => {
    const c = await start({ watch: { silenceMs: 500, relistMs: 60_000, watchTimeoutSeconds: 60, backoffMinMs: 20, backoffMaxMs: 200 } });
    kube.apply(ea('acme-prod', 'steady', { service: { name: 'pg', port: 5432 } }));
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'steady', accepted);
    const restarts = () => c.controller.informers.externalAccesses.restarts;

    kube.stall('ExternalAccess');
    kube.apply(ea('acme-prod', 'during-stall', { service: { name: 'pg', port: 5432 } }));
    const r0 = restarts();
    await waitUntil(async () => restarts() > r0);
    kube.unstall('ExternalAccess');
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'during-stall', accepted);

    kube.failNext('ExternalAccess', 3);
    kube.dropStreams('ExternalAccess');
    kube.apply(ea('acme-prod', 'after-500', { service: { name: 'pg', port: 5432 } }));
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'after-500', accepted);

    kube.expire();
    kube.delete('ExternalAccess', 'acme-prod', 'during-stall');
    await waitUntil(async () => (await routes()).length === 2);
    expect(await routes()).toEqual(['acme-prod/after-500 acme-prod-after-500.acme.db.example.test', 'acme-prod/steady acme-prod-steady.acme.db.example.test']);
    expect(await prisma.database.count({ where: { owner: 'kubernetes' } })).toBe(2);
    // What an operator sees: restarts by reason, event age, sync state, leadership.
    const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_controller_watch_restarts_total\{resource="externalaccesses",reason="watchdog"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_controller_watch_restarts_total\{resource="externalaccesses",reason="error"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_controller_watch_last_event_age_seconds\{resource="services"\} \d/);
    expect(metrics).toMatch(/switchyard_controller_watch_synced\{resource="externalaccesses"\} 1/);
    expect(metrics).toMatch(/switchyard_controller_leader 1/);
    expect((await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`)).status).toBe(200);
    kube.delete('ExternalAccess', 'acme-prod', 'steady');
    kube.delete('ExternalAccess', 'acme-prod', 'after-500');
    await waitUntil(async () => (await routes()).length === 0);
    await stop(c);
  });

  it('a replica the database no longer confirms as leader sends no status patch (status writes are fenced)', async () => {
    // First a real leader settles the database (discovered services), so that what follows
    // needs no database write, whose own fence would stop the replica anyway.
    const settle = await start();
    await waitUntil(async () => settle.leader.isLeader && settle.controller.reconciles > 0);
    await settle.controller.idle();
    await stop(settle);
    // The lock session is gone but this replica has not noticed yet (its next check is far
    // off): `isLeader` still says true, the database's fence says no.
    let leading = true;
    let fenceCalls = 0;
    const leader = {
      get isLeader() {
        return leading;
      },
      fence: async () => {
        fenceCalls++;
        leading = false; // as AdvisoryLeader.fence does: a refused fence ends the leadership
        throw new NotLeaderError('this controller replica lost the leader lock: write refused');
      },
    };
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    const cfg = testControllerConfig(apiConfig, kube.kubeconfigPath);
    const log = pino({ level: 'silent' });
    const services = buildDomainServices(apiConfig, prisma, log);
    const c = new Controller(new KubeClient(kc), prisma, services, leader, { ...cfg, baseDomain: apiConfig.baseDomain, databaseUrl: apiConfig.databaseUrl }, log, new ControllerMetrics());
    // An object in a namespace of no tenant: only its status would change.
    kube.apply(ea('unmapped', 'not-fenced', { service: { name: 'pg', port: 5432 } }));
    c.start();
    try {
      await waitUntil(async () => !leading || kube.get<ExternalAccess>('ExternalAccess', 'unmapped', 'not-fenced')?.status !== undefined);
      await c.idle();
      expect(kube.get<ExternalAccess>('ExternalAccess', 'unmapped', 'not-fenced')?.status).toBeUndefined();
      expect(c.status.writes).toBe(0);
      expect(fenceCalls).toBe(1);
    } finally {
      await c.stop();
      kube.delete('ExternalAccess', 'unmapped', 'not-fenced');
    }
  });

  it('removes the route of an object being deleted (deletionTimestamp set, another controller’s finalizer still on it)', async () => {
    const c = await start();
    const held = { ...ea('acme-prod', 'finalized', { service: { name: 'pg', port: 5432 } }), metadata: { name: 'finalized', namespace: 'acme-prod', uid: '', finalizers: ['example.com/backup'] } };
    kube.apply(held);
    await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'finalized', accepted);
    await waitUntil(async () => (await routes()).length === 1);
    kube.delete('ExternalAccess', 'acme-prod', 'finalized');
    expect(kube.get<ExternalAccess>('ExternalAccess', 'acme-prod', 'finalized')?.metadata.deletionTimestamp).toBeDefined();
    await waitUntil(async () => (await routes()).length === 0);
    // The other controller finishes: the object goes.
    kube.apply({ ...held, metadata: { ...held.metadata, finalizers: [] } });
    expect(kube.get('ExternalAccess', 'acme-prod', 'finalized')).toBeUndefined();
    await stop(c);
  });

  it('retries a failed status write with backoff, without waiting for another event', async () => {
    const c = await start();
    await waitUntil(async () => c.leader.isLeader && c.controller.synced);
    kube.failNextStatusPatches('ExternalAccess', 2);
    // Only its status changes (no tenant: nothing to write to the database), and nothing else
    // will change in the cluster: only a retry can write it.
    kube.apply(ea('unmapped', 'status-retried', { service: { name: 'pg', port: 5432 } }));
    const o = await kube.waitFor<ExternalAccess>('ExternalAccess', 'unmapped', 'status-retried', (x) => cond(x, 'Accepted')?.reason === 'NamespaceNotMapped', 5000);
    expect(cond(o, 'Ready')?.status).toBe('False');
    expect(kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/unmapped/externalaccesses/status-retried/status'))).toHaveLength(3);
    kube.delete('ExternalAccess', 'unmapped', 'status-retried');
    await stop(c);
  });

  it('removes its TLSRoute status entries once the route no longer attaches to a Switchyard Gateway, keeping other controllers’ entries', async () => {
    const c = await start();
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
    kube.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'TLSRoute',
      metadata: { name: 'detached', namespace: 'acme-prod', uid: '' },
      spec: { parentRefs: [{ name: 'gw' }, { name: 'theirs' }], hostnames: ['detached.acme.example.test'], rules: [{ backendRefs: [{ name: 'pg', port: 5432 }] }] },
    });
    const ours = (o?: TLSRoute) => (o?.status?.parents ?? []).filter((p) => p.controllerName === 'switchyard.io/gateway-controller');
    const attached = await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'detached', (o) => ours(o)[0]?.conditions.find((x) => x.type === 'Accepted')?.status === 'True');
    await waitUntil(async () => (await routes()).includes('acme-prod/detached detached.acme.example.test'));
    expect(attached!.metadata.annotations?.['switchyard.io/last-accepted-backends']).toBe('{"detached.acme.example.test":[{"namespace":"acme-prod","name":"pg","port":5432}]}');
    // Another Gateway controller's entry for its own parent.
    const foreign: RouteParentStatus = { parentRef: { name: 'theirs' }, controllerName: 'example.net/gateway', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', lastTransitionTime: '2026-12-01T00:00:00Z' }] };
    kube.setStatus('TLSRoute', 'acme-prod', 'detached', { parents: [...attached!.status!.parents!, foreign] });

    kube.delete('Gateway', 'acme-prod', 'gw');
    const detached = await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'detached', (o) => ours(o).length === 0, 5000);
    expect(detached!.status!.parents).toEqual([foreign]);
    expect(detached!.metadata.annotations).toBeUndefined(); // no route left: nothing recorded
    await waitUntil(async () => (await routes()).length === 0);
    kube.delete('TLSRoute', 'acme-prod', 'detached');
    kube.delete('GatewayClass', undefined, 'switchyard');
    await stop(c);
  });

  it('isolates an object whose route fails unexpectedly: it gets ApplyFailed naming the error and is retried with backoff, the others proceed', async () => {
    // A fault inside the API's domain services for one object only: its database row is
    // refused by a trigger (an error no domain rule translates). Attempts are counted by a
    // sequence, which a rollback does not undo.
    await prisma.$executeRawUnsafe(`CREATE SEQUENCE sy_test_poison_attempts`);
    await prisma.$executeRawUnsafe(
      `CREATE FUNCTION sy_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.owner_name = 'poisoned' THEN PERFORM nextval('sy_test_poison_attempts'); RAISE EXCEPTION 'injected failure for %', NEW.name; END IF; RETURN NEW; END $$`,
    );
    await prisma.$executeRawUnsafe(`CREATE TRIGGER sy_test_poison BEFORE INSERT ON databases FOR EACH ROW EXECUTE FUNCTION sy_test_poison()`);
    const c = await start();
    try {
      // Routes are applied in database-name order: one before the failing object, one after.
      for (const n of ['healthy', 'poisoned', 'zz-healthy']) kube.apply(ea('acme-prod', n, { service: { name: 'pg', port: 5432 } }));
      const failed = await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'poisoned', (o) => cond(o, 'Accepted')?.reason === 'ApplyFailed');
      expect(cond(failed, 'Accepted')?.message).toMatch(/^Applying the route failed: injected failure for acme-prod-poisoned \(SQLSTATE P0001\) \(attempt 1; retried in 1 s\)$/);
      expect(cond(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
      for (const n of ['healthy', 'zz-healthy']) await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', n, accepted);
      expect(await routes()).toEqual(['acme-prod/healthy acme-prod-healthy.acme.db.example.test', 'acme-prod/zz-healthy acme-prod-zz-healthy.acme.db.example.test']);
      expect(c.controller.lastError).toMatch(/1 object\(s\) failing: ExternalAccess acme-prod\/poisoned/);

      // Retried on its own schedule, with no event from the cluster: 1 s, then 2 s later. The
      // reconciles in between (the others' status writes are watch events) do not retry it.
      const second = await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'poisoned', (o) => /attempt 2; retried in 2 s/.test(cond(o, 'Accepted')?.message ?? ''), 10_000);
      expect(cond(second, 'Accepted')?.reason).toBe('ApplyFailed');
      const [{ attempts }] = await prisma.$queryRawUnsafe<[{ attempts: bigint }]>(`SELECT last_value AS attempts FROM sy_test_poison_attempts`);
      expect(Number(attempts)).toBe(2);

      // The fault goes: the next attempt succeeds, again without any event.
      await prisma.$executeRawUnsafe(`DROP TRIGGER sy_test_poison ON databases`);
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'poisoned', accepted, 10_000);
      expect(await routes()).toHaveLength(3);
      await waitUntil(async () => c.controller.lastError === null);
    } finally {
      await prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS sy_test_poison ON databases`);
      await prisma.$executeRawUnsafe(`DROP FUNCTION IF EXISTS sy_test_poison()`);
      await prisma.$executeRawUnsafe(`DROP SEQUENCE IF EXISTS sy_test_poison_attempts`);
      for (const n of ['healthy', 'poisoned', 'zz-healthy']) kube.delete('ExternalAccess', 'acme-prod', n);
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('treats a control-database outage as a failed reconcile retried as a whole, blaming no object', async () => {
    // The control database drops the connection while one object's route is written.
    let armed = true;
    await prisma.$executeRawUnsafe(
      `CREATE FUNCTION sy_test_outage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.owner_name = 'outage' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$`,
    );
    await prisma.$executeRawUnsafe(`CREATE TRIGGER sy_test_outage BEFORE INSERT ON databases FOR EACH ROW EXECUTE FUNCTION sy_test_outage()`);
    const c = await start();
    const disarm = async () => {
      if (!armed) return;
      armed = false;
      await prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS sy_test_outage ON databases`);
      await prisma.$executeRawUnsafe(`DROP FUNCTION IF EXISTS sy_test_outage()`);
    };
    try {
      kube.apply(ea('acme-prod', 'outage', { service: { name: 'pg', port: 5432 } }));
      await waitUntil(async () => /terminating connection due to administrator command/.test(c.controller.lastError ?? ''));
      expect(c.controller.lastError).not.toMatch(/object\(s\) failing/);
      await disarm();
      // Retried as a whole (reconcile backoff), with no event from the cluster.
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'outage', accepted, 10_000);
      // Never blamed on the object: no ApplyFailed status was ever sent for it.
      const patches = kube.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/acme-prod/externalaccesses/outage/status'));
      expect(patches.length).toBeGreaterThan(0);
      expect(JSON.stringify(patches.map((p) => p.body))).not.toContain('ApplyFailed');
    } finally {
      await disarm();
      kube.delete('ExternalAccess', 'acme-prod', 'outage');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('keeps reconciling what RBAC allows: a forbidden Gateway resource freezes the TLSRoute routes as they are, ExternalAccess goes on, and it says so', async () => {
    const gatewayApi = () => {
      kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
      kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
      kube.apply({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'TLSRoute',
        metadata: { name: 'frozen', namespace: 'acme-prod', uid: '' },
        spec: { parentRefs: [{ name: 'gw' }], hostnames: ['frozen.acme.example.test'], rules: [{ backendRefs: [{ name: 'pg', port: 5432 }] }] },
      });
    };
    const first = await start();
    gatewayApi();
    await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'frozen', (o) => (o?.status?.parents ?? []).some((p) => p.conditions.some((x) => x.type === 'Accepted' && x.status === 'True')));
    expect(await routes()).toContain('acme-prod/frozen frozen.acme.example.test');
    await stop(first);

    // A ClusterRole without gateways (an older or hand-trimmed one): 403 on every list and watch.
    kube.forbidden.set('Gateway', 'list+watch');
    const c = await start();
    try {
      kube.apply(ea('acme-prod', 'rbac-partial', { service: { name: 'pg', port: 5432 } }));
      // Everything it may read is reconciled…
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'rbac-partial', accepted);
      // …and what depends on the forbidden resource is left as it is: without the Gateways every
      // TLSRoute would look detached, and its route would be deleted.
      expect(await routes()).toEqual(['acme-prod/rbac-partial acme-prod-rbac-partial.acme.db.example.test', 'acme-prod/frozen frozen.acme.example.test']);
      const ours = kube.get<TLSRoute>('TLSRoute', 'acme-prod', 'frozen')!.status!.parents!.filter((p) => p.controllerName === 'switchyard.io/gateway-controller');
      expect(ours).toHaveLength(1); // its status entry not removed either
      // A TLSRoute deleted meanwhile keeps its route until the controller can see Gateways again.
      kube.delete('TLSRoute', 'acme-prod', 'frozen');
      c.controller.trigger();
      await c.controller.idle();
      expect(await routes()).toContain('acme-prod/frozen frozen.acme.example.test');
      // What an operator sees: the metric, and a ready pod (it does all it may).
      const metrics = await (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_controller_watch_forbidden\{resource="gateways"\} 1/);
      expect(metrics).toMatch(/switchyard_controller_watch_forbidden\{resource="services"\} 0/);
      expect(metrics).toMatch(/switchyard_controller_watch_restarts_total\{resource="gateways",reason="forbidden"\} [1-9]/);
      expect(metrics).toMatch(/switchyard_controller_frozen_kinds\{kind="TLSRoute"\} 1/);
      const ready = await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.text()).toMatch(/gateways: list forbidden by RBAC; TLSRoute routes are kept as they are/);

      // RBAC fixed: the next retry lists Gateways, and the deleted TLSRoute's route goes.
      kube.forbidden.delete('Gateway');
      await waitUntil(async () => !(await routes()).includes('acme-prod/frozen frozen.acme.example.test'));
      expect(c.controller.informers.gateways.forbidden).toBeNull();
    } finally {
      kube.forbidden.delete('Gateway');
      kube.delete('ExternalAccess', 'acme-prod', 'rbac-partial');
      kube.delete('Gateway', 'acme-prod', 'gw');
      kube.delete('GatewayClass', undefined, 'switchyard');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('does nothing at all while a resource every route depends on is forbidden, and says which', async () => {
    kube.forbidden.set('EndpointSlice', 'list+watch');
    const c = await start();
    try {
      kube.apply(ea('acme-prod', 'rbac-blind', { service: { name: 'pg', port: 5432 } }));
      await waitUntil(async () => c.leader.isLeader && c.controller.informers.endpointSlices.restarts >= 2 && c.controller.informers.services.synced);
      await c.controller.idle();
      expect(c.controller.synced).toBe(false);
      expect(await routes()).toEqual([]);
      expect(kube.get<ExternalAccess>('ExternalAccess', 'acme-prod', 'rbac-blind')?.status).toBeUndefined();
      const ready = await fetch(`http://127.0.0.1:${c.metricsPort}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(/endpointslices: list forbidden by RBAC/);
      kube.forbidden.delete('EndpointSlice');
      await kube.waitFor<ExternalAccess>('ExternalAccess', 'acme-prod', 'rbac-blind', accepted);
    } finally {
      kube.forbidden.delete('EndpointSlice');
      kube.delete('ExternalAccess', 'acme-prod', 'rbac-blind');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
    }
  });

  it('with CONTROLLER_GATEWAY_API_VERSION=v1alpha2 (TLSRoute of the experimental channel before Gateway API v1.5) still reads Gateways at v1, where they are served', async () => {
    const v1 = kube.resources.TLSRoute!.path;
    kube.resources.TLSRoute!.path = '/apis/gateway.networking.k8s.io/v1alpha2/tlsroutes';
    const c = await start({ gatewayApiVersion: 'v1alpha2' });
    try {
      kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'switchyard', uid: '' }, spec: { controllerName: 'switchyard.io/gateway-controller' } });
      kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'acme-prod', uid: '' }, spec: { gatewayClassName: 'switchyard', listeners: [{ name: 'tls', protocol: 'TLS', port: 443, tls: { mode: 'Passthrough' } }] } });
      kube.apply({
        apiVersion: 'gateway.networking.k8s.io/v1alpha2',
        kind: 'TLSRoute',
        metadata: { name: 'alpha', namespace: 'acme-prod', uid: '' },
        spec: { parentRefs: [{ name: 'gw' }], hostnames: ['alpha.acme.example.test'], rules: [{ backendRefs: [{ name: 'pg', port: 5432 }] }] },
      });
      await kube.waitFor<TLSRoute>('TLSRoute', 'acme-prod', 'alpha', (o) => (o?.status?.parents ?? []).some((p) => p.conditions.some((x) => x.type === 'Accepted' && x.status === 'True')));
      type Class = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
      await kube.waitFor<Class>('GatewayClass', undefined, 'switchyard', (o) => o?.status?.conditions?.[0]?.status === 'True');
      expect(await routes()).toEqual(['acme-prod/alpha alpha.acme.example.test']);
      expect(c.controller.informers.gateways.absent).toBe(false);
    } finally {
      kube.delete('TLSRoute', 'acme-prod', 'alpha');
      kube.delete('Gateway', 'acme-prod', 'gw');
      kube.delete('GatewayClass', undefined, 'switchyard');
      await waitUntil(async () => (await routes()).length === 0);
      await stop(c);
      kube.resources.TLSRoute!.path = v1;
    }
  });

  it('made only requests the ClusterRole of deploy/base grants', () => {
    const manifests = parseAllDocuments(readFileSync(join(import.meta.dirname, '..', '..', '..', 'deploy/base/controller.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    const rules = manifests.find((d) => d?.kind === 'ClusterRole')!.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const allowed = (verb: string, group: string, resource: string) => rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const made = new Set(kube.requests.map((r) => rbacAttributes(r.method, r.path, r.query)));
    expect(made.size).toBeGreaterThan(10);
    for (const a of made) {
      const [verb, group, resource] = a.split(' ') as [string, string, string];
      expect(allowed(verb, group === '-' ? '' : group, resource), a).toBe(true);
    }
  });
});

/** A request's RBAC verb, API group ("-" for core) and resource (with its subresource), as the API server's authorizer sees it. */
function rbacAttributes(method: string, path: string, query: Record<string, string>): string {
  const parts = path.split('/').filter(Boolean);
  const [group, rest] = parts[0] === 'api' ? ['-', parts.slice(2)] : [parts[1]!, parts.slice(3)];
  const scoped = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
  const [resource, name, sub] = scoped;
  const verb = method === 'GET' ? (name ? 'get' : query.watch === 'true' ? 'watch' : 'list') : method === 'PATCH' ? 'patch' : method === 'PUT' ? 'update' : method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : method;
  return `${verb} ${group} ${resource}${sub ? `/${sub}` : ''}`;
}

/** Polls a condition that has no event to await (database rows, another process's state). */
async function waitUntil(pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
