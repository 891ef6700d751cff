/**
 * In-process micro-benchmarks of the proxy's hot-path data structures: ClientHello parsing,
 * and the route table (build from a snapshot, lookup cost against table size, one-route
 * delta). Run in the benchmark process itself; single-threaded CPU work.
 */
import { routeFromRow, type RouteRecord, type RouteSnapshotRow } from '@switchyard/core';
import { buildClientHello, parseClientHello } from '@switchyard/wire';
import { normalizeServerName, RouteTable } from '../../apps/proxy/src/router/route-table.js';

/** Names looked up at every table size (the smallest table's). */
const HOT_NAMES = 1_000;

function time<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

function nsPerOp(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) fn(i); // warm-up (JIT)
  const t = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  return ((performance.now() - t) * 1e6) / iterations;
}

/**
 * Routes as the snapshot query returns them, through the same `routeFromRow` the proxy
 * uses (columns added later default there, so this keeps compiling as the model grows).
 */
export function syntheticRoutes(n: number): RouteRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const row: Partial<RouteSnapshotRow> = {
      id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      hostname: `db${i}.t${i % 500}.filler.switchyard.test`,
      listener: 'tls',
      tls_mode: 'passthrough',
      enabled: true,
      disable_behavior: 'drain',
      source_cidrs: [],
      max_connections: null,
      version: i,
      tenant_id: `t${i % 500}`,
      tenant_slug: `t${i % 500}`,
      database_id: `d${i}`,
      database_name: `db${i}`,
      engine: 'tls',
      upstream_host: '10.0.0.1',
      upstream_port: 5432,
      endpoints: null,
    };
    return routeFromRow(row as RouteSnapshotRow);
  });
}

export interface TableSize {
  routes: number;
  buildMs: number;
  /** normalise the SNI + match, ns per lookup, the same 1,000 names at every size. */
  lookupNs: number;
  /** The same over all n names in a scattered order (cache misses included). */
  lookupAllNs: number;
  deltaMs: number;
}

export interface MicroResult {
  helloParseNs: { classic: number; postQuantum: number };
  sizes: TableSize[];
}

export function microBench(sizes: number[], lookups: number): MicroResult {
  const classic = buildClientHello({
    serverName: 'db1.acme.db.example.com',
    alpn: ['postgresql'],
  });
  const pq = buildClientHello({
    serverName: 'db1.acme.db.example.com',
    keyShareBytes: 1248,
    recordSize: 500,
  });
  const parse = (hello: Buffer) => () => {
    if (parseClientHello(hello).status !== 'ok') throw new Error('parse failed');
  };
  const helloParseNs = {
    classic: nsPerOp(lookups / 5, parse(classic)),
    postQuantum: nsPerOp(lookups / 5, parse(pq)),
  };

  const out: TableSize[] = [];
  for (const n of sizes) {
    const records = syntheticRoutes(n);
    // Build several times and keep the median: the first build also pays for JIT.
    const builds = Array.from({ length: 3 }, () => time(() => RouteTable.build(n, records)));
    const table = builds[builds.length - 1]!.value;
    const buildMs = builds.map((b) => b.ms).sort((a, b) => a - b)[1]!;
    // Fresh strings, as each connection's SNI is: no cached hash from the build.
    const names = records.map((r) => Buffer.from(r.hostname.toUpperCase()).toString('latin1'));
    const step = 7919; // prime: visits every name in a scattered order
    const lookup = (set: string[]) => (i: number) => {
      if (!table.match('tls', normalizeServerName(set[(i * step) % set.length]!)!)) throw new Error('miss');
    };
    // The same 1,000 names at every size (they are in every table): what the table's size
    // costs a lookup, the "flat" target. Over all n names instead, a 100k table's entries
    // no longer fit in the CPU caches, so that figure also measures cache misses (reported).
    const lookupNs = nsPerOp(lookups, lookup(names.slice(0, HOT_NAMES)));
    const lookupAllNs = nsPerOp(lookups, lookup(names));
    const delta = time(() => table.withChanges(n + 1, [{ ...records[0]!, enabled: false }], []));
    out.push({ routes: n, buildMs, lookupNs, lookupAllNs, deltaMs: delta.ms });
  }
  return { helloParseNs, sizes: out };
}
