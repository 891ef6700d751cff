/**
 * /metrics in cluster mode: the primary asks every worker for its registry as JSON, adds its
 * own (route sync, audit writer, worker counts) and merges them with prom-client's
 * AggregatorRegistry, honouring each metric's `aggregator` (sum unless the metric says
 * otherwise: the config version is the minimum any process serves, control_db_up the max).
 * A worker that does not answer in time is left out of that scrape.
 */
import { AggregatorRegistry } from 'prom-client';

/** The merged Prometheus text of several registries' `getMetricsAsJSON()` output. */
export function mergeMetrics(parts: unknown[][]): Promise<string> {
  return AggregatorRegistry.aggregate(parts).metrics();
}

/** Request/reply bookkeeping for metrics scrapes over IPC. */
export class MetricsRequests {
  private nextId = 1;
  private readonly pending = new Map<number, { parts: unknown[][]; waiting: Set<number>; done: () => void }>();

  /**
   * Sends a request to each worker (`send(workerId, requestId)` → false when it cannot) and
   * resolves with the answers that arrived within `timeoutMs`.
   */
  collect(workers: readonly number[], send: (worker: number, id: number) => boolean, timeoutMs: number): Promise<unknown[][]> {
    const id = this.nextId++;
    const parts: unknown[][] = [];
    return new Promise((resolve) => {
      const waiting = new Set<number>();
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(parts);
      };
      const timer = setTimeout(done, timeoutMs);
      this.pending.set(id, { parts, waiting, done });
      for (const w of workers) if (send(w, id)) waiting.add(w);
      if (waiting.size === 0) done();
    });
  }

  /** A worker's answer to request `id`. */
  answer(worker: number, id: number, metrics: unknown[]): void {
    const p = this.pending.get(id);
    if (!p || !p.waiting.delete(worker)) return;
    p.parts.push(metrics);
    if (p.waiting.size === 0) p.done();
  }

  /** A worker is gone: stop waiting for it. */
  forget(worker: number): void {
    for (const p of [...this.pending.values()]) if (p.waiting.delete(worker) && p.waiting.size === 0) p.done();
  }
}
