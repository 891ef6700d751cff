import { describe, expect, it, vi } from 'vitest';
import { parseStartupPacket } from '@switchyard/wire';
import { compileRoute } from '../router/route-table.js';
import { route } from '../testing/routes.js';
import { CancelRouter, type SessionTarget } from './cancel.js';
import { CancelKeyStore } from './cancel-keys.js';

const entry = compileRoute(route({ id: 'r1' }));
const target = (secretLength = 4): SessionTarget => ({
  routeId: 'r1',
  host: '10.0.0.1',
  port: 5432,
  backend: { processId: 4242, secretKey: Buffer.alloc(secretLength, 7) },
  route: entry,
  endpoint: { host: '10.0.0.1', port: 5432 },
});

function router(workerId = 1, forward?: (w: number, b: Buffer) => void, fail = false) {
  const delivered: Array<{ target: SessionTarget; request: Buffer }> = [];
  const r = new CancelRouter({
    store: new CancelKeyStore<SessionTarget>(workerId),
    deliver: (t, request) => {
      delivered.push({ target: t, request });
      return fail ? Promise.reject(new Error('down')) : Promise.resolve();
    },
    forwardCancelToWorker: forward ?? null,
  });
  return { r, delivered };
}

describe('CancelRouter', () => {
  it('delivers the backend’s own key (4 to 256 bytes) for a minted key', async () => {
    for (const n of [4, 32, 256]) {
      const { r, delivered } = router();
      const t = target(n);
      const minted = r.mint(t)!;
      expect(minted.secretKey).toHaveLength(n);
      expect(await r.handleCancel(minted.processId, minted.secretKey)).toBe('forwarded');
      const sent = parseStartupPacket(delivered[0]!.request);
      expect(sent).toMatchObject({ status: 'ok', value: { kind: 'cancel-request', processId: 4242, secretKey: t.backend.secretKey } });
      expect(delivered[0]!.target).toBe(t);
    }
  });

  it('drops unknown keys, wrong secrets, other routes and released keys without delivering', async () => {
    const { r, delivered } = router();
    const minted = r.mint(target())!;
    expect(await r.handleCancel(minted.processId, Buffer.alloc(4, 1))).toBe('unknown_key');
    expect(await r.handleCancel(minted.processId, Buffer.concat([minted.secretKey, Buffer.alloc(1)]))).toBe('unknown_key');
    expect(await r.handleCancel(minted.processId, minted.secretKey, { routeId: 'r2' })).toBe('unknown_key');
    r.release(minted);
    expect(await r.handleCancel(minted.processId, minted.secretKey)).toBe('unknown_key');
    expect(delivered).toHaveLength(0);
  });

  it('reports a backend that cannot be reached', async () => {
    const { r } = router(1, undefined, true);
    const minted = r.mint(target())!;
    expect(await r.handleCancel(minted.processId, minted.secretKey)).toBe('upstream_failed');
  });

  it('cluster seam: another worker’s key goes to forwardCancelToWorker as the original bytes; that worker resolves it', async () => {
    const owner = router(2);
    const minted = owner.r.mint(target(32))!;
    expect(CancelKeyStore.workerOf(minted.processId)).toBe(2);
    const forward = vi.fn((_w: number, _b: Buffer) => {});
    const receiver = router(1, forward);
    expect(await receiver.r.handleCancel(minted.processId, minted.secretKey)).toBe('forwarded_to_worker');
    expect(forward).toHaveBeenCalledTimes(1);
    const [workerId, bytes] = forward.mock.calls[0]!;
    expect(workerId).toBe(2);
    expect(await owner.r.handleCancelBytes(bytes)).toBe('forwarded');
    expect(owner.delivered).toHaveLength(1);
    // Without the hook (single process) the key is simply unknown; bytes for a third worker are not bounced.
    expect(await router(1).r.handleCancel(minted.processId, minted.secretKey)).toBe('unknown_key');
    expect(await router(3).r.handleCancelBytes(bytes)).toBe('unknown_key');
    expect(await owner.r.handleCancelBytes(Buffer.from('garbage!'))).toBe('unknown_key');
  });

  it('a passthrough session’s key (a PostgreSQL pid, top byte 0) is looked up locally by worker 0, never forwarded', async () => {
    const forward = vi.fn();
    const { r } = router(0, forward);
    expect(await r.handleCancel(31337, Buffer.alloc(4))).toBe('unknown_key');
    expect(forward).not.toHaveBeenCalled();
  });

  it('cluster workers (ids from 1) do not relay a passthrough session’s key to a worker 0 that does not exist', async () => {
    // psql's Ctrl-C on a passthrough session: a plaintext cancel with PostgreSQL's own pid.
    // It used to go to the primary for "worker 0" and be counted as cancel_forwarded_to_worker.
    const forward = vi.fn();
    const { r } = router(1, forward);
    expect(await r.handleCancel(31337, Buffer.alloc(4))).toBe('unknown_key');
    expect(forward).not.toHaveBeenCalled();
  });
});
