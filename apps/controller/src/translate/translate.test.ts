/**
 * Golden tests of the translator (as Envoy Gateway tests its own): each
 * testdata/cases/<name>.in.yaml (Kubernetes objects, plus the shared fixtures named on its
 * `# fixtures:` line) must translate to exactly testdata/cases/<name>.out.yaml (routes,
 * planned statuses, discovered services). `UPDATE_GOLDEN=1 npx vitest run <this file>`
 * rewrites the .out files; review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSlug } from '@switchyard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { emptyInput, loadObjects } from '../testing/load.js';
import type { ExternalAccess, Namespace } from './objects.js';
import {
  acceptedBackends,
  databaseName,
  fallbackDatabaseName,
  followedService,
  formatAcceptedBackends,
  keptRoutesNote,
  listenerAdmits,
  translate,
  upstreamCaProblem,
  type ExistingRoute,
  type PlannedExternalAccessStatus,
  type TranslateContext,
  type TranslateInput,
} from './translate.js';

const dir = join(import.meta.dirname, 'testdata');
const ctx: TranslateContext = { tenants: new Set(['acme', 'beta']), baseDomain: 'db.example.test', clusterDomain: 'cluster.local' };

/**
 * A case's objects and context. Documents of kind ControlDatabaseRoute are not Kubernetes
 * objects: they are what the control database holds (Kubernetes-owned routes), and become
 * the context's `routes` and `databases`.
 */
function load(file: string): { input: TranslateInput; ctx: TranslateContext } {
  const text = readFileSync(join(dir, 'cases', file), 'utf8');
  const fixtures = /^# fixtures: (.+)$/m.exec(text)?.[1]?.split(',').map((f) => f.trim()) ?? [];
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind?: string } | null).filter((d) => d !== null);
  const routes = docs.filter((d) => d.kind === 'ControlDatabaseRoute').map(({ kind: _, ...r }) => r as ExistingRoute);
  const objects = docs.filter((d) => d.kind !== 'ControlDatabaseRoute').map((d) => stringify(d)).join('---\n');
  const input = loadObjects([...fixtures.map((f) => readFileSync(join(dir, f), 'utf8')), objects]);
  if (routes.length === 0) return { input, ctx };
  return { input, ctx: { ...ctx, routes, databases: new Map(routes.map((r) => [`${r.tenant}/${r.database}`, r.ownerUid])) } };
}
const input = (file: string) => load(file).input;

describe('translate (golden files)', () => {
  const cases = readdirSync(join(dir, 'cases')).filter((f) => f.endsWith('.in.yaml'));
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(6));
  for (const file of cases) {
    it(file.replace('.in.yaml', ''), () => {
      const c = load(file);
      const out = translate(c.input, c.ctx);
      const golden = join(dir, 'cases', file.replace('.in.yaml', '.out.yaml'));
      const text = stringify(out, { lineWidth: 0 });
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, text);
      expect(out).toEqual(parse(readFileSync(golden, 'utf8')));
    });
  }

  it('is pure: the same input gives the same output, whatever the object order', () => {
    const a = input('hostname-conflict.in.yaml');
    const reversed = Object.fromEntries(Object.entries(a).map(([k, v]) => [k, [...(v as unknown[])].reverse()])) as unknown as typeof a;
    expect(translate(reversed, ctx)).toEqual(translate(a, ctx));
  });
});

describe('databaseName', () => {
  it('is <namespace>-<name> when that is a valid database name, else shortened with a stable hash', () => {
    expect(databaseName('acme-prod', 'orders')).toBe('acme-prod-orders');
    const long = databaseName('a-very-long-namespace-name', 'and-an-even-longer-object-name');
    expect(long).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(long).toBe(databaseName('a-very-long-namespace-name', 'and-an-even-longer-object-name'));
    expect(databaseName('x.y', 'z')).toMatch(/^x-y-z-[0-9a-f]{8}$/);
  });
});

