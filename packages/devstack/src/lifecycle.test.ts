import { describe, expect, it } from 'vitest';
import { Lifecycle, StackStopping } from './lifecycle.js';

/** A resource that records when it was stopped in a shared log. */
function resource(name: string, log: string[]) {
  return { name, stop: async () => void log.push(`stop ${name}`) };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Lifecycle', () => {
  it('stops processes first, then databases newest first', async () => {
    const log: string[] = [];
    const life = new Lifecycle();
    await life.startDatabase(async () => resource('control-pg', log));
    await life.startDatabase(async () => resource('demo-pg', log));
    life.startProcess(() => resource('api', log));
    life.startProcess(() => resource('proxy', log));
    await life.stop();
    expect(log.slice(0, 2).sort()).toEqual(['stop api', 'stop proxy']);
    expect(log.slice(2)).toEqual(['stop demo-pg', 'stop control-pg']);
  });

  it('Ctrl-C while a database starts: the stop waits for it and stops it; its caller is told to end', async () => {
    const log: string[] = [];
    const life = new Lifecycle();
    const starting = deferred<ReturnType<typeof resource>>();
    const start = life.startDatabase(() => starting.promise);
    const stopped = life.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false); // not before the server it would leave running is up
    starting.resolve(resource('control-pg', log));
    await expect(start).rejects.toBeInstanceOf(StackStopping);
    await stopped;
    expect(log).toEqual(['stop control-pg']);
  });

  it('starts nothing once the stop began', async () => {
    const life = new Lifecycle();
    void life.stop();
    let spawned = false;
    expect(() =>
      life.startProcess(() => {
        spawned = true;
        return { stop: async () => {} };
      }),
    ).toThrow(StackStopping);
    await expect(
      life.startDatabase(async () => {
        spawned = true;
        return { stop: async () => {} };
      }),
    ).rejects.toBeInstanceOf(StackStopping);
    expect(spawned).toBe(false);
  });

  it('a second stop (a failure reported while stopping) waits for the same ordered stop', async () => {
    const log: string[] = [];
    const life = new Lifecycle();
    const db = deferred<void>();
    await life.startDatabase(async () => ({ stop: () => db.promise.then(() => void log.push('stop db')) }));
    const first = life.stop();
    const second = life.stop();
    expect(second).toBe(first);
    db.resolve();
    await second;
    expect(log).toEqual(['stop db']);
  });

  it('is idle until something was started', async () => {
    const life = new Lifecycle();
    expect(life.idle).toBe(true);
    await life.startDatabase(async () => ({ stop: async () => {} }));
    expect(life.idle).toBe(false);
  });
});
