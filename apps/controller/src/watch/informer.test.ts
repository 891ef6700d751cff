/**
 * The supervised informer against the fake API server: every way a watch goes wrong (a
 * silent stream, 500s, 410 Gone, a dropped connection) ends in a cache equal to the server's,
 * with no lost and no duplicated object.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../kube/client.js';
import { FakeKube } from '../testing/fake-kube.js';
import type { Service } from '../translate/objects.js';
import { Informer, type InformerOptions } from './informer.js';

let kube: FakeKube;
let client: KubeClient;
const running: Informer<Service>[] = [];

beforeAll(async () => {
  kube = new FakeKube();
  kube.bookmarkMs = 100;
  await kube.start();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  client = new KubeClient(kc);
}, 30_000); // the fake server's certificate: an RSA key from node-forge, slow on a busy machine
afterAll(async () => kube.stop());
afterEach(async () => {
  await Promise.all(running.splice(0).map((i) => i.stop()));
});

const svc = (name: string, port = 5432): Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'acme', uid: '' }, spec: { ports: [{ name: 'pg', port }] } });

/** An informer plus a way to await a state of it (woken by its own events, no sleeps). */
function start(over: Partial<InformerOptions> = {}) {
  const waiters = new Set<() => void>();
  const restarts: string[] = [];
  const wake = () => waiters.forEach((w) => w());
  const inf = new Informer<Service>(
    client,
    { path: '/api/v1/services', resource: 'services', silenceMs: 600, relistMs: 60_000, watchTimeoutSeconds: 30, backoffMinMs: 20, backoffMaxMs: 100, ...over },
    { onChange: wake, onEvent: wake, onRestart: (_r, reason) => (restarts.push(reason), wake()), log: () => undefined },
  );
  running.push(inf);
  inf.start();
  const until = (pred: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (pred()) return resolve();
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 4000);
      const w = () => {
        if (!pred()) return;
        clearTimeout(t);
        waiters.delete(w);
        resolve();
      };
      waiters.add(w);
    });
  const names = () => inf.list().map((s) => `${s.metadata.name}:${s.spec!.ports![0]!.port}`).sort();
  return { inf, until, names, restarts };
}

describe('Informer', () => {
  it('lists, then follows adds, changes and deletes from the watch with bookmarks requested', async () => {
    kube.apply(svc('a'));
    const { inf, until, names } = start();
    await until(() => inf.synced && names().includes('a:5432'), 'first list');
    kube.apply(svc('b'));
    kube.apply(svc('a', 6432));
    kube.delete('Service', 'acme', 'b');
    kube.apply(svc('c'));
    await until(() => names().join() === 'a:6432,c:5432', 'watch events');
    const w = kube.requests.filter((r) => r.query.watch === 'true' && r.path === '/api/v1/services').at(-1)!;
    expect(w.query).toMatchObject({ allowWatchBookmarks: 'true', timeoutSeconds: '30' });
    kube.delete('Service', 'acme', 'a');
    kube.delete('Service', 'acme', 'c');
    await until(() => names().length === 0, 'deletes');
  });

  it('restarts a stalled stream (watchdog) and relists what changed meanwhile', async () => {
    const { inf, until, names, restarts } = start({ silenceMs: 400 });
    await until(() => inf.synced, 'sync');
    kube.stall('Service');
    kube.apply(svc('during-stall'));
    await until(() => restarts.includes('watchdog'), 'watchdog');
    kube.unstall('Service');
    await until(() => names().join() === 'during-stall:5432', 'relist after stall');
    expect(inf.lastEventAgeMs).toBeLessThan(400);
    kube.delete('Service', 'acme', 'during-stall');
    await until(() => names().length === 0, 'cleanup');
  });

  it('keeps retrying through 500s with backoff, and is not synced before its first list', async () => {
    kube.failNext('Service', 3);
    kube.apply(svc('after-500'));
    const { inf, until, names, restarts } = start();
    expect(inf.synced).toBe(false);
    await until(() => restarts.filter((r) => r === 'error').length >= 3, 'three failures');
    await until(() => inf.synced && names().join() === 'after-500:5432', 'recovery');
    kube.delete('Service', 'acme', 'after-500');
    await until(() => names().length === 0, 'cleanup');
  });

  it('relists on 410 Gone and on a dropped connection, without losing or duplicating objects', async () => {
    const { inf, until, names, restarts } = start();
    // A stream is open once a bookmark arrived on it.
    await until(() => inf.synced && kube.openStreams > 0 && inf.lastEventAgeMs < 50, 'open stream');
    kube.expire();
    kube.apply(svc('after-410'));
    await until(() => restarts.includes('gone') && names().join() === 'after-410:5432', '410 relist');
    kube.dropStreams('Service');
    kube.apply(svc('after-drop'));
    await until(() => names().join() === 'after-410:5432,after-drop:5432', 'after drop');
    expect(inf.list()).toHaveLength(2);
    kube.delete('Service', 'acme', 'after-410');
    kube.delete('Service', 'acme', 'after-drop');
    await until(() => names().length === 0, 'cleanup');
  });

  it('treats a resource the server does not serve (CRD not installed) as synced and empty', async () => {
    kube.missing.add('Service');
    try {
      const { inf, until } = start({ optional: true });
      await until(() => inf.synced, 'sync');
      expect(inf.absent).toBe(true);
      expect(inf.list()).toEqual([]);
    } finally {
      kube.missing.delete('Service');
    }
  });
});
