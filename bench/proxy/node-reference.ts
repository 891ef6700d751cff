/**
 * The minimal Node passthrough proxy of the benchmark (issue 13): what Node itself costs, so
 * that the product's own overhead is visible. Parse the ClientHello, look the name up in a
 * `Map` of the same routes the proxies load, connect, write the buffered bytes, `pipe()` both
 * ways. No policies, audit, metrics, deadlines or PostgreSQL STARTTLS — not a product, a floor.
 *
 *   DATABASE_URL=… BENCH_PORT=… [BENCH_WORKERS=2] node --import tsx bench/proxy/node-reference.ts
 *
 * BENCH_WORKERS > 1 runs one worker per core under node:cluster (round-robin hand-off, as
 * Switchyard's cluster mode); the primary loads the routes once and each worker loads them
 * too (a worker is a whole copy, like a Switchyard worker holding its own table).
 * Prints "ready" once listening.
 */
import cluster from 'node:cluster';
import { connect, createServer, type Socket } from 'node:net';
import { ROUTE_SNAPSHOT_SQL, routeFromRow, type RouteSnapshotRow } from '@switchyard/core';
import { ClientHelloAssembler } from '@switchyard/wire';
import pg from 'pg';

const port = Number(process.env.BENCH_PORT);
const workers = Number(process.env.BENCH_WORKERS ?? 1);

async function loadRoutes(): Promise<Map<string, { host: string; port: number }>> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const rows = (await client.query<RouteSnapshotRow>(ROUTE_SNAPSHOT_SQL, [null])).rows;
  await client.end();
  const routes = new Map<string, { host: string; port: number }>();
  for (const row of rows) {
    const r = routeFromRow(row);
    if (r.enabled && r.listener === 'tls') routes.set(r.hostname, r.endpoints[0]!);
  }
  return routes;
}

function serve(routes: Map<string, { host: string; port: number }>): void {
  const server = createServer({ allowHalfOpen: false, noDelay: true }, (client: Socket) => {
    const hello = new ClientHelloAssembler({});
    let buffered: Buffer[] = [];
    let size = 0;
    const refuse = () => client.destroy();
    client.on('error', () => {});
    const onData = (chunk: Buffer) => {
      buffered.push(chunk);
      size += chunk.length;
      const all = buffered.length === 1 ? chunk : Buffer.concat(buffered, size);
      buffered = [all];
      const r = hello.feed(all);
      if (r.status === 'need-more') return;
      client.removeListener('data', onData);
      client.pause();
      if (r.status !== 'ok') return refuse();
      const target = routes.get((r.value.serverName ?? '').toLowerCase());
      if (!target) return refuse();
      const up = connect({ host: target.host, port: target.port, noDelay: true });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
      up.once('connect', () => {
        up.write(all);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    client.on('data', onData);
  });
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
    if (cluster.isPrimary) console.log('ready');
    else process.send?.('listening');
  });
}

if (workers > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'listening' && ++listening === workers) console.log('ready');
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  // A normal exit on SIGTERM, so that `--cpu-prof` writes its profile.
  process.on('SIGTERM', () => process.exit(0));
  serve(await loadRoutes());
}
