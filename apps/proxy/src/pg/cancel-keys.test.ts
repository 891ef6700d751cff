import { describe, expect, it } from 'vitest';
import { CancelKeyStore, type CancelTarget } from './cancel-keys.js';

const target = (len = 4): CancelTarget => ({
  routeId: 'r1',
  host: '10.0.0.1',
  port: 5432,
  backend: { processId: 4242, secretKey: Buffer.alloc(len, 7) },
});

describe('CancelKeyStore', () => {
  it('maps a minted key back to its backend and forgets it on release', () => {
    const s = new CancelKeyStore(3);
    const t = target();
    const k = s.mint(t)!;
    expect(k.secretKey).toHaveLength(4);
    expect(CancelKeyStore.workerOf(k.processId)).toBe(3);
    expect(s.lookup(k.processId, k.secretKey)).toBe(t);
    s.release(k);
    expect(s.lookup(k.processId, k.secretKey)).toBeNull();
    expect(s.size).toBe(0);
  });

  it('refuses a wrong secret, a wrong length and an unknown process id', () => {
    const s = new CancelKeyStore();
    const k = s.mint(target())!;
    const wrong = Buffer.from(k.secretKey);
    wrong[0] = wrong[0]! ^ 1;
    expect(s.lookup(k.processId, wrong)).toBeNull();
    expect(s.lookup(k.processId, Buffer.concat([k.secretKey, Buffer.from([0])]))).toBeNull();
    expect(s.lookup(k.processId + 1, k.secretKey)).toBeNull();
  });

  it('keeps protocol 3.2 key lengths and mints distinct keys', () => {
    const s = new CancelKeyStore();
    const keys = Array.from({ length: 1000 }, () => s.mint(target(32))!);
    expect(new Set(keys.map((k) => k.processId)).size).toBe(1000);
    expect(keys.every((k) => k.secretKey.length === 32 && k.processId > 0)).toBe(true);
  });

  it('stops minting when full', () => {
    const s = new CancelKeyStore(0, 2);
    expect(s.mint(target())).not.toBeNull();
    expect(s.mint(target())).not.toBeNull();
    expect(s.mint(target())).toBeNull();
  });
});
