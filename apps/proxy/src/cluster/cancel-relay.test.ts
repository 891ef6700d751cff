import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { describe, expect, it } from 'vitest';
import { CancelRouter, type SessionTarget } from '../pg/cancel.js';
import { CancelKeyStore } from '../pg/cancel-keys.js';
import { NO_CANCEL_RELAY, WorkerCancelRelay } from './cancel-relay.js';

const target = (): SessionTarget => ({
  routeId: route().id,
  host: '127.0.0.1',
  port: 5432,
  backend: { processId: 77, secretKey: Buffer.from('abcd') },
  route: compileRoute(route()),
  endpoint: { host: '127.0.0.1', port: 5432 },
});

describe('cancel relay between workers', () => {
  it('carries a CancelRequest from the worker that received it to the worker that minted its key', async () => {
    // The primary's part: relay `{worker, bytes}` to that worker's relay, bytes unchanged.
    const relays = new Map<number, WorkerCancelRelay>();
    const primary = (m: { worker: number; bytes: string }) => {
      relays.get(m.worker)?.deliver(m.bytes);
      return true;
    };
    const delivered: Array<{ worker: number; request: Buffer; backend: number }> = [];
    const routers = new Map<number, CancelRouter>();
    for (const id of [1, 2]) {
      const relay = new WorkerCancelRelay(id, primary);
      relays.set(id, relay);
      const router = new CancelRouter({
        store: new CancelKeyStore<SessionTarget>(id),
        deliver: async (t, request) => void delivered.push({ worker: id, request, backend: t.backend.processId }),
        forwardCancelToWorker: (w, request) => void relay.forwardCancelToWorker(w, request),
      });
      routers.set(id, router);
      relay.onForwarded((request) => void router.handleCancelBytes(request));
    }
    // Worker 2 minted the key of a session; the client's cancel lands on worker 1.
    const minted = routers.get(2)!.mint(target())!;
    expect(CancelKeyStore.workerOf(minted.processId)).toBe(2);
    expect(await routers.get(1)!.handleCancel(minted.processId, Buffer.from(minted.secretKey))).toBe('forwarded_to_worker');
    await Promise.resolve();
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.worker).toBe(2);
    expect(delivered[0]!.backend).toBe(77);
    // What reaches the backend is its own key, not the minted one.
    expect(delivered[0]!.request.readInt32BE(8)).toBe(77);
  });

  it('does not forward to itself or to ids that cannot be workers; counts cancels nobody handles', () => {
    const sent: unknown[] = [];
    const w = new WorkerCancelRelay(3, (m) => (sent.push(m), true));
    expect(w.forwardCancelToWorker(3, Buffer.alloc(16))).toBe(false);
    expect(w.forwardCancelToWorker(0, Buffer.alloc(16))).toBe(false);
    expect(w.forwardCancelToWorker(128, Buffer.alloc(16))).toBe(false);
    expect(sent).toEqual([]);
    expect(w.forwardCancelToWorker(4, Buffer.from([1, 2, 3]))).toBe(true);
    expect(sent).toEqual([{ t: 'cancel', worker: 4, bytes: Buffer.from([1, 2, 3]).toString('base64') }]);
    w.deliver(Buffer.alloc(16).toString('base64'));
    expect(w.unhandled).toBe(1);
    expect(NO_CANCEL_RELAY.forwardCancelToWorker(1, Buffer.alloc(16))).toBe(false);
  });
});
