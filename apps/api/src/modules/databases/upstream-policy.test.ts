import { formatIp, parseCidr, parseIp } from '@switchyard/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkUpstream, namespaceKeys, networksOf } from './upstream-policy.js';

const policy = { hostSuffixes: ['acme.svc.cluster.local', '*.db.acme.internal'], cidrs: ['10.42.0.0/16', 'fd00:42::/32'] };
const control = { host: 'switchyard-db.platform.svc.cluster.local', port: 5432 };

describe('checkUpstream', () => {
  it.each([
    ['pg.acme.svc.cluster.local', 5432],
    ['PG.Acme.SVC.cluster.local.', 5432],
    ['x.db.acme.internal', 6379],
    ['10.42.3.4', 5432],
    ['fd00:42::9', 5432],
  ])('allows %s', (host, port) => {
    expect(checkUpstream(host, port, policy, control)).toMatchObject({ ok: true });
  });

  it.each([
    ['pg.other.svc.cluster.local', 'not under'],
    ['acme.svc.cluster.local', 'not under'],
    ['evilacme.svc.cluster.local', 'not under'],
    ['10.43.0.1', 'outside'],
    ['169.254.169.254', 'range no route may reach'],
    ['fe80::1', 'range no route may reach'],
    ['0.0.0.0', 'range no route may reach'],
    ['localhost', 'fully qualified'],
    ['postgres', 'fully qualified'],
    ['switchyard-db.platform.svc.cluster.local', 'control database'],
  ])('refuses %s', (host, reason) => {
    const v = checkUpstream(host, 5432, policy, control);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toContain(reason);
  });

  it('refuses the control database even when its network is allowed', () => {
    const v = checkUpstream('10.42.0.5', 5432, policy, { host: '10.42.0.5', port: 5432 });
    expect(v).toMatchObject({ ok: false });
    expect(checkUpstream('10.42.0.5', 5433, policy, { host: '10.42.0.5', port: 5432 })).toMatchObject({ ok: true });
  });

  it('refuses IPs for tenants without CIDRs', () => {
    const v = checkUpstream('10.42.0.5', 5432, { hostSuffixes: ['a.b'], cidrs: [] }, control);
    expect(v.ok).toBe(false);
  });
});

describe('checkUpstream platform rules', () => {
  const broad = { hostSuffixes: ['svc.cluster.local'], cidrs: ['10.0.0.0/8', '127.0.0.0/8'] };
  const others = [{ slug: 'beta', hostSuffixes: ['beta.svc.cluster.local'], cidrs: ['10.9.0.0/16'] }];

  it('refuses loopback unless the platform allows it', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1']) {
      const v = checkUpstream(host, 5432, { hostSuffixes: [], cidrs: ['127.0.0.0/8', '::1/128'] }, control);
      expect(v.ok, host).toBe(false);
      if (!v.ok) expect(v.reason).toContain('loopback');
    }
    expect(checkUpstream('127.0.0.1', 5432, broad, control, { allowLoopback: true })).toMatchObject({ ok: true });
  });

  it('refuses metadata addresses in every notation', () => {
    for (const host of ['169.254.169.254', 'fd00:ec2::254', '[fd00:ec2::254]', '::ffff:169.254.169.254']) {
      expect(checkUpstream(host, 80, { hostSuffixes: [], cidrs: ['0.0.0.0/0', '::/0'] }, control), host).toMatchObject({ ok: false });
    }
  });

  it('keeps a broad grant out of other tenants’ more specific namespaces', () => {
    const v = checkUpstream('pg.beta.svc.cluster.local', 5432, broad, control, { otherTenants: others });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toContain('another tenant');
    const ip = checkUpstream('10.9.0.4', 5432, broad, control, { otherTenants: others });
    expect(ip.ok).toBe(false);
    if (!ip.ok) expect(ip.reason).toContain('beta');
    expect(checkUpstream('pg.acme.svc.cluster.local', 5432, broad, control, { otherTenants: others })).toMatchObject({ ok: true });
    expect(checkUpstream('10.8.0.4', 5432, broad, control, { otherTenants: others })).toMatchObject({ ok: true });
    // A namespace both tenants were granted explicitly is shared, not stolen.
    expect(checkUpstream('pg.beta.svc.cluster.local', 5432, { hostSuffixes: ['beta.svc.cluster.local'], cidrs: [] }, control, { otherTenants: others })).toMatchObject({ ok: true });
  });
});

