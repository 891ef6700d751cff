import { describe, expect, it } from 'vitest';
import { ARI_DEFAULT_POLL_MS, ariCertId, ariRecheck, backoffMs, checkRateLimits, MAX_BACKOFF_MS, registeredDomain, renewalTime } from './acme.policy.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('renewalTime', () => {
  it('renews when a third of the lifetime remains (day 60 of 90)', () => {
    const nb = new Date('2026-01-01T00:00:00Z');
    const na = new Date(nb.getTime() + 90 * DAY);
    expect(renewalTime(nb, na, null).toISOString()).toBe(new Date(nb.getTime() + 60 * DAY).toISOString());
  });

  it('follows the ARI window when the CA offers one, at a random instant inside it', () => {
    const nb = new Date('2026-01-01T00:00:00Z');
    const na = new Date(nb.getTime() + 90 * DAY);
    const start = new Date('2026-02-10T00:00:00Z');
    const end = new Date('2026-02-12T00:00:00Z');
    expect(renewalTime(nb, na, { start, end }, () => 0).toISOString()).toBe(start.toISOString());
    expect(renewalTime(nb, na, { start, end }, () => 0.5).toISOString()).toBe('2026-02-11T00:00:00.000Z');
  });

  it('ignores an inverted ARI window', () => {
    const nb = new Date(0);
    const na = new Date(3 * DAY);
    expect(renewalTime(nb, na, { start: new Date(2 * DAY), end: new Date(DAY) }).getTime()).toBe(2 * DAY);
  });
});

describe('backoffMs', () => {
  it('doubles from the base and stops at a day', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, HOUR))).toEqual([HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR]);
    expect(backoffMs(40, HOUR)).toBe(MAX_BACKOFF_MS);
  });

  it('waits at least what Retry-After says', () => {
    expect(backoffMs(1, 1000, 30_000)).toBe(30_000);
    expect(backoffMs(3, 60_000, 1000)).toBe(240_000);
  });
});

describe('registeredDomain', () => {
  it('takes eTLD+1, with common two-label suffixes', () => {
    expect(registeredDomain('orders.acme.db.example.com')).toBe('example.com');
    expect(registeredDomain('db.shop.co.uk')).toBe('shop.co.uk');
    expect(registeredDomain('example.com')).toBe('example.com');
    expect(registeredDomain('Orders.Example.COM.')).toBe('example.com');
  });
});

