/**
 * A worker's side of the connection audit: finished connections' events are buffered and
 * sent to the primary in batches (one IPC message per `maxBatch` events or per `flushMs`),
 * where the one bounded queue and writer live. The buffer here is bounded too: if the
 * channel cannot keep up, events beyond `maxPending` are dropped and the count travels with
 * the next batch, so the primary's drop accounting covers them.
 */
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { encodeEvent, type EventTuple } from './messages.js';

export interface EventBatcherOptions {
  maxBatch: number;
  maxPending: number;
  flushMs: number;
}

export class EventBatcher {
  private buffer: EventTuple[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;

  /** `send` returns false when the channel is gone (the batch is then counted as dropped). */
  constructor(
    private readonly send: (msg: { t: 'events'; events: EventTuple[]; dropped: number }) => boolean,
    private readonly opts: EventBatcherOptions,
  ) {}

  get pending(): number {
    return this.buffer.length;
  }

  record(ev: ConnectionEventInput): void {
    if (this.buffer.length >= this.opts.maxPending) {
      this.dropped++;
      return;
    }
    this.buffer.push(encodeEvent(ev));
    if (this.buffer.length >= this.opts.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /** Sends what is buffered now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.buffer.length > 0 || this.dropped > 0) {
      const events = this.buffer.splice(0, this.opts.maxBatch);
      const dropped = this.dropped;
      this.dropped = 0;
      if (!this.send({ t: 'events', events, dropped })) {
        // Nobody to send to; keep counting so a later flush (if any) reports them.
        this.dropped = dropped + events.length + this.buffer.length;
        this.buffer = [];
        return;
      }
    }
  }
}
