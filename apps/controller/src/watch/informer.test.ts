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
import { backoffDelay, Informer, type InformerOptions } from './informer.js';

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
  const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const wake = () => waiters.forEach((w) => w());
  const inf = new Informer<Service>(
    client,
    { path: '/api/v1/services', resource: 'services', silenceMs: 600, relistMs: 60_000, watchTimeoutSeconds: 30, backoffMinMs: 20, backoffMaxMs: 100, ...over },
    { onChange: wake, onEvent: wake, onRestart: (_r, reason) => (restarts.push(reason), wake()), log: (level, msg, fields) => void logs.push({ level, msg, fields }) },
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
  return { inf, until, names, restarts, logs };
}

describe('backoffDelay', () => {
  it('is random up to an exponential bound (full jitter), capped, never below half the minimum', () => {
    expect(backoffDelay(1, 100, 5000, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 5000, () => 1)).toBe(250);
    expect(backoffDelay(3, 100, 5000, () => 1)).toBe(850);
    expect(backoffDelay(50, 100, 5000, () => 1)).toBe(5050);
    expect(backoffDelay(50, 100, 5000, () => 0.5)).toBe(2550);
    const waits = Array.from({ length: 200 }, () => backoffDelay(4, 100, 5000));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...waits)).toBeLessThanOrEqual(1650);
    expect(new Set(waits).size).toBeGreaterThan(50); // jittered, not one fixed value
  });
});

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

  it('re-opens a stream the server ended after its timeoutSeconds from the last version seen, without a relist', async () => {
    const { inf, until, names, restarts } = start({ watchTimeoutSeconds: 1 });
    await until(() => inf.synced && kube.openStreams > 0, 'open stream');
    kube.apply(svc('before-timeout'));
    await until(() => names().join() === 'before-timeout:5432', 'event');
    const lists = kube.count('GET', 'Service', false);
    const watches = kube.count('GET', 'Service', true);
    const seen = kube.get<Service>('Service', 'acme', 'before-timeout')!.metadata.resourceVersion!;
    // The server ends the stream cleanly after 1 s; the informer watches again at once.
    await until(() => kube.count('GET', 'Service', true) > watches && kube.openStreams > 0, 'new watch');
    const w = kube.requests.filter((r) => r.query.watch === 'true' && r.path === '/api/v1/services').at(-1)!;
    expect(Number(w.query.resourceVersion)).toBeGreaterThanOrEqual(Number(seen)); // bookmarks may have moved it on
    expect(kube.count('GET', 'Service', false)).toBe(lists);
    expect(restarts).toEqual([]);
    kube.delete('Service', 'acme', 'before-timeout');
    await until(() => names().length === 0, 'cleanup');
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

  it('finds with the periodic full relist a change the stream never delivered', async () => {
    const { inf, until, names, restarts } = start({ relistMs: 300 });
    await until(() => inf.synced && kube.openStreams > 0, 'open stream');
    const lists = kube.count('GET', 'Service', false);
    kube.loseEvents('Service', 1);
    kube.apply(svc('lost-on-the-stream'));
    await until(() => names().join() === 'lost-on-the-stream:5432', 'relist');
    expect(restarts).toContain('periodic-relist');
    expect(kube.count('GET', 'Service', false)).toBeGreaterThan(lists);
    // A delete the stream never delivered is noticed the same way (the cache is replaced).
    kube.loseEvents('Service', 1);
    kube.delete('Service', 'acme', 'lost-on-the-stream');
    await until(() => names().length === 0, 'lost delete found by the relist');
  });

  it('leaves no connection behind after ten reconnects (each with a relist)', async () => {
    const { inf, until } = start();
    await until(() => inf.synced && kube.openStreams > 0, 'open stream');
    const baseline = await kube.connections();
    for (let i = 0; i < 10; i++) {
      const watches = kube.count('GET', 'Service', true);
      kube.dropStreams('Service'); // each drop: an error, a relist and a new watch
      await until(() => kube.count('GET', 'Service', true) > watches && kube.openStreams > 0, `reconnect ${i}`);
    }
    expect(kube.count('GET', 'Service', false)).toBeGreaterThanOrEqual(10);
    // Only the open watch stays connected (closing sockets may take a moment to be seen).
    await expect.poll(() => kube.connections(), { timeout: 4000, interval: 50 }).toBeLessThanOrEqual(Math.max(baseline, 1));
  });

  it('keeps its cache through a 404 for a resource it was served, and accepts absence only once empty', async () => {
    kube.apply(svc('kept'));
    const { inf, until, names, restarts } = start({ optional: true });
    await until(() => inf.synced && names().join() === 'kept:5432' && kube.openStreams > 0, 'sync');
    kube.missing.add('Service');
    try {
      kube.dropStreams('Service');
      await until(() => restarts.filter((r) => r === 'error').length >= 3, 'failed relists');
      expect(names()).toEqual(['kept:5432']); // not "everything deleted"
      expect(inf.absent).toBe(false);
    } finally {
      kube.missing.delete('Service');
    }
    // The resource is back: the cache follows again. Then, with an empty cache, a 404 is absence.
    kube.delete('Service', 'acme', 'kept');
    await until(() => names().length === 0, 'delete seen');
    kube.missing.add('Service');
    try {
      kube.dropStreams('Service');
      await until(() => inf.absent, 'absent');
      expect(inf.synced).toBe(true);
    } finally {
      kube.missing.delete('Service');
    }
  });

  it('backs off, growing and jittered, when every watch ends in an ERROR event; a repeated 410 too', async () => {
    kube.apply(svc('steady'));
    // random() = 1: the largest wait of each step, 10 + min(400, 20·2^n) ms: 50, 90, 170, 330.
    const { inf, until, names, restarts } = start({ backoffMinMs: 20, backoffMaxMs: 400, random: () => 1 });
    await until(() => inf.synced && names().join() === 'steady:5432' && kube.openStreams > 0 && inf.lastEventAgeMs < 50, 'open stream');
    const watchTimes = () => kube.requests.filter((r) => r.path === '/api/v1/services' && r.query.watch === 'true').map((r) => r.at);
    const before = watchTimes().length;
    // The API server's answer while its watch cache lags behind the list: a 504 Status event.
    kube.failWatchesWithErrorEvent('Service', 4, 504, 'Timeout', 'Too large resource version: 99, current: 98');
    kube.dropStreams('Service');
    await until(() => restarts.filter((r) => r === 'error-event').length === 4 && kube.openStreams > 0, 'four ERROR events, then a working stream');
    const gaps = watchTimes().slice(before).map((t, i, a) => (i ? t - a[i - 1]! : 0)).slice(1);
    // Each gap holds a relist and the wait: never a tight loop, and longer each time.
    expect(gaps.length).toBeGreaterThanOrEqual(4);
    for (const [i, min] of [90, 170, 330].entries()) expect(gaps[i + 1], `gap ${i + 1} of ${gaps.join(', ')}`).toBeGreaterThanOrEqual(min - 5);

    // A 410 after a working stream relists at once; a 410 again right after waits.
    await until(() => inf.lastEventAgeMs < 50, 'a bookmark on the new stream');
    const before410 = watchTimes().length;
    kube.failWatchesWithErrorEvent('Service', 3, 410, 'Expired', 'too old resource version');
    kube.expire(); // the open stream: ERROR 410 (its first failure: immediate relist)
    await until(() => restarts.filter((r) => r === 'gone').length >= 4 && kube.openStreams > 0 && watchTimes().length >= before410 + 4, '410s, then a working stream');
    const gaps410 = watchTimes().slice(before410 - 1).map((t, i, a) => (i ? t - a[i - 1]! : 0)).slice(1);
    expect(gaps410[1], gaps410.join(', ')).toBeGreaterThanOrEqual(50 - 5);
    expect(gaps410[2], gaps410.join(', ')).toBeGreaterThanOrEqual(90 - 5);
    kube.apply(svc('after-errors'));
    await until(() => names().join() === 'after-errors:5432,steady:5432', 'cache follows again');
    kube.delete('Service', 'acme', 'steady');
    kube.delete('Service', 'acme', 'after-errors');
    await until(() => names().length === 0, 'cleanup');
  });

  it('lists in pages (continue tokens) and starts the list over when a token expired between pages', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) kube.apply(svc(n));
    kube.maxPageSize = 2;
    let expired = false;
    kube.onRequest = (r) => {
      // Compaction between the first and the second page of the first list.
      if (!expired && r.path === '/api/v1/services' && r.query.continue) {
        expired = true;
        kube.apply(svc('p6'));
        kube.expire();
      }
    };
    try {
      const { inf, until, names, restarts } = start();
      await until(() => inf.synced && names().length === 6, 'paged list');
      expect(names()).toEqual(['p1:5432', 'p2:5432', 'p3:5432', 'p4:5432', 'p5:5432', 'p6:5432']);
      expect(restarts).toContain('gone');
      const lists = kube.requests.filter((r) => r.path === '/api/v1/services' && r.query.watch !== 'true');
      expect(lists.filter((r) => r.query.continue).length).toBeGreaterThanOrEqual(3); // 6 objects in pages of 2, after the expired one
      // The watch starts from the list's version: later changes arrive, nothing is replayed twice.
      kube.delete('Service', 'acme', 'p1');
      await until(() => names().length === 5, 'watch after a paged list');
    } finally {
      kube.maxPageSize = Infinity;
      kube.onRequest = null;
    }
    for (const n of ['p2', 'p3', 'p4', 'p5', 'p6']) kube.delete('Service', 'acme', n);
  });

  it('notices a CRD installed after it started within its maximum backoff, not at the next full relist', async () => {
    kube.missing.add('Service');
    let served = false;
    try {
      const { inf, until, names } = start({ optional: true, relistMs: 60_000, backoffMaxMs: 100 });
      await until(() => inf.synced && inf.absent, 'absent');
      kube.missing.delete('Service');
      served = true;
      kube.apply(svc('after-crd'));
      await until(() => !inf.absent && names().join() === 'after-crd:5432', 'the new resource listed');
    } finally {
      if (!served) kube.missing.delete('Service');
    }
    kube.delete('Service', 'acme', 'after-crd');
  });

  it('stops at once during a list, and opens no watch after it', async () => {
    const release = kube.holdLists('Service');
    try {
      const lists = kube.count('GET', 'Service', false);
      const watches = kube.count('GET', 'Service', true);
      const { inf } = start();
      await expect.poll(() => kube.count('GET', 'Service', false), { timeout: 4000, interval: 10 }).toBeGreaterThan(lists);
      const stopping = inf.stop();
      release(); // the list is answered after stop() was called
      await stopping; // without abandoning the list, a watch would open and hold stop() for its timeoutSeconds
      expect(inf.synced).toBe(false);
      expect(kube.count('GET', 'Service', true)).toBe(watches);
    } finally {
      release();
    }
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

  it('says when RBAC forbids listing it (403): not synced, `forbidden` names the verb, one error log; recovers once allowed', async () => {
    kube.forbidden.set('Service', 'list+watch');
    let allowed = false;
    try {
      const { inf, until, names, restarts, logs } = start({ optional: true });
      await until(() => restarts.filter((r) => r === 'forbidden').length >= 3, 'three refused lists');
      expect(inf.synced).toBe(false); // a 403 is not a 404: nothing may be read as "no objects"
      expect(inf.absent).toBe(false);
      expect(inf.forbidden).toMatch(/^list: services is forbidden: User "system:serviceaccount:switchyard:switchyard-controller" cannot list resource "services"/);
      // Said once, at error level, naming what the ClusterRole lacks; retries are not each an error.
      const errors = logs.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]!.msg).toMatch(/forbidden by RBAC/);
      expect(errors[0]!.fields).toMatchObject({ resource: 'services', verb: 'list' });
      kube.forbidden.delete('Service');
      allowed = true;
      kube.apply(svc('after-rbac'));
      await until(() => inf.synced && names().join() === 'after-rbac:5432' && inf.forbidden === null, 'listed once allowed');
      expect(logs.filter((l) => l.level === 'info' && /allowed again/.test(l.msg))).toHaveLength(1);
    } finally {
      if (!allowed) kube.forbidden.delete('Service');
    }
    kube.delete('Service', 'acme', 'after-rbac');
  });

  it('a ClusterRole with list but not watch: the list fills the cache, `forbidden` says watch until a stream works', async () => {
    kube.apply(svc('listed'));
    kube.forbidden.set('Service', 'watch');
    let allowed = false;
    try {
      const { inf, until, names, restarts } = start();
      await until(() => inf.synced && names().join() === 'listed:5432' && restarts.filter((r) => r === 'forbidden').length >= 2, 'listed, watch refused twice');
      expect(inf.forbidden).toMatch(/^watch: services is forbidden: .* cannot watch resource "services"/);
      kube.forbidden.delete('Service');
      allowed = true;
      await until(() => inf.forbidden === null && kube.openStreams > 0, 'a working stream');
    } finally {
      if (!allowed) kube.forbidden.delete('Service');
    }
    kube.delete('Service', 'acme', 'listed');
  });
});
