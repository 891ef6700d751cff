import { describe, expect, it, vi } from 'vitest';
import type { ConnectionEventInput } from '../audit/connection-log.js';
import { EventBatcher } from './event-batcher.js';
import { decodeEvent, type EventTuple } from './messages.js';

const ev = (i: number): ConnectionEventInput => ({
  listener: 'tls',
  routeId: null,
  tenantId: null,
  databaseId: null,
  clientAddress: '192.0.2.1',
  clientPort: i,
  sni: null,
  alpn: null,
  tlsVersion: null,
  mode: null,
  startedAt: 1,
  endedAt: 2,
  bytesIn: 0,
  bytesOut: 0,
  outcome: 'rejected',
  reason: 'unknown_host',
  upstream: null,
});

type Batch = { events: EventTuple[]; dropped: number };

describe('EventBatcher', () => {
  it('sends a full batch at once and the rest after flushMs', () => {
    vi.useFakeTimers();
    try {
      const sent: Batch[] = [];
      const b = new EventBatcher((m) => (sent.push(m), true), { maxBatch: 3, maxPending: 100, flushMs: 50 });
      for (let i = 0; i < 4; i++) b.record(ev(i));
      expect(sent.map((s) => s.events.length)).toEqual([3]);
      expect(b.pending).toBe(1);
      vi.advanceTimersByTime(50);
      expect(sent.map((s) => s.events.length)).toEqual([3, 1]);
      expect(sent.flatMap((s) => s.events).map((t) => decodeEvent(t)?.clientPort)).toEqual([0, 1, 2, 3]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('bounds its buffer and reports what it dropped with the next batch', () => {
    const sent: Batch[] = [];
    let up = false;
    const b = new EventBatcher((m) => (up ? (sent.push(m), true) : false), { maxBatch: 10, maxPending: 2, flushMs: 1000 });
    for (let i = 0; i < 5; i++) b.record(ev(i));
    expect(b.pending).toBe(2);
    b.flush(); // channel down: the two buffered events are counted as dropped too
    expect(b.pending).toBe(0);
    up = true;
    b.record(ev(9));
    b.flush();
    expect(sent).toEqual([{ t: 'events', events: [expect.any(Array)], dropped: 5 }]);
  });
});
