import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamGuard } from './guard.js';
import { HealthMonitor } from './health.js';

const guard = new UpstreamGuard({ allowLoopback: true, denyCidrs: [] });
const check = { type: 'tcp' as const, intervalMs: 20, timeoutMs: 500, rise: 2, fall: 2 };
let monitor: HealthMonitor | null = null;
const servers: Server[] = [];

async function listen(port = 0): Promise<Server> {
  const s = createServer((c) => c.destroy());
  s.listen(port, '127.0.0.1');
  await once(s, 'listening');
  servers.push(s);
  return s;
}

afterEach(async () => {
  monitor?.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('HealthMonitor', () => {
  it('marks an endpoint down after `fall` failures and up after `rise` successes, reporting each transition once', async () => {
    const events = new EventEmitter();
    const transitions: boolean[] = [];
    monitor = new HealthMonitor(guard, pino({ level: 'silent' }), {
      onTransition: (_key, up) => {
        transitions.push(up);
        events.emit(up ? 'up' : 'down');
      },
    });
    const server = await listen();
    const port = (server.address() as AddressInfo).port;
    const key = `127.0.0.1:${port}`;
    monitor.setRoute('r1', [{ endpoint: { host: '127.0.0.1', port }, check, postgres: false, sourceAddress: null }]);
    expect(monitor.isUp(key)).toBe(true);
    const down = once(events, 'down');
    servers.splice(servers.indexOf(server), 1);
    await new Promise((r) => server.close(r));
    await down;
    expect(monitor.isUp(key)).toBe(false);
    const up = once(events, 'up');
    await listen(port);
    await up;
    expect(monitor.isUp(key)).toBe(true);
    expect(transitions).toEqual([false, true]);
  });

  it('shares one checker between routes and stops it when the last route lets go', async () => {
    monitor = new HealthMonitor(guard, pino({ level: 'silent' }));
    const port = ((await listen()).address() as AddressInfo).port;
    const target = { endpoint: { host: '127.0.0.1', port }, check, postgres: false, sourceAddress: null };
    monitor.setRoute('a', [target]);
    monitor.setRoute('b', [target]);
    expect(monitor.size).toBe(1);
    monitor.setRoute('a', []);
    expect(monitor.size).toBe(1);
    monitor.setRoute('b', [{ ...target, check: { ...check, rise: 3 } }]);
    expect(monitor.size).toBe(1);
    monitor.setRoute('b', []);
    expect(monitor.size).toBe(0);
    // Endpoints nobody checks count as up.
    expect(monitor.isUp(`127.0.0.1:${port}`)).toBe(true);
  });

  it('counts a name up when any of its addresses answers (connections try them in turn)', async () => {
    const port = ((await listen()).address() as AddressInfo).port;
    // The first address answers nothing; the second is the live listener.
    const named = new UpstreamGuard({
      allowLoopback: true,
      denyCidrs: [],
      dns: { ttlMs: 5000, staleMs: 0, lookup: () => Promise.resolve([{ address: '127.0.0.2', family: 4 as const }, { address: '127.0.0.1', family: 4 as const }]) },
    });
    const events = new EventEmitter();
    const results: boolean[] = [];
    monitor = new HealthMonitor(named, pino({ level: 'silent' }), {
      onCheck: (ok) => {
        results.push(ok);
        if (results.length === 4) events.emit('checked');
      },
    });
    const done = once(events, 'checked');
    monitor.setRoute('r', [{ endpoint: { host: 'db.ns.svc.cluster.local', port }, check: { ...check, rise: 1, fall: 1 }, postgres: false, sourceAddress: null }]);
    await done;
    expect(results.slice(0, 4)).toEqual([true, true, true, true]);
    expect(monitor.isUp(`db.ns.svc.cluster.local:${port}`)).toBe(true);
  });

  it('fails checks of names that resolve to forbidden addresses', async () => {
    const strict = new UpstreamGuard({ allowLoopback: false, denyCidrs: [] });
    const events = new EventEmitter();
    monitor = new HealthMonitor(strict, pino({ level: 'silent' }), { onTransition: (_k, up) => !up && events.emit('down') });
    const port = ((await listen()).address() as AddressInfo).port;
    const down = once(events, 'down');
    monitor.setRoute('r', [{ endpoint: { host: 'localhost', port }, check, postgres: false, sourceAddress: null }]);
    await down;
    expect(monitor.isUp(`localhost:${port}`)).toBe(false);
  });
});
