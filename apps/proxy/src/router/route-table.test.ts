import { describe, expect, it } from 'vitest';
import { route } from '../testing/routes.js';
import { compileRoute, normalizeServerName, RouteTable, touchedRoutes } from './route-table.js';

describe('normalizeServerName', () => {
  it('lower-cases, drops a trailing dot and ignores IP literals', () => {
    expect(normalizeServerName('DB1.Acme.Example.COM.')).toBe('db1.acme.example.com');
    expect(normalizeServerName('10.0.0.1')).toBeNull();
    expect(normalizeServerName('::1')).toBeNull();
    expect(normalizeServerName('.')).toBeNull();
    expect(normalizeServerName(null)).toBeNull();
  });
});

describe('RouteTable', () => {
  it('matches exact host names per listener', () => {
    const t = RouteTable.build(3, [route()]);
    expect(t.version).toBe(3);
    expect(t.match('postgres', 'db1.acme.db.example.com')?.id).toBe(route().id);
    expect(t.match('tls', 'db1.acme.db.example.com')).toBeUndefined();
    expect(t.match('postgres', 'db2.acme.db.example.com')).toBeUndefined();
  });

  it('derives a new table for changes and leaves the old one untouched', () => {
    const a = route({ id: 'a', hostname: 'a.x.example.com' });
    const b = route({ id: 'b', hostname: 'b.x.example.com' });
    const t1 = RouteTable.build(1, [a, b]);
    const t2 = t1.withChanges(2, [{ ...a, hostname: 'a2.x.example.com', enabled: false }], ['b']);
    expect(t1.match('postgres', 'a.x.example.com')?.enabled).toBe(true);
    expect(t1.match('postgres', 'b.x.example.com')).toBeDefined();
    expect(t2.match('postgres', 'a.x.example.com')).toBeUndefined();
    expect(t2.match('postgres', 'a2.x.example.com')?.enabled).toBe(false);
    expect(t2.match('postgres', 'b.x.example.com')).toBeUndefined();
    expect(t2.size).toBe(1);
    expect(t2.version).toBe(2);
  });

  it('does not let a re-keyed route delete another route that took its old name', () => {
    const a = route({ id: 'a', hostname: 'x.example.com' });
    const t = RouteTable.build(1, [a]).withChanges(2, [{ ...a, hostname: 'y.example.com' }, route({ id: 'c', hostname: 'x.example.com' })], []);
    expect(t.match('postgres', 'x.example.com')?.id).toBe('c');
    expect(t.match('postgres', 'y.example.com')?.id).toBe('a');
  });

  it('compiles source CIDRs once', () => {
    const t = RouteTable.build(1, [route({ sourceCidrs: ['10.0.0.0/8', '2001:db8::/32'] })]);
    expect(t.get(route().id)?.allowedSources.map((c) => c.text)).toEqual(['10.0.0.0/8', '2001:db8::/32']);
  });
});

