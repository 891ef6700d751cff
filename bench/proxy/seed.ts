/**
 * Routes for the proxy benchmark, written straight into the control database in bulk (the
 * API would take minutes for 100,000): `filler` routes spread over 500 tenants pointing at a
 * closed port, plus the benchmark's own routes pointing at the backends. Proxies load them
 * with the same snapshot query as always; HAProxy's map is generated from that query too.
 */
import { createSelfSigned } from '@switchyard/pki';
import { ControlDb } from '@switchyard/testkit';
import pg from 'pg';

export const HOSTS = {
  echo: 'echo.bench.switchyard.test',
  bulkTls: 'bulk-tls.bench.switchyard.test',
  bulkPlain: 'bulk-plain.bench.switchyard.test',
  upTls: 'up-tls.bench.switchyard.test',
  upPlain: 'up-plain.bench.switchyard.test',
} as const;

/** The soak's plain connections (a ClientHello, echoed back by a TCP echo server). */
export const ECHO_PLAIN_HOST = 'echo-plain.bench.switchyard.test';

/**
 * The idle suite's terminate-mode route: the proxy completes TLS with a self-signed
 * certificate from the keyring (`SWITCHYARD_KEYS` = testkit's TEST_KEYS, set for every
 * Switchyard the bench starts) and talks plaintext to the TCP echo server (`echoPlain`).
 */
export const ECHO_TERMINATE_HOST = 'echo-term.bench.switchyard.test';

export async function seedTerminateRoute(url: string, echoPlainPort: number): Promise<void> {
  const control = new ControlDb(url);
  try {
    await control.putRoute({
      tenant: 'benchterminate',
      database: 'echoterm',
      engine: 'tls',
      upstream: { host: '127.0.0.1', port: echoPlainPort },
      hostname: ECHO_TERMINATE_HOST,
      listener: 'tls',
      tlsMode: 'terminate',
      certificate: createSelfSigned({ hostnames: [ECHO_TERMINATE_HOST] }),
      upstreamTls: false,
    });
  } finally {
    await control.close();
  }
}

export type BenchPorts = Record<keyof typeof HOSTS, number> & { echoPlain?: number };

export const fillerHost = (i: number) => `db${i}.t${i % 500}.filler.switchyard.test`;

/** `upstreamHost`: what the benchmark routes name as their upstream (an address or a name). */
export async function seedRoutes(url: string, filler: number, ports: BenchPorts, upstreamHost = '127.0.0.1'): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query(`INSERT INTO tenants (id, slug, name, updated_at)
                   SELECT gen_random_uuid(), 'filler' || g, 'Filler ' || g, now() FROM generate_series(0, 499) g`);
    await c.query(
      `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
       SELECT gen_random_uuid(), t.id, 'db' || g, 'tls', '127.0.0.1', 9, '[]', now()
         FROM generate_series(0, $1::int - 1) g JOIN tenants t ON t.slug = 'filler' || (g % 500)`,
      [filler],
    );
    await c.query(`INSERT INTO routes (id, database_id, tenant_id, hostname, listener, tls_mode, enabled, updated_at)
                   SELECT gen_random_uuid(), d.id, d.tenant_id, d.name || '.t' || substr(t.slug, 7) || '.filler.switchyard.test',
                          'tls', 'passthrough', true, now()
                     FROM databases d JOIN tenants t ON t.id = d.tenant_id WHERE t.slug LIKE 'filler%'`);
    const tenant = await c.query<{ id: string }>(`INSERT INTO tenants (id, slug, name, updated_at) VALUES (gen_random_uuid(), 'benchtargets', 'Bench', now()) RETURNING id`);
    const hosts = Object.entries(HOSTS) as Array<[keyof BenchPorts, string]>;
    if (ports.echoPlain) hosts.push(['echoPlain', ECHO_PLAIN_HOST]);
    for (const [key, host] of hosts) {
      const db = await c.query<{ id: string }>(
        `INSERT INTO databases (id, tenant_id, name, engine, upstream_host, upstream_port, endpoints, updated_at)
         VALUES (gen_random_uuid(), $1, $2, 'tls', $4, $3, '[]', now()) RETURNING id`,
        [tenant.rows[0]!.id, key.toLowerCase(), ports[key], upstreamHost],
      );
      await c.query(
        `INSERT INTO routes (id, database_id, tenant_id, hostname, listener, tls_mode, enabled, updated_at)
         VALUES (gen_random_uuid(), $1, $2, $3, 'tls', 'passthrough', true, now())`,
        [db.rows[0]!.id, tenant.rows[0]!.id, host],
      );
    }
    await c.query('COMMIT');
    await c.query('ANALYZE tenants, databases, routes');
  } finally {
    await c.end();
  }
}
