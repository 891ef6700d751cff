/**
 * `npm run bench`: micro-benchmarks of the proxy's in-memory hot path. Performance goals
 * live here, not in tests. (The end-to-end proxy benchmark against HAProxy is separate.)
 */
import type { RouteRecord } from '@switchyard/core';
import { buildClientHello, parseClientHello } from '@switchyard/wire';
import { RouteTable } from '../apps/proxy/src/router/route-table.js';

function time<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

function opsPerSecond(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(iterations, 10_000); i++) fn(i); // warm-up
  const t = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  return iterations / ((performance.now() - t) / 1000);
}

function routes(n: number): RouteRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    hostname: `db${i}.tenant${i % 500}.db.example.com`,
    listener: 'postgres',
    tlsMode: 'passthrough',
    enabled: true,
    disableBehavior: 'drain',
    sourceCidrs: [],
    maxConnections: null,
    version: i,
    tenantId: `t${i % 500}`,
    tenantSlug: `tenant${i % 500}`,
    tenantMaxConnections: null,
    databaseId: `d${i}`,
    databaseName: `db${i}`,
    engine: 'postgres',
    endpoints: [{ host: '10.0.0.1', port: 5432 }],
  }));
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log('ClientHello parsing');
for (const [name, hello] of [
  ['classic (~250 B)', buildClientHello({ serverName: 'db1.acme.db.example.com', alpn: ['postgresql'] })],
  ['post-quantum (~1.6 KB, 4 records)', buildClientHello({ serverName: 'db1.acme.db.example.com', keyShareBytes: 1248, recordSize: 500 })],
] as const) {
  const ops = opsPerSecond(200_000, () => {
    if (parseClientHello(hello).status !== 'ok') throw new Error('parse failed');
  });
  console.log(`  ${name.padEnd(36)} ${fmt(ops).padStart(12)} parses/s  (${(1e9 / ops).toFixed(0)} ns each)`);
}

console.log('\nRoute table');
for (const n of [1_000, 10_000, 100_000]) {
  const records = routes(n);
  const built = time(() => RouteTable.build(n, records));
  const table = built.value;
  const names = records.map((r) => r.hostname);
  const ops = opsPerSecond(1_000_000, (i) => {
    if (!table.match('postgres', names[(i * 7919) % n]!)) throw new Error('miss');
  });
  const delta = time(() => table.withChanges(n + 1, [{ ...records[0]!, enabled: false }], []));
  console.log(
    `  ${fmt(n).padStart(7)} routes: build ${built.ms.toFixed(1).padStart(7)} ms, lookup ${(1e9 / ops).toFixed(0).padStart(4)} ns, one-route delta ${delta.ms.toFixed(2)} ms`,
  );
}
