import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../metrics.js';
import { mergeMetrics, MetricsRequests } from './metrics.js';

const line = (text: string, series: string) => text.split('\n').find((l) => l.startsWith(`${series} `));

describe('mergeMetrics', () => {
  it('sums connection series over workers and honours each metric’s aggregator', async () => {
    const primary = createMetrics();
    const w1 = createMetrics();
    const w2 = createMetrics();
    primary.controlDbUp.set(1);
    primary.tableVersion.set(9);
    primary.auditWritten.inc(5);
    primary.workersLive.set(2);
    w1.connectionsRouted.inc({ listener: 'postgres' }, 3);
    w2.connectionsRouted.inc({ listener: 'postgres' }, 4);
    w1.workerConnections.inc({ worker: '1' }, 3);
    w2.workerConnections.inc({ worker: '2' }, 4);
    w1.tableVersion.set(9);
    w2.tableVersion.set(8);
    w1.tableRoutes.set(100);
    w2.tableRoutes.set(99);
    w1.applyLag.observe(0.004);
    w2.applyLag.observe(0.2);
    const text = await mergeMetrics(await Promise.all([primary, w1, w2].map((m) => m.registry.getMetricsAsJSON())));
    expect(line(text, 'switchyard_proxy_connections_routed_total{listener="postgres"}')).toMatch(/ 7$/);
    expect(line(text, 'switchyard_proxy_worker_connections_total{worker="1"}')).toMatch(/ 3$/);
    expect(line(text, 'switchyard_proxy_worker_connections_total{worker="2"}')).toMatch(/ 4$/);
    // min: the version every process serves; max: routes; max: control database seen by the primary.
    expect(line(text, 'switchyard_proxy_config_version')).toMatch(/ 8$/);
    expect(line(text, 'switchyard_proxy_routes')).toMatch(/ 100$/);
    expect(line(text, 'switchyard_proxy_control_db_up')).toMatch(/ 1$/);
    expect(line(text, 'switchyard_proxy_audit_events_written_total')).toMatch(/ 5$/);
    expect(line(text, 'switchyard_proxy_workers')).toMatch(/ 2$/);
    expect(line(text, 'switchyard_proxy_config_apply_seconds_count')).toMatch(/ 2$/);
    expect(line(text, 'switchyard_proxy_config_apply_seconds_bucket{le="0.005"}')).toMatch(/ 1$/);
    // One HELP/TYPE per metric, and the process start time (aggregator "omit") is left out.
    expect(text.match(/^# TYPE switchyard_proxy_connections_routed_total /gm)).toHaveLength(1);
    expect(text).not.toContain('process_start_time_seconds');
  });
});

describe('MetricsRequests', () => {
  it('resolves once every asked worker answered', async () => {
    const r = new MetricsRequests();
    const asked: Array<[number, number]> = [];
    const p = r.collect([1, 2], (w, id) => (asked.push([w, id]), true), 10_000);
    r.answer(2, asked[1]![1], [{ name: 'b' }]);
    r.answer(2, asked[1]![1], [{ name: 'dup' }]);
    r.answer(1, asked[0]![1], [{ name: 'a' }]);
    await expect(p).resolves.toEqual([[{ name: 'b' }], [{ name: 'a' }]]);
  });

  it('leaves out workers that cannot be asked, are gone, or are too slow', async () => {
    vi.useFakeTimers();
    try {
      const r = new MetricsRequests();
      await expect(r.collect([1], () => false, 1000)).resolves.toEqual([]);
      const gone = r.collect([1, 2], () => true, 1000);
      r.answer(1, 2, [{ name: 'a' }]);
      r.forget(2);
      await expect(gone).resolves.toEqual([[{ name: 'a' }]]);
      const slow = r.collect([1, 2], () => true, 1000);
      r.answer(2, 3, [{ name: 'b' }]);
      await vi.advanceTimersByTimeAsync(1000);
      await expect(slow).resolves.toEqual([[{ name: 'b' }]]);
      // A late answer for a finished request is ignored.
      r.answer(1, 3, [{ name: 'late' }]);
    } finally {
      vi.useRealTimers();
    }
  });
});
