/**
 * Which engine a Service most likely fronts, and why: operator labels first (CloudNativePG
 * names its services <cluster>-rw / -ro / -r), then well-known ports. Pure.
 */
import type { Engine } from '@switchyard/core';
import type { Service } from './objects.js';

export interface EngineGuess {
  engine: Engine;
  reason: string;
  /** CloudNativePG: primary (-rw), replica (-ro), any (-r). */
  role: 'primary' | 'replica' | 'any' | null;
  /** The Service port the engine was recognised on. */
  port: number;
}

const WELL_KNOWN_PORTS: [number, Engine][] = [
  [5432, 'postgres'],
  [6379, 'redis'],
  [27017, 'mongodb'],
  [6443, 'kubernetes-api'],
  [443, 'tls'],
];

/** Operator labels (label → value or '*' for any) that identify an engine. */
const OPERATOR_LABELS: [string, string, Engine][] = [
  ['postgres-operator.crunchydata.com/cluster', '*', 'postgres'],
  ['application', 'spilo', 'postgres'], // Zalando postgres-operator
  ['app.kubernetes.io/name', 'postgresql', 'postgres'],
  ['app.kubernetes.io/name', 'redis', 'redis'],
  ['app.kubernetes.io/managed-by', 'redis-operator', 'redis'],
  ['app.kubernetes.io/name', 'mongodb', 'mongodb'],
  ['app.kubernetes.io/name', 'percona-server-mongodb', 'mongodb'],
  ['app.kubernetes.io/managed-by', 'percona-server-mongodb-operator', 'mongodb'],
];

const CNPG_ROLES: [string, EngineGuess['role'], string][] = [
  ['-rw', 'primary', 'primary'],
  ['-ro', 'replica', 'replicas'],
  ['-r', 'any', 'any instance'],
];

export function inferEngine(svc: Service): EngineGuess | null {
  const labels = svc.metadata.labels ?? {};
  const ports = (svc.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  if (ports.length === 0) return null;
  const first = ports[0]!.port;
  const cluster = labels['cnpg.io/cluster'];
  if (cluster) {
    for (const [suffix, role, what] of CNPG_ROLES) {
      if (svc.metadata.name === `${cluster}${suffix}`) {
        const pg = ports.find((p) => p.port === 5432) ?? ports[0]!;
        return { engine: 'postgres', reason: `cnpg.io/cluster=${cluster} (${suffix}: ${what})`, role, port: pg.port };
      }
    }
  }
  for (const [label, value, engine] of OPERATOR_LABELS) {
    const v = labels[label];
    if (v !== undefined && (value === '*' || v === value)) return { engine, reason: `${label}=${v}`, role: null, port: first };
  }
  for (const [port, engine] of WELL_KNOWN_PORTS) {
    if (ports.some((p) => p.port === port)) return { engine, reason: `port ${port}`, role: null, port };
  }
  return null;
}
