import { describe, expect, it } from 'vitest';
import { CancelKeyStore } from '../pg/cancel-keys.js';
import { NO_CANCEL_RELAY, WorkerCancelRelay } from './cancel-relay.js';

describe('cancel relay', () => {
  it('carries a CancelRequest from the worker that received it to the worker that minted its key', () => {
    // Worker 2 minted the key; the cancel arrived at worker 1.
    const store = new CancelKeyStore(2);
    const minted = store.mint({ routeId: 'r', host: '127.0.0.1', port: 5432, backend: { processId: 77, secretKey: Buffer.from('abcd') } })!;
    const cancel = Buffer.alloc(16);
    cancel.writeInt32BE(16, 0);
    cancel.writeInt32BE(80877102, 4);
    cancel.writeUInt32BE(minted.processId >>> 0, 8);
    Buffer.from(minted.secretKey).copy(cancel, 12);

    const toPrimary: Array<{ worker: number; bytes: string }> = [];
    const w1 = new WorkerCancelRelay(1, (m) => (toPrimary.push(m), true));
    const w2 = new WorkerCancelRelay(2, () => true);
    const received: Buffer[] = [];
    w2.onForwarded((bytes) => received.push(bytes));

    expect(w1.forwardCancelToWorker(CancelKeyStore.workerOf(minted.processId), cancel)).toBe(true);
    expect(toPrimary).toHaveLength(1);
    expect(toPrimary[0]!.worker).toBe(2);
    // The primary relays `bytes` to worker 2 as they are.
    w2.deliver(toPrimary[0]!.bytes);
    expect(received).toEqual([cancel]);
    const processId = received[0]!.readUInt32BE(8);
    expect(store.lookup(processId, received[0]!.subarray(12))).toMatchObject({ backend: { processId: 77 } });
  });

  it('does not forward to itself or to ids that cannot be workers; counts cancels nobody handles', () => {
    const sent: unknown[] = [];
    const w = new WorkerCancelRelay(3, (m) => (sent.push(m), true));
    expect(w.forwardCancelToWorker(3, Buffer.alloc(16))).toBe(false);
    expect(w.forwardCancelToWorker(0, Buffer.alloc(16))).toBe(false);
    expect(w.forwardCancelToWorker(128, Buffer.alloc(16))).toBe(false);
    expect(sent).toEqual([]);
    w.deliver(Buffer.alloc(16).toString('base64'));
    expect(w.unhandled).toBe(1);
    expect(NO_CANCEL_RELAY.forwardCancelToWorker(1, Buffer.alloc(16))).toBe(false);
  });
});
