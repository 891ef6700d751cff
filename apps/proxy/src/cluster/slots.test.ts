import { describe, expect, it } from 'vitest';
import type { SlotKey } from '../policy/limits.js';
import { IpcLimits, SlotBroker, type SlotRequest } from './slots.js';

const key = (over: Partial<SlotKey> = {}): SlotKey => ({ routeId: 'r1', routeMax: 2, tenantId: 't1', tenantMax: null, ...over });

describe('SlotBroker (primary)', () => {
  it('holds one cap across workers', () => {
    const b = new SlotBroker();
    expect(b.acquire(1, key())).toBeNull();
    expect(b.acquire(2, key())).toBeNull();
    expect(b.acquire(1, key())).toBe('route_connection_limit');
    expect(b.acquire(2, key())).toBe('route_connection_limit');
    b.release(2, key());
    expect(b.acquire(1, key())).toBeNull();
    expect(b.heldBy(1)).toBe(2);
    expect(b.heldBy(2)).toBe(0);
  });

  it('gives back every slot of a worker that died, and ignores its late releases', () => {
    const b = new SlotBroker();
    const tenantWide = key({ routeId: 'r2', routeMax: null, tenantMax: 3 });
    expect(b.acquire(1, key())).toBeNull();
    expect(b.acquire(1, tenantWide)).toBeNull();
    expect(b.acquire(2, key())).toBeNull();
    expect(b.counts.tenant('t1')).toBe(3);
    expect(b.acquire(2, tenantWide)).toBe('tenant_connection_limit');
    expect(b.releaseWorker(1)).toBe(2);
    expect(b.counts.route('r1')).toBe(1);
    expect(b.counts.tenant('t1')).toBe(1);
    // A release the dead worker sent before dying, processed after: no double release.
    b.release(1, key());
    expect(b.counts.route('r1')).toBe(1);
    expect(b.releaseWorker(1)).toBe(0);
    expect(b.acquire(2, tenantWide)).toBeNull();
  });

  it('does not let one worker release another worker’s slot', () => {
    const b = new SlotBroker();
    expect(b.acquire(1, key())).toBeNull();
    b.release(2, key());
    expect(b.counts.route('r1')).toBe(1);
  });
});

describe('IpcLimits (worker)', () => {
  it('admits uncapped routes synchronously without asking the primary', () => {
    const sent: SlotRequest[] = [];
    const l = new IpcLimits((m) => (sent.push(m), true));
    const uncapped = key({ routeMax: null, tenantMax: null });
    expect(l.acquire(uncapped)).toBeNull();
    l.release(uncapped);
    expect(sent).toEqual([]);
  });

  it('asks the primary for capped routes and resolves with its answer', async () => {
    const sent: SlotRequest[] = [];
    const l = new IpcLimits((m) => (sent.push(m), true));
    const a = l.acquire(key());
    const b = l.acquire(key());
    expect(a).toBeInstanceOf(Promise);
    expect(sent).toEqual([
      { t: 'acquire', id: 1, key: key() },
      { t: 'acquire', id: 2, key: key() },
    ]);
    l.answer(2, 'route_connection_limit');
    l.answer(1, null);
    await expect(a).resolves.toBeNull();
    await expect(b).resolves.toBe('route_connection_limit');
    l.release(key());
    expect(sent[2]).toEqual({ t: 'release', key: key() });
    expect(l.waiting).toBe(0);
  });

  it('fails waiting requests when the primary is gone, and new ones at once', async () => {
    let up = true;
    const l = new IpcLimits(() => up);
    const waiting = l.acquire(key());
    l.failAll();
    await expect(waiting).rejects.toThrow(/primary unreachable/);
    up = false;
    await expect(l.acquire(key())).rejects.toThrow(/primary unreachable/);
  });
});
