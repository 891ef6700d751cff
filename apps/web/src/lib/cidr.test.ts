import { describe, expect, it } from 'vitest';
import { checkAllowlist, checkCidr, formatAddressCount, hostEntry, parseIp } from './cidr';

describe('checkCidr', () => {
  it.each([
    ['203.0.113.0/24', '203.0.113.0/24', 256n],
    ['10.0.0.0/8', '10.0.0.0/8', 16_777_216n],
    ['198.51.100.7', '198.51.100.7/32', 1n],
    ['0.0.0.0/0', '0.0.0.0/0', 4_294_967_296n],
    ['2001:db8::/32', '2001:db8::/32', 1n << 96n],
    ['2001:DB8:0:0::/64', '2001:db8::/64', 1n << 64n],
    ['::1', '::1/128', 1n],
    ['::ffff:192.0.2.0/120', '::ffff:c000:200/120', 256n],
    [' 192.0.2.0/28 ', '192.0.2.0/28', 16n],
  ])('accepts %s as %s', (input, text, count) => {
    expect(checkCidr(input)).toEqual({ ok: true, family: text.includes(':') ? 6 : 4, prefix: Number(text.split('/')[1]), text, count });
  });

  it('suggests the network when host bits are set', () => {
    expect(checkCidr('10.1.2.3/16')).toEqual({ ok: false, message: 'Host bits are set; the network is 10.1.0.0/16', suggestion: '10.1.0.0/16' });
    expect(checkCidr('2001:db8::1/64')).toMatchObject({ ok: false, suggestion: '2001:db8::/64' });
  });

  it.each(['', 'example.com', '256.1.1.1', '1.2.3', '01.2.3.4', '10.0.0.0/33', '10.0.0.0/x', '2001:db8::/129', '1::2::3', ':::'])('refuses %j', (input) => {
    expect(checkCidr(input).ok).toBe(false);
  });
});

describe('addresses', () => {
  it('formats counts for people', () => {
    expect(formatAddressCount(1n)).toBe('1 address');
    expect(formatAddressCount(256n)).toBe('256 addresses');
    expect(formatAddressCount(65_536n)).toBe('65,536 addresses');
    expect(formatAddressCount(1n << 64n)).toBe('2^64 addresses');
  });

  it('turns the caller’s address into a one-address entry', () => {
    expect(hostEntry('203.0.113.7')).toBe('203.0.113.7/32');
    expect(hostEntry('::ffff:203.0.113.7')).toBe('203.0.113.7/32');
    expect(hostEntry('2001:db8::7')).toBe('2001:db8::7/128');
    expect(hostEntry('nonsense')).toBeNull();
  });

  it('parses IPv6 with an embedded IPv4 tail', () => {
    expect(parseIp('::ffff:1.2.3.4')).toEqual({ family: 6, value: (0xffffn << 32n) | 0x01020304n });
  });

  it('marks a network listed twice (even when spelled differently)', () => {
    const r = checkAllowlist(['2001:db8::/32', '2001:DB8:0::/32', '10.0.0.0/8']);
    expect(r.map((c) => c.duplicate)).toEqual([false, true, false]);
  });
});