describe('checkRateLimits', () => {
  const limits = { certsPerDomainWeek: 3, duplicatesWeek: 2, failedPerHour: 2 };
  const now = new Date('2026-06-01T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const names = { hostname: 'a.example.com', domain: 'example.com' };

  it('allows an order under every limit', () => {
    expect(checkRateLimits(now, limits, { domainIssued: [ago(DAY), ago(2 * DAY)], duplicates: [ago(DAY)], failures: [ago(10 * 60_000)] }, names)).toEqual({ ok: true });
  });

  it('refuses after too many failed validations in the hour, until the oldest counted one is an hour old', () => {
    const r = checkRateLimits(now, limits, { domainIssued: [], duplicates: [], failures: [ago(50 * 60_000), ago(10 * 60_000)] }, names);
    expect(r).toMatchObject({ ok: false, limit: 'failed_validations' });
    expect(!r.ok && r.retryAt.toISOString()).toBe(new Date(now.getTime() + 10 * 60_000).toISOString());
  });

  it('does not count events outside their windows', () => {
    expect(checkRateLimits(now, limits, { domainIssued: [ago(8 * DAY), ago(9 * DAY), ago(10 * DAY)], duplicates: [ago(8 * DAY), ago(8 * DAY)], failures: [ago(2 * HOUR), ago(3 * HOUR)] }, names).ok).toBe(true);
  });

  it('refuses duplicates per week and certificates per registered domain per week', () => {
    const dup = checkRateLimits(now, limits, { domainIssued: [ago(DAY), ago(2 * DAY)], duplicates: [ago(DAY), ago(2 * DAY)], failures: [] }, names);
    expect(dup).toMatchObject({ ok: false, limit: 'duplicates' });
    expect(!dup.ok && dup.retryAt.toISOString()).toBe(new Date(now.getTime() + 5 * DAY).toISOString());
    const dom = checkRateLimits(now, limits, { domainIssued: [ago(DAY), ago(2 * DAY), ago(6 * DAY)], duplicates: [], failures: [] }, names);
    expect(dom).toMatchObject({ ok: false, limit: 'certs_per_domain' });
    expect(!dom.ok && dom.message).toContain('example.com');
    expect(!dom.ok && dom.retryAt.toISOString()).toBe(new Date(now.getTime() + DAY).toISOString());
  });

  it('lets a renewal through a full per-domain week (Let’s Encrypt’s renewal exemption), but not past duplicates or failures', () => {
    const full = { domainIssued: [ago(DAY), ago(2 * DAY), ago(6 * DAY)], duplicates: [], failures: [] };
    expect(checkRateLimits(now, limits, full, names, true)).toEqual({ ok: true });
    expect(checkRateLimits(now, limits, { ...full, duplicates: [ago(DAY), ago(2 * DAY)] }, names, true)).toMatchObject({ ok: false, limit: 'duplicates' });
    expect(checkRateLimits(now, limits, { ...full, failures: [ago(60_000), ago(120_000)] }, names, true)).toMatchObject({ ok: false, limit: 'failed_validations' });
  });
});

describe('ariCertId', () => {
  it('encodes keyId and the DER serial content (RFC 9773 §4.1 example)', () => {
    // The RFC's example: AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4, serial 00:87:65:43:21.
    const aki = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
    expect(ariCertId(aki, '0087654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(ariCertId(aki, '87654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });
});

describe('ariRecheck (RFC 9773 §4.3: polling renewalInfo for issued certificates)', () => {
  const now = new Date('2026-02-01T00:00:00Z');
  const at = (d: string) => new Date(d);
  const planned = at('2026-03-01T12:00:00Z');

  it('keeps the planned time while it is inside the window (the random spread stays)', () => {
    const r = ariRecheck(now, planned, { start: at('2026-03-01T00:00:00Z'), end: at('2026-03-03T00:00:00Z') }, null, () => 0.9);
    expect(r).toEqual({ renewAt: planned, changed: false, nextCheckAt: new Date(now.getTime() + ARI_DEFAULT_POLL_MS) });
  });

  it('moves the time into a window that moved earlier (e.g. the CA will revoke), at a random instant in it', () => {
    const r = ariRecheck(now, planned, { start: at('2026-02-10T00:00:00Z'), end: at('2026-02-12T00:00:00Z') }, null, () => 0.5);
    expect(r.changed).toBe(true);
    expect(r.renewAt.toISOString()).toBe('2026-02-11T00:00:00.000Z');
  });

  it('moves the time later when the window moved later', () => {
    const r = ariRecheck(now, planned, { start: at('2026-03-10T00:00:00Z'), end: at('2026-03-12T00:00:00Z') }, null, () => 0);
    expect(r).toMatchObject({ changed: true, renewAt: at('2026-03-10T00:00:00Z') });
  });

  it('never plans before now: a window already begun picks between now and its end; one already past means now', () => {
    const begun = ariRecheck(now, planned, { start: at('2026-01-20T00:00:00Z'), end: at('2026-02-03T00:00:00Z') }, null, () => 0.5);
    expect(begun.renewAt.toISOString()).toBe('2026-02-02T00:00:00.000Z');
    const past = ariRecheck(now, planned, { start: at('2026-01-20T00:00:00Z'), end: at('2026-01-21T00:00:00Z') }, null, () => 0.7);
    expect(past).toMatchObject({ changed: true, renewAt: now });
  });

  it('honours Retry-After for the next poll, clamped to between a minute and a day', () => {
    const w = { start: at('2026-03-01T00:00:00Z'), end: at('2026-03-03T00:00:00Z') };
    expect(ariRecheck(now, planned, w, 2 * HOUR).nextCheckAt.getTime() - now.getTime()).toBe(2 * HOUR);
    expect(ariRecheck(now, planned, w, 5_000).nextCheckAt.getTime() - now.getTime()).toBe(60_000);
    expect(ariRecheck(now, planned, w, 30 * DAY).nextCheckAt.getTime() - now.getTime()).toBe(DAY);
  });

  it('keeps the time when the fetch failed or the window is inverted, and polls again after the default', () => {
    for (const w of [null, { start: at('2026-02-12T00:00:00Z'), end: at('2026-02-10T00:00:00Z') }]) {
      expect(ariRecheck(now, planned, w, null)).toEqual({ renewAt: planned, changed: false, nextCheckAt: new Date(now.getTime() + 6 * HOUR) });
    }
  });
});
