import { describe, expect, it } from 'vitest';
import { checkUpstream } from './upstream-policy.js';

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
