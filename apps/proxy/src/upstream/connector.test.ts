/**
 * Dialling an endpoint named by a host name, on real sockets: the addresses come from a DNS
 * whose answers the test sets (loopback addresses 127.0.0.2–4, each a real listener).
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Cancel } from '../pipe/cancel.js';
import { DialError } from '../pipe/dial.js';
import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { Upstreams } from './connector.js';
import { UpstreamGuard } from './guard.js';
import { HealthMonitor } from './health.js';
import type { ResolvedAddress } from './name-cache.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A listener on `host` that records who connected; port 0 picks one. */
async function listener(host: string, port = 0): Promise<{ port: number; accepted: number; server: Server }> {
  const state = { port: 0, accepted: 0, server: null as unknown as Server };
  const server = createServer((s) => {
    state.accepted++;
    sockets.push(s);
  });
  servers.push(server);
  server.listen(port, host);
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.server = server;
  return state;
}

function setup() {
  const answers = new Map<string, string[]>();
  const lookups: string[] = [];
  const guard = new UpstreamGuard({
    allowLoopback: true,
    denyCidrs: [],
    dns: {
      ttlMs: 5000,
      staleMs: 60_000,
      lookup: (host) => {
        lookups.push(host);
        const a = answers.get(host);
        if (!a) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
        return Promise.resolve(a.map((address): ResolvedAddress => ({ address, family: 4 })));
      },
    },
  });
  const health = new HealthMonitor(guard, pino({ level: 'silent' }));
  const upstreams = new Upstreams({ guard, health, egressSources: new Set() });
  const connect = (host: string, port: number) =>
    upstreams.connect({
      route: compileRoute(route({ engine: 'redis', endpoints: [{ host, port }] })),
      client: { address: '127.0.0.1', port: 1 },
      local: { dialled: () => ({ address: '127.0.0.1', port: 2 }) },
      replay: Buffer.from('hello'),
      raw: true,
      timeoutMs: 2000,
      signal: new Cancel(),
    });
  return { answers, lookups, connect };
}

describe('Upstreams.connect with a host name', () => {
  it('looks the name up once for many connections, and tries each address in turn', async () => {
    const { answers, lookups, connect } = setup();
    const live = await listener('127.0.0.3');
    // The first address answers nothing (no listener on 127.0.0.2 at that port).
    answers.set('db.ns.svc.cluster.local', ['127.0.0.2', '127.0.0.3']);
    for (let i = 0; i < 5; i++) {
      const c = await connect('db.ns.svc.cluster.local', live.port);
      sockets.push(c.socket);
      expect(c.address).toBe('127.0.0.3');
    }
    expect(live.accepted).toBe(5);
    expect(lookups).toEqual(['db.ns.svc.cluster.local']);
  });

  it('when every kept address fails, asks DNS again at once and dials what it adds (a pod that moved)', async () => {
    const { answers, lookups, connect } = setup();
    const old = await listener('127.0.0.2');
    const port = old.port;
    answers.set('db', ['127.0.0.2']);
    sockets.push((await connect('db', port)).socket);
    // The pod moves: the old address stops answering, DNS now names the new one.
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise((r) => old.server.close(r));
    const moved = await listener('127.0.0.4', port);
    answers.set('db', ['127.0.0.4']);
    const c = await connect('db', port);
    sockets.push(c.socket);
    expect(c.address).toBe('127.0.0.4');
    expect(moved.accepted).toBe(1);
    expect(lookups).toEqual(['db', 'db']);
    // Later connections use the new answer without asking again.
    sockets.push((await connect('db', port)).socket);
    expect(lookups).toHaveLength(2);
  });

  it('a kept answer that still fails after asking again is refused as unreachable, naming the dial failure', async () => {
    const { answers, lookups, connect } = setup();
    const gone = await listener('127.0.0.2');
    const port = gone.port;
    answers.set('db', ['127.0.0.2']);
    sockets.push((await connect('db', port)).socket);
    for (const s of sockets.splice(0)) s.destroy();
    await new Promise((r) => gone.server.close(r));
    const err = await connect('db', port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DialError);
    expect((err as DialError).code).toBe('upstream_unreachable');
    expect((err as DialError).message).toMatch(/ECONNREFUSED/);
    expect(lookups).toEqual(['db', 'db']);
  });

  it('a name DNS does not know is unreachable, with the lookup error', async () => {
    const { connect } = setup();
    const err = await connect('nope.ns.svc.cluster.local', 5432).catch((e: unknown) => e);
    expect((err as DialError).code).toBe('upstream_unreachable');
    expect((err as DialError).message).toMatch(/ENOTFOUND/);
  });
});

describe('Upstreams.connect with a TLS step (terminate mode, upstreamTls)', () => {
  function upstreams() {
    const guard = new UpstreamGuard({ allowLoopback: true, denyCidrs: [], dns: { ttlMs: 5000, staleMs: 60_000, lookup: () => Promise.reject(new Error('no DNS here')) } });
    return new Upstreams({ guard, health: new HealthMonitor(guard, pino({ level: 'silent' })), egressSources: new Set() });
  }

  it("gives the TLS step what is left of the endpoint's connect deadline, not a deadline of its own", async () => {
    // A PostgreSQL server that takes 400 ms to answer the SSLRequest with 'S'.
    const server = createServer((s) => {
      sockets.push(s);
      s.once('data', () => setTimeout(() => s.write('S'), 400));
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const given: number[] = [];
    const c = await upstreams().connect({
      route: compileRoute(route({ engine: 'postgres', endpoints: [{ host: '127.0.0.1', port }] })),
      client: { address: '127.0.0.1', port: 1 },
      local: { dialled: () => ({ address: '127.0.0.1', port: 2 }) },
      replay: Buffer.alloc(0),
      raw: false,
      timeoutMs: 2000,
      signal: new Cancel(),
      secure: (raw, _endpoint, timeoutMs) => {
        given.push(timeoutMs);
        return Promise.resolve(raw);
      },
    });
    sockets.push(c.socket);
    expect(given).toHaveLength(1);
    expect(given[0]).toBeLessThanOrEqual(1600);
    expect(given[0]).toBeGreaterThan(0);
  });

  it('a TLS step that fails moves on to the next endpoint, like a refused connect', async () => {
    const a = await listener('127.0.0.1');
    const b = await listener('127.0.0.1');
    const tried: number[] = [];
    const c = await upstreams().connect({
      route: compileRoute(route({ engine: 'redis', endpoints: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }] })),
      client: { address: '127.0.0.1', port: 1 },
      local: { dialled: () => ({ address: '127.0.0.1', port: 2 }) },
      replay: Buffer.alloc(0),
      raw: true,
      timeoutMs: 2000,
      signal: new Cancel(),
      secure: (raw, endpoint) => {
        tried.push(endpoint.port);
        if (tried.length === 1) {
          raw.destroy();
          return Promise.reject(new DialError('upstream_tls_failed', 'handshake failed'));
        }
        return Promise.resolve(raw);
      },
    });
    sockets.push(c.socket);
    expect(tried).toHaveLength(2);
    expect(c.endpoint.port).toBe(tried[1]);
  });
});
