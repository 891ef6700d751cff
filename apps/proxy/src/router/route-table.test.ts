import { describe, expect, it } from 'vitest';
import { route } from '../testing/routes.js';
import { normalizeServerName, RouteTable } from './route-table.js';

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
