/**
 * Admin HTTP endpoint for orchestration and monitoring: liveness, readiness, Prometheus.
 * Readiness is false until the first route table is loaded and as soon as draining starts,
 * so a load balancer stops sending new connections before the listeners close.
 * `metrics` renders the Prometheus text: one registry in a single process, the merge of
 * every worker's registry in cluster mode (`cluster/metrics.ts`).
 */
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';

export interface AdminState {
  ready(): boolean;
  status(): Record<string, unknown>;
}

export function createAdminServer(metrics: () => Promise<string>, state: AdminState): Server {
  return createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (url === '/healthz') return json(200, { status: 'ok' });
    if (url === '/readyz') {
      const ready = state.ready();
      return json(ready ? 200 : 503, { ready, ...state.status() });
    }
    if (url === '/metrics') {
      metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE });
          res.end(text);
        },
        () => json(500, { error: 'metrics unavailable' }),
      );
      return;
    }
    json(404, { error: 'not found' });
  });
}