describe('namespaceKeys', () => {
  it('lists the label suffixes longer than the tenant’s own most specific grant', () => {
    expect(namespaceKeys('pg-0.pg.acme.svc.cluster.local', { hostSuffixes: ['svc.cluster.local'], cidrs: [] })).toEqual({
      hostSuffixes: ['pg.acme.svc.cluster.local', 'acme.svc.cluster.local'],
      cidrs: [],
    });
    expect(namespaceKeys('PG.Acme.svc.cluster.local.', { hostSuffixes: ['*.svc.cluster.local', 'acme.svc.cluster.local'], cidrs: [] }).hostSuffixes).toEqual([]);
    // Not covered by the tenant's own policy: refused before other tenants count.
    expect(namespaceKeys('pg.other.example.org', { hostSuffixes: ['svc.cluster.local'], cidrs: ['10.0.0.0/8'] })).toEqual({ hostSuffixes: [], cidrs: [] });
    expect(namespaceKeys('not a host', { hostSuffixes: ['svc.cluster.local'], cidrs: [] })).toEqual({ hostSuffixes: [], cidrs: [] });
  });

  it('lists the address’s networks at every prefix longer than the tenant’s own', () => {
    const keys = namespaceKeys('10.9.3.4', { hostSuffixes: [], cidrs: ['10.0.0.0/8', '10.9.0.0/16'] }).cidrs;
    expect(keys).toHaveLength(16);
    expect(keys.slice(0, 3)).toEqual(['10.9.0.0/17', '10.9.0.0/18', '10.9.0.0/19']);
    expect(keys.slice(-2)).toEqual(['10.9.3.4/31', '10.9.3.4/32']);
    // IPv4-mapped IPv6 is the IPv4 address it carries.
    expect(namespaceKeys('::ffff:10.9.3.4', { hostSuffixes: [], cidrs: ['10.9.3.0/24'] }).cidrs).toEqual(networksOf(parseIp('10.9.3.4')!, 25, 32));
    const v6 = namespaceKeys('[FD00:42::9]', { hostSuffixes: [], cidrs: ['fd00:42::/32'] }).cidrs;
    expect(v6).toHaveLength(96);
    expect(v6[0]).toBe('fd00:42::/33');
    expect(v6.at(-1)).toBe('fd00:42::9/128');
    expect(namespaceKeys('10.9.3.4', { hostSuffixes: ['svc.cluster.local'], cidrs: ['192.168.0.0/16'] }).cidrs).toEqual([]);
  });

  it('writes each network as parseCidr does, so stored policies match by string', () => {
    for (const [ip, p] of [['10.9.3.4', 0], ['10.9.3.4', 13], ['fd00:42::9', 64], ['2001:db8:0:1:0:0:0:1', 127], ['::1', 128]] as const) {
      expect(networksOf(parseIp(ip)!, p, p)).toEqual([networkText(ip, p)]);
    }
  });

  // Every tenant that checkUpstream could name is found by its keys: checked over random hosts,
  // policies and neighbours against the whole list, as the API did before it looked up keys.
  it('lets checkUpstream decide the same with only the tenants holding a key', () => {
    // Two labels only, so that names nest often (`a.b` under `b`, `b.a.b` under `a.b`, …).
    const label = fc.constantFrom('a', 'b');
    const name = fc.array(label, { minLength: 2, maxLength: 4 }).map((l) => l.join('.'));
    const v4 = fc.tuple(fc.constantFrom(10, 192), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })).map((o) => o.join('.'));
    const v6 = fc.tuple(fc.constantFrom('fd00', '2001'), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).map(([a, b, c]) => `${a}:${b}::${c}`);
    const cidr = fc.oneof(
      fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([ip, p]) => networkText(ip, p)),
      fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([ip, p]) => networkText(ip, p)),
    );
    const policyArb = fc.record({ hostSuffixes: fc.array(name, { maxLength: 3 }), cidrs: fc.array(cidr, { maxLength: 3 }) });
    const others = fc.array(fc.record({ slug: fc.constantFrom('b', 'c', 'd'), hostSuffixes: fc.array(name, { maxLength: 3 }), cidrs: fc.array(cidr, { maxLength: 3 }) }), { maxLength: 6 });
    const host = fc.oneof(name, fc.tuple(fc.constantFrom('pg', 'x-1', 'a'), name).map(([l, n]) => `${l}.${n}`), v4, v6, v4.map((ip) => `::ffff:${ip}`));
    fc.assert(
      fc.property(host, policyArb, others, (h, p, all) => {
        const keys = namespaceKeys(h, p);
        const holding = all.filter((o) => o.hostSuffixes.some((s) => keys.hostSuffixes.includes(s)) || o.cidrs.some((c) => keys.cidrs.includes(c)));
        const platform = { allowLoopback: true };
        expect(checkUpstream(h, 5432, p, control, { ...platform, otherTenants: holding })).toEqual(checkUpstream(h, 5432, p, control, { ...platform, otherTenants: all }));
      }),
      { numRuns: 3000 },
    );
  });
});

/** `ip`'s network at `prefix`, as parseCidr writes it. */
function networkText(ip: string, prefix: number): string {
  const a = parseIp(ip)!;
  const bits = a.family === 4 ? 32 : 128;
  const host = (1n << BigInt(bits - prefix)) - 1n;
  return parseCidr(`${formatIp({ family: a.family, value: a.value & ~host })}/${prefix}`)!.text;
}
