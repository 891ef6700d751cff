/** Test helpers: the fake Kubernetes API server, fixtures and a controller configuration for tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiConfig } from '@switchyard/api';
import type { ControllerConfig } from '../config.js';

export { FakeKube, mergePatch, RESOURCES } from './fake-kube.js';
export { loadObjects, emptyInput } from './load.js';
export type { KubeObject } from '../translate/objects.js';

/** The translator's testdata fixtures (real objects), as text. */
export function fixture(name: string): string {
  return readFileSync(join(import.meta.dirname, '..', 'translate', 'testdata', name), 'utf8');
}

/** A controller configuration with test timings (fast debounce, watchdog and leader checks). */
export function testControllerConfig(api: ApiConfig, kubeconfig: string, over: Partial<ControllerConfig> = {}): ControllerConfig {
  return {
    api,
    kubeconfig,
    inCluster: false,
    id: `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    clusterDomain: 'cluster.local',
    gatewayApiVersion: 'v1',
    debounceMs: 20,
    debounceMaxMs: 100,
    watch: { silenceMs: 1000, relistMs: 60_000, watchTimeoutSeconds: 60, backoffMinMs: 20, backoffMaxMs: 200 },
    leaderCheckMs: 200,
    metricsHost: '127.0.0.1',
    metricsPort: 0,
    logLevel: process.env.CONTROLLER_TEST_LOG ?? 'silent',
    ...over,
  };
}