describe('RouteTable wildcards, destinations and dedicated ports', () => {
  const exact = route({ id: 'exact', hostname: 'console.apps.hub.example.com', listener: 'tls' });
  const wild = route({ id: 'wild', hostname: '*.apps.hub.example.com', listener: 'tls' });
  const deeper = route({ id: 'deeper', hostname: '*.eu.apps.hub.example.com', listener: 'tls' });

  it('prefers the exact name, then the most specific wildcard', () => {
    const t = RouteTable.build(1, [exact, wild, deeper]);
    expect(t.match('tls', 'console.apps.hub.example.com')?.id).toBe('exact');
    expect(t.match('tls', 'grafana.apps.hub.example.com')?.id).toBe('wild');
    expect(t.match('tls', 'a.b.apps.hub.example.com')?.id).toBe('wild');
    expect(t.match('tls', 'x.eu.apps.hub.example.com')?.id).toBe('deeper');
    // The wildcard covers names beneath it, never the bare domain.
    expect(t.match('tls', 'apps.hub.example.com')).toBeUndefined();
    expect(t.match('tls', 'hub.example.com')).toBeUndefined();
    expect(t.match('postgres', 'grafana.apps.hub.example.com')).toBeUndefined();
  });

  it('matches wildcards case-insensitively and without the trailing dot once normalised', () => {
    const t = RouteTable.build(1, [wild]);
    expect(t.match('tls', normalizeServerName('Grafana.APPS.hub.example.com.')!)?.id).toBe('wild');
    expect(normalizeServerName('10.1.2.3')).toBeNull();
  });

  it('removes and re-keys wildcards through deltas', () => {
    const t1 = RouteTable.build(1, [exact, wild]);
    const t2 = t1.withChanges(2, [], ['exact']);
    expect(t2.match('tls', 'console.apps.hub.example.com')?.id).toBe('wild');
    const t3 = t2.withChanges(3, [{ ...wild, hostname: '*.apps2.hub.example.com' }], []);
    expect(t3.match('tls', 'grafana.apps.hub.example.com')).toBeUndefined();
    expect(t3.match('tls', 'grafana.apps2.hub.example.com')?.id).toBe('wild');
    expect(t1.match('tls', 'console.apps.hub.example.com')?.id).toBe('exact');
  });

  it('indexes destinations per listener and dedicated ports globally', () => {
    const kube = route({ id: 'kube', hostname: 'api.shoot-a.example.com', listener: 'kube', destination: '10.1.2.3:443' });
    const ded = route({ id: 'ded', hostname: 'old.acme.db.example.com', dedicatedPort: 20001 });
    const t = RouteTable.build(1, [kube, ded]);
    expect(t.matchDestination('kube', '10.1.2.3:443')?.id).toBe('kube');
    expect(t.matchDestination('kube', '10.1.2.3:444')).toBeUndefined();
    expect(t.matchDestination('tls', '10.1.2.3:443')).toBeUndefined();
    expect(t.match('kube', 'api.shoot-a.example.com')?.id).toBe('kube');
    expect(t.matchDedicated(20001)?.id).toBe('ded');
    const t2 = t.withChanges(2, [{ ...ded, dedicatedPort: 20002 }, { ...kube, destination: '[fd00::3]:443' }], []);
    expect(t2.matchDedicated(20001)).toBeUndefined();
    expect(t2.matchDedicated(20002)?.id).toBe('ded');
    expect(t2.matchDestination('kube', '10.1.2.3:443')).toBeUndefined();
    expect(t2.matchDestination('kube', '[fd00::3]:443')?.id).toBe('kube');
    expect(t.withChanges(3, [], ['ded']).matchDedicated(20001)).toBeUndefined();
  });

  it('looks up in a handful of map reads whatever the table size', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => route({ id: `r${i}`, hostname: `h${i}.t${i % 50}.example.com`, listener: 'tls' }));
    const t = RouteTable.build(1, [...many, wild]);
    let reads = 0;
    const proto = Map.prototype as { get: (key: unknown) => unknown };
    const original = Object.getOwnPropertyDescriptor(Map.prototype, 'get')!;
    proto.get = new Proxy(original.value as (key: unknown) => unknown, { apply: (target, self, args) => (reads++, Reflect.apply(target, self, args)) });
    try {
      t.match('tls', 'h19999.t49.example.com');
      t.match('tls', 'x.y.apps.hub.example.com');
      t.match('tls', 'missing.example.com');
    } finally {
      Object.defineProperty(Map.prototype, 'get', original);
    }
    expect(reads).toBeLessThan(40);
  });
});

describe('RouteTable overlay', () => {
  it('stays correct across many deltas, folds and re-keys', () => {
    const n = 300;
    const records = Array.from({ length: n }, (_, i) => route({ id: `r${i}`, hostname: `h${i}.example.com` }));
    let t = RouteTable.build(1, records);
    const model = new Map(records.map((r) => [r.id, r]));
    for (let v = 2; v < 2000; v++) {
      const i = (v * 37) % (n + 50);
      const id = `r${i}`;
      if (v % 5 === 0 && model.has(id)) {
        t = t.withChanges(v, [], [id]);
        model.delete(id);
      } else {
        const rec = route({ id, hostname: `h${i}${v % 3 === 0 ? 'x' : ''}.example.com`, enabled: v % 2 === 0 });
        t = t.withChanges(v, [rec], []);
        model.set(id, rec);
      }
    }
    expect(t.size).toBe(model.size);
    const names = new Map([...model.values()].map((r) => [r.hostname, r.id]));
    for (const r of model.values()) {
      expect(t.get(r.id)?.hostname).toBe(r.hostname);
      expect(t.match('postgres', r.hostname)?.id).toBe(names.get(r.hostname));
    }
    expect([...t.routes()].length).toBe(model.size);
    for (let i = 0; i < n + 50; i++) {
      for (const h of [`h${i}.example.com`, `h${i}x.example.com`]) {
        expect(t.match('postgres', h)?.id).toBe(names.get(h));
      }
    }
  });
});

describe('touchedRoutes', () => {
  it('gives a first table every route as new, and a change each touched route before and after', () => {
    const a = route({ id: 'a', hostname: 'a.example.com' });
    const b = route({ id: 'b', hostname: 'b.example.com' });
    const first = RouteTable.build(1, [a, b]);
    // A first table is walked: no previous entries, every route after.
    expect(touchedRoutes(first, null, ['ignored']).map((t) => [t.id, t.before, t.after?.hostname])).toEqual([
      ['a', undefined, 'a.example.com'],
      ['b', undefined, 'b.example.com'],
    ]);
    const c = route({ id: 'c', hostname: 'c.example.com' });
    const a2 = { ...a, enabled: false };
    const next = first.withChanges(2, [a2, c], ['b']);
    const touched = touchedRoutes(next, first, ['a', 'b', 'c']);
    expect(touched.map((t) => t.id)).toEqual(['a', 'b', 'c']);
    expect(touched[0]).toEqual({ id: 'a', before: compileRoute(a), after: compileRoute(a2) });
    expect(touched[1]).toEqual({ id: 'b', before: compileRoute(b), after: undefined });
    expect(touched[2]).toEqual({ id: 'c', before: undefined, after: compileRoute(c) });
  });
});
