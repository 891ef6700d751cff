import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

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
