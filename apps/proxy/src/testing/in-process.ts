/**
 * A whole proxy in the test process (startProxy) against a test control database, with both
 * shared listeners on free ports, its admin port on loopback, audit flushed only when it stops
 * (so a test reads every connection event after `stop()`), and the test keyring.
 */
import { TEST_KEYS, type ControlDb } from '@switchyard/testkit';
import pino from 'pino';
import { loadConfig } from '../config.js';
import { startProxy } from '../proxy.js';

export async function startInProcessProxy(databaseUrl: string, proxyId: string, version: number, env: Record<string, string> = {}) {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    SWITCHYARD_LISTENERS: 'postgres=postgres@127.0.0.1:0,tls=tls@127.0.0.1:0',
    PROXY_ADMIN_PORT: '0',
    PROXY_ADMIN_HOST: '127.0.0.1',
    PROXY_AUDIT_FLUSH_MS: '60000',
    PROXY_ID: proxyId,
    SWITCHYARD_KEYS: TEST_KEYS,
    ...env,
  });
  const proxy = await startProxy(config, pino({ level: 'silent' }));
  await proxy.waitForVersion(version);
  return proxy;
}

/** The connection events a proxy wrote, by SNI. */
export async function connectionEventsOf(control: ControlDb, proxyId: string): Promise<Array<{ sni: string | null; outcome: string; reason: string }>> {
  const rows = await control.prisma.connectionEvent.findMany({ where: { proxyId }, orderBy: { sni: 'asc' } });
  return rows.map((r) => ({ sni: r.sni, outcome: r.outcome, reason: r.reason }));
}
