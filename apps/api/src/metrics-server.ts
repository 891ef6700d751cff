/**
 * The metrics listener: `GET /metrics` on API_METRICS_HOST:API_METRICS_PORT, for Prometheus,
 * apart from the public API port (which faces users and the ingress, and answers /metrics with
 * its JSON 404). Plain node:http, no authentication: like the proxy's admin port and the
 * controller's metrics port, it is reached inside the cluster only (a NetworkPolicy admits the
 * monitoring namespace). Nothing here touches the request path of the API.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiMetrics } from './metrics.js';

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Listens (null when `port` is 0: disabled); rejects when the address cannot be bound. */
export async function startMetricsServer(metrics: Pick<ApiMetrics, 'text' | 'contentType'>, opts: { host: string; port: number }, log: FastifyBaseLogger): Promise<MetricsServer | null> {
  if (opts.port === 0) return null;
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this port serves GET /metrics\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        log.error({ err: (err as Error).message }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
      },
    );
  });
  // Scrapes are short; a silent client must not hold a socket.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, 'metrics listening');
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
