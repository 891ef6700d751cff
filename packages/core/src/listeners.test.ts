import { describe, expect, it } from 'vitest';
import { listenerServes } from './engines.js';
import { parseListeners, parsePortPool } from './listeners.js';
import { canonicalDestination } from './routes.js';

describe('parseListeners', () => {
  it('reads kinds, public ports and the proxy-protocol option', () => {
    const specs = parseListeners('web=http@0.0.0.0:8080/80, kube=destination@[::]:8443;proxy-protocol=10.0.0.0/8|FD00::/8 ,eg=egress@127.0.0.1:0');
    expect(specs).toEqual([
      { name: 'web', protocol: 'http', host: '0.0.0.0', port: 8080, publicPort: 80, proxyProtocolFrom: [] },
      { name: 'kube', protocol: 'destination', host: '::', port: 8443, publicPort: 8443, proxyProtocolFrom: ['10.0.0.0/8', 'fd00::/8'] },
      { name: 'eg', protocol: 'egress', host: '127.0.0.1', port: 0, publicPort: 0, proxyProtocolFrom: [] },
    ]);
  });

  it.each([
    ['kube=destination@0.0.0.0:8443', /destination listener routes by the PROXY header/],
    ['tls=tls@0.0.0.0:443;proxy-protocol=', /at least one source CIDR/],
    ['tls=tls@0.0.0.0:443;proxy-protocol=10.0.0.1/8', /not a CIDR/],
    ['tls=tls@0.0.0.0:443;accept-proxy', /unknown option "accept-proxy"/],
    ['tls=udp@0.0.0.0:443', /kind must be one of/],
  ])('refuses %s', (text, message) => {
    expect(() => parseListeners(text)).toThrow(message);
  });
});

describe('parsePortPool', () => {
  it('expands ranges and lists, sorted and deduplicated', () => {
    expect(parsePortPool('20003,20000-20002, 20001')).toEqual([20000, 20001, 20002, 20003]);
    expect(parsePortPool('')).toEqual([]);
  });

  it.each(['0-5', '20010-20000', '70000', 'a-b', '1-20000'])('refuses %s', (text) => {
    expect(() => parsePortPool(text)).toThrow();
  });
});

describe('canonicalDestination', () => {
  it.each([
    ['10.1.2.3:443', '10.1.2.3:443'],
    ['[FD00:0::10]:6443', '[fd00::10]:6443'],
    ['[::ffff:10.1.2.3]:443', '10.1.2.3:443'],
    [' 10.1.2.3:443 ', '10.1.2.3:443'],
  ])('%s → %s', (text, key) => {
    expect(canonicalDestination(text)).toBe(key);
  });

  it.each(['10.1.2.3', '10.1.2.3:0', '10.1.2.3:70000', 'fd00::1:443', 'api.example.com:443', '[10.1.2.3]:443x'])('refuses %s', (text) => {
    expect(canonicalDestination(text)).toBeNull();
  });
});

describe('listenerServes', () => {
  it('matches engines to listener kinds', () => {
    expect(listenerServes('postgres', 'postgres')).toBe(true);
    expect(listenerServes('postgres', 'redis')).toBe(false);
    expect(listenerServes('tls', 'postgres')).toBe(true);
    expect(listenerServes('tls', 'http')).toBe(false);
    expect(listenerServes('http', 'http')).toBe(true);
    expect(listenerServes('destination', 'kubernetes-api')).toBe(true);
    expect(listenerServes('egress', 'mongodb')).toBe(true);
    expect(listenerServes('egress', 'http')).toBe(false);
  });
});
