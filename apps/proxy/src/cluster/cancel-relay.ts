/**
 * CancelRequest relay between workers (terminate mode, `pg/cancel.ts`, `pg/cancel-keys.ts`).
 *
 * A cancel arrives on a new connection, which round-robin scheduling may hand to any
 * worker, while the key it carries was minted by the worker that owns the session — whose
 * id is the top byte of the key's process id. The receiving worker's `CancelRouter` calls
 * `forwardCancelToWorker(workerId, bytes)`; the primary relays the bytes to that worker,
 * which hands them to the handler registered with `onForwarded` (its router's
 * `handleCancelBytes`, the same path as a cancel it received itself). Best effort, like
 * PostgreSQL's own cancel: nothing is answered, and a cancel for a worker that is gone is
 * dropped.
 *
 * In a single process there is nobody to forward to: `forwardCancelToWorker` returns false.
 */
export type ForwardCancelToWorker = (workerId: number, bytes: Uint8Array) => boolean;

export interface CancelRelay {
  /** This process's worker id (0 in a single process). */
  readonly workerId: number;
  forwardCancelToWorker: ForwardCancelToWorker;
  /** Registers the handler for cancels other workers forward to this one. */
  onForwarded(handler: (bytes: Buffer) => void): void;
}

/** The relay of a single process: nothing to forward to. */
export const NO_CANCEL_RELAY: CancelRelay = {
  workerId: 0,
  forwardCancelToWorker: () => false,
  onForwarded: () => {},
};

/** A worker's relay; `send` carries `{worker, bytes}` to the primary (false: channel gone). */
export class WorkerCancelRelay implements CancelRelay {
  private handler: ((bytes: Buffer) => void) | null = null;
  /** Forwarded cancels that arrived with no handler registered (counted, dropped). */
  unhandled = 0;

  constructor(
    readonly workerId: number,
    private readonly send: (msg: { t: 'cancel'; worker: number; bytes: string }) => boolean,
  ) {}

  readonly forwardCancelToWorker: ForwardCancelToWorker = (workerId, bytes) => {
    if (workerId === this.workerId || workerId < 1 || workerId > 127) return false;
    return this.send({ t: 'cancel', worker: workerId, bytes: Buffer.from(bytes).toString('base64') });
  };

  onForwarded(handler: (bytes: Buffer) => void): void {
    this.handler = handler;
  }

  /** The primary relayed a cancel to this worker. */
  deliver(base64: string): void {
    if (!this.handler) {
      this.unhandled++;
      return;
    }
    this.handler(Buffer.from(base64, 'base64'));
  }
}
