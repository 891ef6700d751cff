import { describe, expect, it } from 'vitest';
import { certificateChoices, certificateCovers, sanCovers, type PickableCertificate } from './covers';

describe('sanCovers (RFC 6125, as the API checks it)', () => {
  it.each([
    ['orders.acme.db.example.com', 'orders.acme.db.example.com', true],
    ['ORDERS.acme.db.example.com', 'orders.ACME.db.example.com.', true],
    ['orders.acme.db.example.com.', 'orders.acme.db.example.com', true],
    ['orders.acme.db.example.com', 'billing.acme.db.example.com', false],
    // One label, the whole left-most one.
    ['*.acme.db.example.com', 'orders.acme.db.example.com', true],
    ['*.acme.db.example.com', 'Orders-2.ACME.db.example.com', true],
    ['*.acme.db.example.com', 'a.b.acme.db.example.com', false],
    ['*.acme.db.example.com', 'acme.db.example.com', false],
    ['*.acme.db.example.com', '.acme.db.example.com', false],
    ['*.acme.db.example.com', 'or_ders.acme.db.example.com', false],
    ['*.acme.db.example.com', 'orders.acme.db.example.org', false],
    // No partial or inner wildcards, none right under a top-level domain.
    ['db*.example.com', 'db1.example.com', false],
    ['orders.*.example.com', 'orders.acme.example.com', false],
    ['*.com', 'example.com', false],
    ['*', 'localhost', false],
    // A wildcard route is served by the same wildcard, not by one of its names.
    ['*.hub.example.com', '*.hub.example.com', true],
    ['a.hub.example.com', '*.hub.example.com', false],
    // IP address SANs never cover a DNS name.
    ['10.0.0.1', 'orders.acme.db.example.com', false],
    ['', 'orders.acme.db.example.com', false],
  ])('%s covers %s: %s', (san, host, covers) => {
    expect(sanCovers(san, host)).toBe(covers);
  });

  it('a certificate covers a name when any of its names does', () => {
    expect(certificateCovers(['orders.acme.db.example.com', '*.hub.example.com'], 'x.hub.example.com')).toBe(true);
    expect(certificateCovers(['orders.acme.db.example.com'], 'x.hub.example.com')).toBe(false);
    expect(certificateCovers([], 'x.hub.example.com')).toBe(false);
  });
});

describe('certificateChoices', () => {
  const now = Date.parse('2026-12-06T00:00:00Z');
  const cert = (name: string, hostnames: string[], notAfter: string): PickableCertificate => ({ id: `id-${name}`, name, hostnames, notAfter, auto: false });
  const certs = [
    cert('old', ['orders.acme.db.example.com'], '2026-11-01T00:00:00Z'),
    cert('billing', ['billing.acme.db.example.com'], '2027-06-01T00:00:00Z'),
    cert('soon', ['*.acme.db.example.com'], '2026-12-20T00:00:00Z'),
    cert('orders', ['orders.acme.db.example.com'], '2027-06-01T00:00:00Z'),
    cert('gone-elsewhere', ['x.example.org'], '2026-01-01T00:00:00Z'),
  ];

  it('offers covering, valid certificates first; the others are disabled and say why', () => {
    const choices = certificateChoices(certs, 'Orders.acme.db.example.com', now);
    expect(choices.map((c) => [c.value, c.disabled, c.reason])).toEqual([
      ['id-soon', false, null],
      ['id-orders', false, null],
      ['id-old', true, 'expired on 2026-11-01'],
      ['id-billing', true, 'does not cover orders.acme.db.example.com'],
      ['id-gone-elsewhere', true, 'does not cover orders.acme.db.example.com; expired on 2026-01-01'],
    ]);
    expect(choices[3]!.label).toBe('billing (billing.acme.db.example.com) — does not cover orders.acme.db.example.com');
  });

  it('flags expired and expiring-soon ones in the label; expiring soon stays selectable', () => {
    const choices = certificateChoices(certs, 'orders.acme.db.example.com', now);
    const soon = choices.find((c) => c.value === 'id-soon')!;
    expect(soon).toMatchObject({ disabled: false, expiringSoon: true, expired: false, label: 'soon (*.acme.db.example.com) — expires on 2026-12-20' });
    expect(choices.find((c) => c.value === 'id-old')).toMatchObject({ expired: true, label: 'old (orders.acme.db.example.com) — expired on 2026-11-01' });
    expect(choices.find((c) => c.value === 'id-orders')).toMatchObject({ expiringSoon: false, label: 'orders (orders.acme.db.example.com)' });
  });

  it('nothing covers an unrelated host name', () => {
    expect(certificateChoices(certs, 'a.b.acme.db.example.com', now).every((c) => c.disabled)).toBe(true);
  });
});
