/** Controller metrics (Prometheus): watch health, leadership, reconciles, status writes. */
import { Counter, Gauge, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  /** Run before each scrape (gauges computed from live state). */
  readonly collectors: (() => void)[] = [];
  readonly lastEventAge = new Gauge({ name: 'switchyard_controller_watch_last_event_age_seconds', help: 'Seconds since the last watch event, bookmark or list, per resource', labelNames: ['resource'], registers: [this.registry] });
  readonly synced = new Gauge({ name: 'switchyard_controller_watch_synced', help: '1 once the resource cache completed its first list', labelNames: ['resource'], registers: [this.registry] });
  readonly watchRestarts = new Counter({ name: 'switchyard_controller_watch_restarts_total', help: 'Watch restarts by resource and reason (error, gone, forbidden, watchdog, periodic-relist, error-event)', labelNames: ['resource', 'reason'], registers: [this.registry] });
  readonly forbidden = new Gauge({ name: 'switchyard_controller_watch_forbidden', help: '1 while RBAC refuses to list or watch the resource (403): its cache is not trusted', labelNames: ['resource'], registers: [this.registry] });
  readonly frozenKinds = new Gauge({ name: 'switchyard_controller_frozen_kinds', help: '1 while the routes and statuses of this kind are left as they are because a resource they depend on is forbidden', labelNames: ['kind'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'switchyard_controller_leader', help: '1 while this replica is the active controller', registers: [this.registry] });
  readonly reconciles = new Counter({ name: 'switchyard_controller_reconciles_total', help: 'Completed reconciles', registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'switchyard_controller_reconcile_errors_total', help: 'Failed reconciles, status writes and attempts to apply one object', registers: [this.registry] });
  /**
   * Every write the controller makes to the API server, which are patches of its objects'
   * status (target="status") and of its own TLSRoute annotation switchyard.io/last-accepted-backends
   * (kind="TLSRoute", target="annotation"): one counter, so `sum` is the write load the controller
   * puts on the API server; `target` tells them apart (two values, bounded cardinality).
   */
  readonly statusWrites = new Counter({
    name: 'switchyard_controller_status_writes_total',
    help: 'Patches the API server accepted, by kind and target: status (the /status subresource) or annotation (the TLSRoute annotation switchyard.io/last-accepted-backends)',
    labelNames: ['kind', 'target'],
    registers: [this.registry],
  });

  async text(): Promise<string> {
    for (const c of this.collectors) c();
    return this.registry.metrics();
  }
}
