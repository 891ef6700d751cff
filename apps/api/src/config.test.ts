import { checkConfigDoc } from '@switchyard/testkit/config-docs';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from './config.js';

const BASE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/switchyard' };

function message(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected loadConfig to refuse the configuration');
}

/** The variables the message names, one line each. */
function named(msg: string): string[] {
  return msg
    .split('\n')
    .slice(1)
    .map((l) => /^ {2}([A-Z0-9_ /]+):/.exec(l)?.[1] ?? `unparsed line: ${l}`);
}

describe('loadConfig', () => {
  it('accepts the defaults', () => {
    const c = loadConfig(BASE);
    expect(c.listeners.map((l) => l.name)).toEqual(['postgres', 'tls']);
    expect(c).toMatchObject({ dedicatedPorts: [], egressSourceAddresses: [], keyring: null, acme: null });
  });

  it('names every bad variable of the checks after the schema in one message, not only the first', () => {
    const msg = message({
      ...BASE,
      NODE_ENV: 'production',
      SWITCHYARD_LISTENERS: 'postgres=postgres@0.0.0.0:99999',
      SWITCHYARD_DEDICATED_PORTS: '10-5',
      SWITCHYARD_EGRESS_SOURCE_ADDRESSES: '10.0.0.1,not-an-ip,also-not',
      ACME_PUBLIC_ADDRESSES: 'nope',
      ACME_DIRECTORY_URL: 'https://acme.example.com/directory',
      ACME_EAB_KID: 'kid',
      ACME_ROOTS_FILE: '/nonexistent/switchyard-roots.pem',
    });
    expect(msg.split('\n')[0]).toBe('invalid API configuration:');
    expect(named(msg)).toEqual([
      'SWITCHYARD_LISTENERS',
      'SWITCHYARD_DEDICATED_PORTS',
      'SWITCHYARD_EGRESS_SOURCE_ADDRESSES',
      'ACME_PUBLIC_ADDRESSES',
      'SWITCHYARD_KEYS',
      'ACME_EAB_KID / ACME_EAB_HMAC_KEY',
      'ACME_ROOTS_FILE',
    ]);
    expect(msg).toContain('SWITCHYARD_EGRESS_SOURCE_ADDRESSES: "not-an-ip", "also-not" are not IP addresses');
    expect(msg).toContain('SWITCHYARD_KEYS: production needs a keyring');
    expect(msg).toContain('ACME_ROOTS_FILE: ENOENT');
  });

  it('reports schema errors and the other checks together', () => {
    const msg = message({ ...BASE, API_PORT: 'eighty', SWITCHYARD_KEYS: 'k1:short', SWITCHYARD_EGRESS_SOURCE_ADDRESSES: 'x' });
    expect(named(msg)).toEqual(['API_PORT', 'SWITCHYARD_EGRESS_SOURCE_ADDRESSES', 'SWITCHYARD_KEYS']);
  });

  it('reads API_TRUSTED_PROXIES as canonical CIDRs and names bad entries', () => {
    expect(loadConfig(BASE).trustedProxies).toEqual([]);
    expect(loadConfig({ ...BASE, API_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7,fd00::/8' }).trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7/32', 'fd00::/8']);
    const msg = message({ ...BASE, API_TRUSTED_PROXIES: '10.0.0.1/8,lb.example.com' });
    expect(named(msg)).toEqual(['API_TRUSTED_PROXIES']);
    expect(msg).toContain('"10.0.0.1/8", "lb.example.com" are not an IP address or a CIDR with zero host bits');
  });

  it('a keyring file that cannot be read is named as such', () => {
    expect(named(message({ ...BASE, SWITCHYARD_KEYS_FILE: '/nonexistent/switchyard-keys' }))).toEqual(['SWITCHYARD_KEYS_FILE']);
  });

  it('reads SWITCHYARD_TENANT_DEFAULT_LIMITS; omitted limits stay unlimited; a bad one is named with the variable', () => {
    expect(loadConfig(BASE).tenantDefaultLimits).toEqual({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: null });
    expect(loadConfig({ ...BASE, SWITCHYARD_TENANT_DEFAULT_LIMITS: 'databases=50, externalAccess=20,dedicatedPorts=0' }).tenantDefaultLimits).toEqual({
      maxDatabases: 50,
      maxExternalAccess: 20,
      maxDedicatedPorts: 0,
    });
    expect(loadConfig({ ...BASE, SWITCHYARD_TENANT_DEFAULT_LIMITS: 'dedicatedPorts=2' }).tenantDefaultLimits).toEqual({ maxDatabases: null, maxExternalAccess: null, maxDedicatedPorts: 2 });
    for (const [value, says] of [
      ['ports=2', 'unknown limit "ports"; known: databases, externalAccess, dedicatedPorts'],
      ['databases=-1', 'databases=-1: the limit must be a whole number from 0 to 1000000'],
      ['databases=1.5', 'the limit must be a whole number'],
      ['databases', '"databases" is not name=number'],
      ['databases=1,databases=2', 'databases is given twice'],
    ]) {
      const msg = message({ ...BASE, SWITCHYARD_TENANT_DEFAULT_LIMITS: value! });
      expect(named(msg)).toEqual(['SWITCHYARD_TENANT_DEFAULT_LIMITS']);
      expect(msg).toContain(says);
    }
  });
});

describe('docs/configuration.md', () => {
  it('names every variable the API reads, describes only variables it reads, with its defaults', () => {
    expect(checkConfigDoc(EnvSchema, ['Shared', 'API'])).toEqual({ undocumented: [], unknown: [], wrongDefaults: [] });
  });
});
