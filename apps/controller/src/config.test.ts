import { checkConfigDoc } from '@switchyard/testkit/config-docs';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from './config.js';

const BASE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' };

describe('CONTROLLER_CLUSTER_DOMAIN', () => {
  it('defaults to cluster.local', () => {
    expect(loadConfig(BASE).clusterDomain).toBe('cluster.local');
  });

  it('is a DNS name, lower-cased, without a trailing dot', () => {
    expect(loadConfig({ ...BASE, CONTROLLER_CLUSTER_DOMAIN: 'Corp.Example.' }).clusterDomain).toBe('corp.example');
  });

  it.each(['', 'cluster local', 'https://cluster.local', '-bad.local', 'a..b'])('refuses %j, naming the variable', (value) => {
    expect(() => loadConfig({ ...BASE, CONTROLLER_CLUSTER_DOMAIN: value })).toThrow(/CONTROLLER_CLUSTER_DOMAIN: must be a DNS name/);
  });
});

describe('refusals', () => {
  it('names its own bad variables and the API\'s in one message', () => {
    expect(() => loadConfig({ ...BASE, CONTROLLER_DEBOUNCE_MS: 'soon', API_PORT: 'x' })).toThrow(/^invalid controller configuration:\n {2}CONTROLLER_DEBOUNCE_MS: .*\n {2}API_PORT: /);
    expect(() => loadConfig({ ...BASE, API_PORT: 'x' })).toThrow(/^invalid controller configuration:\n {2}API_PORT: /);
  });
});

describe('docs/configuration.md', () => {
  it('names every variable the controller reads, describes only variables it reads, with its defaults', () => {
    expect(checkConfigDoc(EnvSchema, ['Shared', 'API', 'Kubernetes controller'], ['Kubernetes controller'])).toEqual({ undocumented: [], unknown: [], wrongDefaults: [] });
  });
});
