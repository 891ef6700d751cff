import { checkConfigDoc } from '@switchyard/testkit/config-docs';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadDevConfig } from './config.js';
import { StartError } from './errors.js';

describe('loadDevConfig', () => {
  it('has a default for everything', () => {
    const cfg = loadDevConfig('/repo', {});
    expect(cfg).toMatchObject({ databaseUrl: null, dataDir: '/repo/.switchyard', apiPort: 8480, apiMetricsPort: 9482, proxyAdminPort: 9480, controllerMetricsPort: 9481, controlPgPort: 54320, demoPgPort: 54321, demo: true });
    // The proxy drains up to 30 s by default; the stack must not kill it before.
    expect(cfg.proxyStopGraceMs).toBeGreaterThan(30_000);
  });

  it('turns the API\'s metrics listener off with API_METRICS_PORT=0', () => {
    expect(loadDevConfig('/repo', { API_METRICS_PORT: '0' }).apiMetricsPort).toBe(0);
  });

  it('gives the proxy its configured accept grace and drain before killing it', () => {
    const cfg = loadDevConfig('/repo', { PROXY_DRAIN_TIMEOUT_MS: '60000', PROXY_ACCEPT_GRACE_MS: '5000' });
    expect(cfg.proxyStopGraceMs).toBeGreaterThan(65_000);
  });

  it('names every bad variable on a line of its own, without a password', () => {
    let err: unknown;
    try {
      loadDevConfig('/repo', { API_PORT: 'abc', SWITCHYARD_DEMO: 'yes', DATABASE_URL: 'postgres://me:secret@no where/db' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StartError);
    const lines = (err as Error).message.split('\n');
    expect(lines[0]).toContain('invalid npm start configuration');
    expect(lines.filter((l) => l.startsWith('  API_PORT="abc": '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('  SWITCHYARD_DEMO="yes": '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('  DATABASE_URL='))).toHaveLength(1);
    expect((err as Error).message).not.toContain('secret');
  });
});

describe('docs/configuration.md', () => {
  it('names every variable npm start reads, describes only variables it reads, with its defaults', () => {
    expect(checkConfigDoc(EnvSchema, ['Local stack'])).toEqual({ undocumented: [], unknown: [], wrongDefaults: [] });
  });
});
