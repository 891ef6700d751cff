/**
 * One controller process: leader election, the controller, the metrics/health endpoint.
 * Built here (no signals, no exit) so tests can run several replicas in one process.
 */
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { buildDomainServices } from '@switchyard/api';
import { createPrisma } from '@switchyard/db';
import pino, { type Logger } from 'pino';
import type { ControllerConfig } from './config.js';
import { Controller } from './controller.js';
import { KubeClient } from './kube/client.js';
import { AdvisoryLeader } from './leader.js';
import { ControllerMetrics } from './metrics.js';

export interface ControllerProcess {
  controller: Controller;
  leader: AdvisoryLeader;
  metrics: ControllerMetrics;
  /** Port of the metrics/health server (0 when disabled). */
  metricsPort: number;
  stop(): Promise<void>;
}

export function kubeConfigFor(config: Pick<ControllerConfig, 'kubeconfig' | 'inCluster'>): KubeConfig {
  const kc = new KubeConfig();
  if (config.inCluster) kc.loadFromCluster();
  else if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else throw new Error('no kubeconfig (set KUBECONFIG) and not in a cluster');
  return kc;
}

export async function startController(config: ControllerConfig, log: Logger = pino({ level: config.logLevel, name: 'controller' })): Promise<ControllerProcess> {
  const kc = kubeConfigFor(config);
  const prisma = createPrisma(config.api.databaseUrl, { max: 4 });
  const services = buildDomainServices(config.api, prisma, log);
  services.propagation.start();
  const metrics = new ControllerMetrics();
  let controller: Controller | null = null;
  const leader = new AdvisoryLeader(config.api.databaseUrl, config.leaderCheckMs, {
    onElected: () => {
      metrics.leader.set(1);
      controller?.trigger();
    },
    onLost: (reason) => {
      metrics.leader.set(0);
      log.warn({ reason }, 'no longer the active controller');
    },
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  });
  controller = new Controller(
    new KubeClient(kc),
    prisma,
    services,
    leader,
    {
      id: config.id,
      baseDomain: config.api.baseDomain,
      clusterDomain: config.clusterDomain,
      debounceMs: config.debounceMs,
      debounceMaxMs: config.debounceMaxMs,
      watch: config.watch,
      gatewayApiVersion: config.gatewayApiVersion,
      databaseUrl: config.api.databaseUrl,
    },
    log,
    metrics,
  );
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.text().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (req.url === '/readyz') {
      // Ready once every cache is synced (followers too: they must be able to take over) —
      // or forbidden by RBAC where the controller can do without it (a frozen kind). The body
      // says what is missing either way.
      const ok = controller.synced;
      const problems = controller.problems();
      res.writeHead(ok ? 200 : 503).end(`${ok ? 'ok' : 'not ready'}${problems.map((p) => `\n${p}`).join('')}\n`);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(config.metricsPort, config.metricsHost, resolve));
  const port = (server.address() as { port: number }).port;
  controller.start();
  leader.start();
  log.info({ id: config.id, kubeconfig: config.inCluster ? 'in-cluster service account' : config.kubeconfig, metricsPort: port }, 'controller started');
  return {
    controller,
    leader,
    metrics,
    metricsPort: port,
    async stop() {
      await leader.stop();
      await controller.stop();
      await new Promise<void>((r) => server.close(() => r()));
      await services.propagation.stop();
      await prisma.$disconnect();
    },
  };
}