describe('database names (injective within a tenant, stable for objects that have one)', () => {
  const ns = (name: string): Namespace => ({ kind: 'Namespace', metadata: { name, uid: `ns-${name}`, labels: { 'switchyard.io/tenant': 'acme' } } });
  const ea = (namespace: string, name: string, uid: string, created: string, hostname?: string): ExternalAccess => ({
    kind: 'ExternalAccess',
    metadata: { name, namespace, uid, generation: 1, creationTimestamp: created },
    spec: { endpoints: [{ host: `pg.${namespace}.svc.cluster.local`, port: 5432 }], engine: 'postgres', ...(hostname ? { hostname } : {}) },
  });
  const run = (objects: ExternalAccess[], databases?: Map<string, string>) => {
    const input = { ...emptyInput(), namespaces: [...new Set(objects.map((o) => o.metadata.namespace!))].map(ns), externalAccesses: objects };
    const out = translate(input, { ...ctx, databases });
    const status = (uid: string) => out.statuses.find((s): s is PlannedExternalAccessStatus => s.kind === 'ExternalAccess' && s.uid === uid)!;
    return { out, status, db: (uid: string) => out.routes.find((r) => r.owner.uid === uid)?.database ?? null };
  };
  // a-b/c and a/b-c: both a-b-c under the old scheme. Custom hostnames, so no hostname conflict hides it.
  const older = ea('a-b', 'c', 'uid-older', '2026-12-01T00:00:00Z', 'one.acme.example.test');
  const younger = ea('a', 'b-c', 'uid-younger', '2026-12-02T00:00:00Z', 'two.acme.example.test');

  it('gives objects whose <namespace>-<name> collide a database each: the oldest keeps the name', () => {
    const { out, db, status } = run([younger, older]);
    expect(out.routes).toHaveLength(2);
    expect(db('uid-older')).toBe('a-b-c');
    expect(db('uid-younger')).toBe(fallbackDatabaseName('ExternalAccess', 'a', 'b-c', 'a-b-c'));
    expect(db('uid-younger')).toMatch(/^a-b-c-[0-9a-f]{8}$/);
    expect(status('uid-younger')).toMatchObject({ database: db('uid-younger'), conditions: [{ type: 'Accepted', status: 'True' }] });
    // With default hostnames each gets its own hostname too (no HostnameConflict any more).
    const d = run([ea('a', 'b-c', 'uid-younger', '2026-12-02T00:00:00Z'), ea('a-b', 'c', 'uid-older', '2026-12-01T00:00:00Z')]);
    expect(d.out.routes.map((r) => r.hostname).sort()).toEqual([`${d.db('uid-younger')}.acme.db.example.test`, 'a-b-c.acme.db.example.test']);
  });

  it('keeps the name an object already has in the control database, whatever its age (no route is renamed)', () => {
    // The younger object got a-b-c from an earlier controller version (the older one was not
    // accepted then): it keeps it, and the older one gets its own name.
    const held = run([younger, older], new Map([['acme/a-b-c', 'uid-younger']]));
    expect(held.db('uid-younger')).toBe('a-b-c');
    expect(held.db('uid-older')).toBe(fallbackDatabaseName('ExternalAccess', 'a-b', 'c', 'a-b-c'));
    // Once the holder of a-b-c is gone, the object on its fallback stays there.
    const alone = run([older], new Map([[`acme/${held.db('uid-older')}`, 'uid-older']]));
    expect(alone.db('uid-older')).toBe(held.db('uid-older'));
    // A name held by an object that no longer wants it (deleted, recreated with a new uid) is free.
    expect(run([older], new Map([['acme/a-b-c', 'uid-gone']])).db('uid-older')).toBe('a-b-c');
  });

  it('refuses with DatabaseNameConflict when a fallback still meets another object’s name (the older keeps it)', () => {
    const fallback = fallbackDatabaseName('ExternalAccess', 'a', 'b-c', 'a-b-c'); // a-b-c-<hash>
    const [nsPart, namePart] = [fallback.slice(0, 5), fallback.slice(6)]; // namespace a-b-c, name <hash>
    const third = ea(nsPart, namePart, 'uid-third', '2026-12-03T00:00:00Z', 'three.acme.example.test');
    const { out, db, status } = run([older, younger, third]);
    expect(out.routes).toHaveLength(2);
    expect(db('uid-younger')).toBe(fallback);
    expect(db('uid-third')).toBeNull();
    expect(status('uid-third').conditions[0]).toMatchObject({ status: 'False', reason: 'DatabaseNameConflict', message: `Database name ${fallback} is already used by ExternalAccess a/b-c (older claims win)` });
  });

  it('settles a hostname claimed by two objects of the same age by uid, not by name', () => {
    const t = '2026-12-01T00:00:00Z';
    const { out, status } = run([ea('a', 'a', 'uid-2', t, 'same.acme.example.test'), ea('z', 'z', 'uid-1', t, 'same.acme.example.test')]);
    expect(out.routes.map((r) => r.owner.uid)).toEqual(['uid-1']);
    expect(status('uid-2').conditions[0]).toMatchObject({ reason: 'HostnameConflict', message: 'Hostname same.acme.example.test is already claimed by ExternalAccess z/z (older claims win)' });
  });

  it('never gives two objects of a tenant one database name, and every name is a valid database name (property)', () => {
    // A tiny alphabet makes <namespace>-<name> collisions frequent; names may have dots and be long.
    const label = fc.stringMatching(/^[ab](?:[ab-]{0,4}[ab])?$/);
    const longLabel = fc.oneof(label, fc.stringMatching(/^[ab][ab-]{30,40}[ab]$/));
    const objects = fc.uniqueArray(fc.record({ namespace: longLabel, name: fc.oneof(longLabel, fc.tuple(label, label).map(([x, y]) => `${x}.${y}`)), created: fc.integer({ min: 1, max: 3 }) }), {
      selector: (o) => `${o.namespace}/${o.name}`,
      minLength: 2,
      maxLength: 12,
    });
    fc.assert(
      fc.property(objects, fc.boolean(), (list, custom) => {
        const eas = list.map((o, i) => ea(o.namespace, o.name, `uid-${i}`, `2026-12-0${o.created}T00:00:00Z`, custom ? `h${i}.acme.example.test` : undefined));
        const { out } = run(eas);
        const names = out.routes.map((r) => r.database);
        expect(out.routes).toHaveLength(eas.length); // everyone routed: no collision left to refuse
        expect(new Set(names).size).toBe(names.length);
        for (const n of names) expect(isSlug(n), n).toBe(true);
        // Whoever has no rival keeps <namespace>-<name>.
        for (const r of out.routes) {
          const preferred = databaseName(r.owner.namespace, r.owner.name);
          if (out.routes.filter((x) => databaseName(x.owner.namespace, x.owner.name) === preferred).length === 1) expect(r.database).toBe(preferred);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('listenerAdmits (a Gateway listener hostname narrows a route’s hostnames)', () => {
  it.each([
    [undefined, 'a.example.com', true],
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', '*.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.example.org', false],
    ['a.example.com', '*.example.com', false],
  ])('listener %s, route %s → %s', (listener, route, admitted) => {
    expect(listenerAdmits(listener, route)).toBe(admitted);
  });
});

describe('the upstream TLS leg (spec.upstreamCa, spec.upstreamServerName)', () => {
  const cnpg = () => loadObjects([readFileSync(join(dir, 'cnpg-cluster.yaml'), 'utf8')]);
  const ca = readFileSync(join(dir, 'cases', 'externalaccess-upstream-name.in.yaml'), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0].replace(/^ +/gm, '');
  const run = (spec: Partial<ExternalAccess['spec']>, over: Partial<TranslateContext> = {}) => {
    const input = cnpg();
    input.externalAccesses = [
      { kind: 'ExternalAccess', metadata: { name: 'x', namespace: 'acme-prod', uid: 'uid-x', generation: 4 }, spec: { service: { name: 'orders-rw', port: 5432 }, tlsMode: 'terminate', ...spec } },
    ];
    const out = translate(input, { ...ctx, ...over });
    return { route: out.routes[0] ?? null, status: out.statuses.find((s): s is PlannedExternalAccessStatus => s.kind === 'ExternalAccess')! };
  };

  it.each([
    ['an IPv4 address', '10.244.1.17'],
    ['an IPv6 address', 'fd00::17'],
    ['a port', 'orders-rw.acme-prod.svc:5432'],
    ['a wildcard', '*.acme-prod.svc'],
    ['a space', 'orders rw'],
    ['an empty label', 'orders-rw..svc'],
    ['a label of 64 characters', `${'a'.repeat(64)}.svc`],
    ['nothing', ' '],
  ])('refuses %s as spec.upstreamServerName, naming the field (the API would refuse it too)', (_, name) => {
    const { route, status } = run({ upstreamServerName: name });
    expect(route).toBeNull();
    expect(status.conditions[0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'Invalid', observedGeneration: 4 });
    expect(status.conditions[0]!.message).toMatch(/^spec\.upstreamServerName: ".*" is not a DNS name/);
  });

  it('takes a Service’s short name and a name with a trailing dot, as the API stores them', () => {
    expect(run({ upstreamServerName: 'Orders-RW', upstreamCa: ca }).route).toMatchObject({ upstreamServerName: 'orders-rw', upstreamCa: ca });
    expect(run({ upstreamServerName: 'orders-rw.acme-prod.svc.cluster.local.' }).route!.upstreamServerName).toBe('orders-rw.acme-prod.svc.cluster.local');
  });

  it('names the Service in the cluster domain the controller is configured with, even while no pod is ready', () => {
    expect(run({}, { clusterDomain: 'k8s.example.internal' }).route!.upstreamServerName).toBe('orders-rw.acme-prod.svc.k8s.example.internal');
    const input = cnpg();
    input.endpointSlices = [];
    input.externalAccesses = [{ kind: 'ExternalAccess', metadata: { name: 'x', namespace: 'acme-prod', uid: 'uid-x' }, spec: { service: { name: 'orders-rw', port: 5432 }, tlsMode: 'terminate' } }];
    // The route points at the Service itself until a pod is ready: the name does not change with it.
    expect(translate(input, ctx).routes[0]).toMatchObject({ endpoints: [{ host: 'orders-rw.acme-prod.svc.cluster.local' }], upstreamServerName: 'orders-rw.acme-prod.svc.cluster.local' });
  });

  it('upstreamCaProblem: PEM certificates pass; anything else says why without quoting the value', () => {
    expect(upstreamCaProblem(ca)).toBeNull();
    expect(upstreamCaProblem(`# the cluster's CA\n${ca}\n${ca}`)).toBeNull(); // a bundle, with text between
    expect(upstreamCaProblem('')).toMatch(/^is not PEM/);
    expect(upstreamCaProblem(ca.replace('MII', 'XXX'))).toBe('certificate 1 of 1 is not a valid X.509 certificate');
    expect(upstreamCaProblem(`${ca}\n${ca.replace('MII', 'XXX')}`)).toBe('certificate 2 of 2 is not a valid X.509 certificate');
    const key = '-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END EC PRIVATE KEY-----\n';
    expect(upstreamCaProblem(`${ca}\n${key}`)).toMatch(/^holds a private key/);
    expect(upstreamCaProblem(`${ca}\n${key}`)).not.toContain('c2VjcmV0');
    expect(upstreamCaProblem(ca + ' '.repeat(65536))).toBe('is longer than 65536 characters');
    // Checked once per value, then remembered: the same answer every time.
    expect(upstreamCaProblem(ca.replace('MII', 'XXX'))).toBe(upstreamCaProblem(ca.replace('MII', 'XXX')));
  });
});

describe('a kept route follows the pods of its last accepted Service (status.lastAcceptedService)', () => {
  const uid = 'uid-kept';
  const existing: ExistingRoute = { ownerUid: uid, tenant: 'acme', database: 'acme-prod-kept', hostname: 'kept.acme.example.test', endpoints: [{ host: '10.244.1.99', port: 5432 }] };
  const run = (status: ExternalAccess['status'], podIps: string[]) => {
    const input = loadObjects([readFileSync(join(dir, 'cnpg-cluster.yaml'), 'utf8')]);
    // orders-rw's pod rescheduled: its EndpointSlice lists the new addresses.
    const slice = input.endpointSlices.find((s) => s.metadata.name === 'orders-rw-7xk2p')!;
    input.endpointSlices = [...input.endpointSlices.filter((s) => s !== slice), { ...slice, endpoints: podIps.map((a) => ({ addresses: [a], conditions: { ready: true } })) }];
    // Refused for its own spec (an unknown engine), and pointed at orders-ro in the same edit.
    input.externalAccesses = [{ kind: 'ExternalAccess', metadata: { name: 'kept', namespace: 'acme-prod', uid, generation: 5 }, spec: { service: { name: 'orders-ro', port: 5432 }, engine: 'postgress' }, status }];
    const out = translate(input, { ...ctx, routes: [existing], databases: new Map([['acme/acme-prod-kept', uid]]) });
    return { out, status: out.statuses.find((s): s is PlannedExternalAccessStatus => s.kind === 'ExternalAccess')! };
  };
  const service = { namespace: 'acme-prod', name: 'orders-rw', port: 5432, upstream: 'endpoints' as const };

  it('resolves that Service as it is now — never the refused spec’s — and changes nothing else', () => {
    const { out, status } = run({ lastAcceptedGeneration: 4, lastAcceptedService: service }, ['10.244.1.30', '10.244.1.31']);
    expect(out.routes).toEqual([]);
    expect(out.kept).toEqual([
      expect.objectContaining({ database: 'acme-prod-kept', hostname: 'kept.acme.example.test', follow: { service: 'acme-prod/orders-rw', endpoints: [{ host: '10.244.1.30', port: 5432 }, { host: '10.244.1.31', port: 5432 }], ready: 2 } }),
    ]);
    expect(status).toMatchObject({ kept: true, readyEndpoints: 2, conditions: [{ reason: 'EngineUnknown' }, { reason: 'EngineUnknown' }] });
    // The same object, the same world, the same control database: the same decision (a restarted controller's).
    expect(run({ lastAcceptedGeneration: 4, lastAcceptedService: service }, ['10.244.1.30', '10.244.1.31']).out).toEqual(out);
  });

  it('follows nothing without it (the route stays as it is), and removes the route once that Service is gone', () => {
    expect(run({ lastAcceptedGeneration: 4 }, ['10.244.1.30']).out.kept).toEqual([expect.objectContaining({ follow: null })]);
    const gone = run({ lastAcceptedGeneration: 4, lastAcceptedService: { ...service, name: 'orders-old' } }, ['10.244.1.30']);
    expect(gone.out.kept).toEqual([]);
    expect(gone.status.conditions[0]!.message).toBe('Unknown engine postgress; its last accepted route was removed: the Service it follows: Service acme-prod/orders-old not found');
  });

  it('reads status.lastAcceptedService only in its own shape', () => {
    expect(followedService(service)).toEqual(service);
    expect(followedService({ ...service, port: 'postgres', upstream: 'service' })).toEqual({ ...service, port: 'postgres', upstream: 'service' });
    for (const bad of [undefined, null, 'orders-rw', { ...service, name: 'Orders_RW' }, { ...service, port: 0 }, { ...service, port: '' }, { ...service, upstream: 'pods' }, { ...service, namespace: undefined }]) {
      expect(followedService(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});

describe('the switchyard.io/last-accepted-backends annotation (what a kept TLSRoute route follows)', () => {
  const foo = { namespace: 'acme-web', name: 'foo-svc', port: 443 };
  const bar = { namespace: 'acme-db', name: 'bar', port: 6379 };

  it('reads back what the controller writes, one text per content', () => {
    const text = formatAcceptedBackends({ 'b.example.com': [foo, bar], 'a.example.com': [foo] })!;
    expect(text).toBe(formatAcceptedBackends({ 'a.example.com': [foo], 'b.example.com': [foo, bar] }));
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['a.example.com', 'b.example.com']);
    expect(acceptedBackends(text)).toEqual(new Map([['a.example.com', [foo]], ['b.example.com', [foo, bar]]]));
    expect(formatAcceptedBackends({})).toBeNull(); // no route: no annotation
  });

  it('ignores what is not of its shape — the whole annotation, or the one entry — and never throws', () => {
    for (const bad of [undefined, null, 42, '', 'foo-svc:443', '[]', 'null', '"x"', '{"a.example.com":', JSON.stringify([{ 'a.example.com': [foo] }])]) {
      expect(acceptedBackends(bad), String(bad)).toEqual(new Map());
    }
    const entries = {
      'ok.example.com': [foo],
      'empty.example.com': [],
      'string.example.com': 'acme-web/foo-svc',
      'port-string.example.com': [{ ...foo, port: '443' }],
      'port-zero.example.com': [{ ...foo, port: 0 }],
      'port-big.example.com': [{ ...foo, port: 70000 }],
      'name.example.com': [{ ...foo, name: 'Foo_Svc' }],
      'no-namespace.example.com': [{ name: 'foo-svc', port: 443 }],
      'one-bad.example.com': [foo, { ...bar, port: 1.5 }],
      'not a host': [foo],
    };
    expect(acceptedBackends(JSON.stringify(entries))).toEqual(new Map([['ok.example.com', [foo]]]));
    // A hostname as the user may have typed it is the route's (lower case, no trailing dot).
    expect(acceptedBackends(JSON.stringify({ 'OK.Example.com.': [foo] }))).toEqual(new Map([['ok.example.com', [foo]]]));
    // Extra fields are dropped, not carried into what the controller writes back.
    expect(acceptedBackends(JSON.stringify({ 'ok.example.com': [{ ...foo, weight: 5 }] }))).toEqual(new Map([['ok.example.com', [foo]]]));
  });

  it('keptRoutesNote says per group of kept routes what their endpoints follow, then what was removed', () => {
    expect(
      keptRoutesNote({
        kept: [
          { database: 'd2', hostname: 'b.example.com', follows: 'acme-web/foo-svc' },
          { database: 'd1', hostname: 'a.example.com', follows: 'acme-web/foo-svc' },
          { database: 'd3', hostname: 'c.example.com', follows: null },
          { database: 'd4', hostname: 'd.example.com', follows: null, note: 'its endpoints could not follow Service acme-web/x: refused' },
        ],
        removed: [{ hostname: 'e.example.com', why: 'the Service it follows: Service acme-web/gone not found' }],
      }),
    ).toBe(
      '; its last accepted routes keep serving a.example.com, b.example.com unchanged but for their endpoints, which follow Service acme-web/foo-svc' +
        '; its last accepted route keeps serving c.example.com unchanged' +
        '; its last accepted route keeps serving d.example.com unchanged (its endpoints could not follow Service acme-web/x: refused)' +
        '; its last accepted route for e.example.com was removed: the Service it follows: Service acme-web/gone not found',
    );
    expect(keptRoutesNote({ kept: [], removed: [] })).toBe('');
  });
});
