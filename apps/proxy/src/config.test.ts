import { checkConfigDoc } from '@switchyard/testkit/config-docs';
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { EnvSchema, loadConfig } from './config.js';

const base = { DATABASE_URL: 'postgres://u@127.0.0.1:1/db' };

describe('loadConfig: policies', () => {
  it('has no rate limit and no idle timeout by default', () => {
    const c = loadConfig(base);
    expect(c.clientRate).toBeNull();
    expect(c.idleTimeoutMs).toEqual({ default: 0, byListener: {} });
    expect(c.acceptGraceMs).toBe(0);
  });

  it('parses rates per second and per minute, with a default burst', () => {
    expect(loadConfig({ ...base, PROXY_CLIENT_RATE: '20/s' }).clientRate).toEqual({ ratePerSec: 20, burst: 20, maxTracked: 100_000 });
    expect(loadConfig({ ...base, PROXY_CLIENT_RATE: '120/m', PROXY_CLIENT_BURST: '4' }).clientRate).toEqual({ ratePerSec: 2, burst: 4, maxTracked: 100_000 });
    expect(loadConfig({ ...base, PROXY_CLIENT_RATE: '3' }).clientRate?.burst).toBe(10);
    expect(loadConfig({ ...base, PROXY_CLIENT_RATE: 'off' }).clientRate).toBeNull();
    expect(() => loadConfig({ ...base, PROXY_CLIENT_RATE: 'fast' })).toThrow(/PROXY_CLIENT_RATE/);
  });

  it('parses per-listener idle timeouts', () => {
    const c = loadConfig({ ...base, PROXY_IDLE_TIMEOUT_MS: '3600000', PROXY_IDLE_TIMEOUTS: 'tls=600000, http=0' });
    expect(c.idleTimeoutMs).toEqual({ default: 3_600_000, byListener: { tls: 600_000, http: 0 } });
    expect(() => loadConfig({ ...base, PROXY_IDLE_TIMEOUTS: 'tls' })).toThrow(/PROXY_IDLE_TIMEOUTS/);
  });
});

describe('loadConfig: workers', () => {
  it('runs one worker per core by default; 1 means a single process', () => {
    expect(loadConfig(base).workers).toBe(Math.min(127, availableParallelism()));
    expect(loadConfig({ ...base, PROXY_WORKERS: '1' }).workers).toBe(1);
    expect(loadConfig({ ...base, PROXY_WORKERS: '4' }).workers).toBe(4);
    expect(loadConfig(base).workerId).toBe(0);
    expect(loadConfig({ ...base, SWITCHYARD_WORKER_ID: '3' }).workerId).toBe(3);
    expect(loadConfig(base).clusterScheduling).toBe('none');
    expect(loadConfig({ ...base, PROXY_CLUSTER_SCHEDULING: 'rr' }).clusterScheduling).toBe('rr');
    expect(() => loadConfig({ ...base, PROXY_CLUSTER_SCHEDULING: 'random' })).toThrow(/PROXY_CLUSTER_SCHEDULING/);
  });

  it('refuses counts that cannot be worker ids', () => {
    for (const bad of ['0', '128', 'many']) expect(() => loadConfig({ ...base, PROXY_WORKERS: bad })).toThrow(/PROXY_WORKERS/);
  });
});

describe('loadConfig: PostgreSQL clients without SNI', () => {
  it('has no default certificate unless both files are given, and names a missing file', () => {
    const c = loadConfig(base);
    expect(c.defaultCertificate).toBeNull();
    expect(c.baseDomain).toBe('db.switchyard.localhost');
    expect(loadConfig({ ...base, SWITCHYARD_BASE_DOMAIN: 'DB.Example.com' }).baseDomain).toBe('db.example.com');
    expect(() => loadConfig({ ...base, PROXY_DEFAULT_CERT_FILE: '/nonexistent.crt' })).toThrow(/go together/);
    expect(() => loadConfig({ ...base, PROXY_DEFAULT_CERT_FILE: '/nonexistent.crt', PROXY_DEFAULT_KEY_FILE: '/nonexistent.key' })).toThrow(/PROXY_DEFAULT_CERT_FILE.*ENOENT/);
  });
});

describe('loadConfig: refusals', () => {
  it('names every bad variable in one message, SWITCHYARD_LISTENERS included', () => {
    let message = '';
    try {
      loadConfig({ ...base, PROXY_WORKERS: '0', SWITCHYARD_LISTENERS: 'bogus', PROXY_CLIENT_RATE: 'fast', PROXY_IDLE_TIMEOUTS: 'tls', SWITCHYARD_DEDICATED_PORTS: 'x', PROXY_UPSTREAM_DENY_CIDRS: 'nope', SWITCHYARD_KEYS: 'bad' });
    } catch (err) {
      message = (err as Error).message;
    }
    const lines = message.split('\n');
    expect(lines[0]).toBe('invalid proxy configuration:');
    expect(lines.slice(1).map((l) => /^ {2}([A-Z_]+):/.exec(l)?.[1])).toEqual([
      'PROXY_WORKERS',
      'SWITCHYARD_LISTENERS',
      'SWITCHYARD_DEDICATED_PORTS',
      'PROXY_UPSTREAM_DENY_CIDRS',
      'PROXY_CLIENT_RATE',
      'PROXY_IDLE_TIMEOUTS',
      'SWITCHYARD_KEYS',
    ]);
  });
});

describe('docs/configuration.md', () => {
  it('names every variable the proxy reads, describes only variables it reads, with its defaults', () => {
    expect(checkConfigDoc(EnvSchema, ['Shared', 'Proxy'])).toEqual({ undocumented: [], unknown: [], wrongDefaults: [] });
  });
});
