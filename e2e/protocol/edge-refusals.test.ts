/**
 * What real clients read when the proxy refuses them at its edge, for the refusals the other
 * files do not reach: an upstream that is down behind a passthrough PostgreSQL route (psql's
 * sslmode=prefer retry must say so, not "TLS with SNI required"), and behind terminate-mode
 * routes of other engines (redis-cli, openssl s_client and curl must get a TLS alert, not a
 * bare close), and a terminate-mode PostgreSQL route whose server answers 'S' and then
 * stalls the TLS handshake (the client must be told the database failed, not its own
 * network). Routes are written straight into the control database before the proxy
 * process starts, so its first table has them.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ControlDb, createTestDatabase, TEST_KEYS, testCa, testCert, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../support/raw.js';
import { BASE_DOMAIN, startProxyProcess, type ProxyProcess } from '../support/stack.js';
import { libpq, run } from '../support/tools.js';
import { tempDir } from '../support/upstreams.js';

const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
let db: TestDatabase;
let control: ControlDb;
let proxy: ProxyProcess;
let caFile: string;
/** The upstream's port: never shown to clients. */
let deadPort: number;
const routeIds: Record<string, string> = {};
/** A "database" that answers SSLRequest with 'S' and then never speaks TLS. */
let stall: Server;
const stalled: Socket[] = [];
/** Resolves at the next connection the stalling database accepts. */
let nextStalled: Promise<Socket>;
let onStalled: (s: Socket) => void;
function armStalled(): void {
  nextStalled = new Promise<Socket>((r) => (onStalled = r));
}

const psql = (conn: string) => run('psql', ['-X', '-A', '-t', '-c', 'select 1', conn], { env: { PGPASSWORD: 'postgres' } });

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  const dir = tempDir('sy-e2e-edge-');
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, testCa().certPem);
  // A port nothing listens on: the upstream is down.
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const down = { host: '127.0.0.1', port: deadPort };
  await control.putRoute({ database: 'gone', engine: 'postgres', upstream: down, hostname: host('gone'), listener: 'postgres' });
  await control.putRoute({ database: 'off', engine: 'postgres', upstream: down, hostname: host('off'), listener: 'postgres', enabled: false });
  for (const [name, engine] of [['cachegone', 'redis'], ['webgone', 'http']] as const) {
    await control.putRoute({ database: name, engine, upstream: down, hostname: host(name), listener: 'tls', tlsMode: 'terminate', certificate: testCert([host(name)]), upstreamTls: false });
  }
  armStalled();
  stall = createServer((s) => {
    stalled.push(s);
    s.on('error', () => {});
    s.once('data', () => {
      s.write('S');
      onStalled(s);
    });
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
  for (const name of ['stall', 'stallclose']) {
    const { routeId } = await control.putRoute({
      database: name,
      engine: 'postgres',
      upstream: { host: '127.0.0.1', port: (stall.address() as AddressInfo).port },
      hostname: host(name),
      listener: 'postgres',
      tlsMode: 'terminate',
      certificate: testCert([host(name)]),
      upstreamTls: true,
      disableBehavior: 'close',
    });
    routeIds[name] = routeId;
  }
  // The upstream connect deadline (TCP, 'S', and now TLS) well inside the client's handshake deadline.
  proxy = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS, PROXY_CONNECT_TIMEOUT_MS: '2000', PROXY_HANDSHAKE_TIMEOUT_MS: '6000' });
});

afterAll(async () => {
  await proxy?.stop();
  for (const s of stalled) s.destroy();
  await new Promise<void>((r) => (stall ? stall.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

describe('psql to a passthrough route whose database is down', () => {
  // First in the file: no TLS refusal of this address is remembered yet.
  it('a hello refused on the tls listener does not explain a later plaintext psql on the postgres listener', async () => {
    const curl = await run('curl', ['-sS', '--resolve', `${host('nowhere')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('nowhere')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    expect(curl.stderr).toMatch(/unrecognized name/);
    // libpq never retries a hello sent elsewhere in plaintext here: this client is told what it
    // needs, not the name and refusal of another client's connection from the same address.
    const plain = await psql(libpq(host('gone'), proxy.ports.postgres, { sslmode: 'disable' }));
    expect(plain.stderr).toContain('requires TLS with SNI');
    expect(plain.stderr).not.toContain(host('nowhere'));
  });

  it('sslmode=require reads the TLS alert; the sslmode=prefer retry is told the server is unreachable, not to use TLS', async () => {
    const strict = await psql(libpq(host('gone'), proxy.ports.postgres, { sslmode: 'require' }));
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/alert internal error/);
    // libpq's default: after the alert it retries in plaintext; that retry cannot be routed,
    // and must explain the TLS attempt's refusal. It said "requires TLS with SNI" — to a
    // client that had just sent both.
    const prefer = await psql(libpq(host('gone'), proxy.ports.postgres));
    expect(prefer.code).not.toBe(0);
    expect(prefer.stderr).toContain('FATAL:  Switchyard: the database server is not reachable');
    expect(prefer.stderr).toContain(`DETAIL:  Host name: ${host('gone')}.`);
    expect(prefer.stderr).toContain('HINT:  The database may be down or restarting');
    expect(prefer.stderr).not.toContain('requires TLS with SNI');
    expect(prefer.stderr).not.toContain(String(deadPort));
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_unreachable')).toBeGreaterThanOrEqual(2);
  });

  it('a pool of psql clients opening at once from one address: every plaintext retry explains its refusal', async () => {
    // Twelve clients, each a TLS attempt (refused: access disabled) then libpq's plaintext
    // retry, all from 127.0.0.1 at once. One memory per address explained the first retry and
    // told the others "requires TLS with SNI" (7 of 12 in a run before the fix).
    const runs = await Promise.all(Array.from({ length: 12 }, () => psql(libpq(host('off'), proxy.ports.postgres))));
    for (const r of runs) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('SSL error: tlsv1 unrecognized name');
      expect(r.stderr).toContain('FATAL:  Switchyard: external access to this database is disabled');
      expect(r.stderr).not.toContain('requires TLS with SNI');
    }
  });
});

describe('terminate-mode routes of other engines whose upstream is down', () => {
  it('redis-cli --tls --sni gets a TLS internal_error alert, not a bare close', async () => {
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachegone'), '--cacert', caFile, 'PING']);
    expect(r.stdout + r.stderr).toMatch(/alert internal error/);
    expect(r.stdout + r.stderr).not.toMatch(/unexpected eof/);
  });

  it('openssl s_client -servername reads the alert', async () => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.tls}`, '-servername', host('cachegone'), '-CAfile', caFile]);
    expect(r.stdout + r.stderr).toMatch(/alert internal error/);
  });

  it('curl --resolve reads the alert', async () => {
    const r = await run('curl', ['-sS', '--resolve', `${host('webgone')}:${proxy.ports.tls}:127.0.0.1`, `https://${host('webgone')}:${proxy.ports.tls}/`, '--cacert', caFile]);
    expect(r.code).toBe(35);
    expect(r.stderr).toMatch(/alert internal error/);
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'upstream_unreachable')).toBeGreaterThanOrEqual(3);
  });
});

describe('terminate mode: the database server stalls its TLS handshake', () => {
  it('psql reads "TLS to the database server failed" at the connect deadline, not a handshake timeout blamed on its network', async () => {
    const r = await psql(libpq(host('stall'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: TLS to the database server failed');
    expect(r.stderr).not.toContain('not completed in time');
    expect(stalled.length).toBeGreaterThan(0);
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('postgres', 'upstream_tls_failed')).toBe(1);
    expect(m.closed('postgres', 'handshake_timeout')).toBe(0);
  });
});

describe('terminate mode: a route disabled (close) while its session is still being set up', () => {
  it('psql reads "external access to this database is disabled" rather than a lost connection', async () => {
    const before = await Metrics.fetch(proxy.adminPort);
    armStalled();
    const client = psql(libpq(host('stallclose'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: caFile }));
    // The proxy has read the StartupMessage, admitted the session and is dialling the database.
    await nextStalled;
    await control.setEnabled(routeIds.stallclose!, false);
    const r = await client;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FATAL:  Switchyard: external access to this database is disabled');
    expect(r.stderr).not.toMatch(/SSL SYSCALL|EOF detected|closed the connection unexpectedly/);
    const after = await Metrics.fetch(proxy.adminPort);
    expect(after.closed('postgres', 'route_disabled') - before.closed('postgres', 'route_disabled')).toBe(1);
    expect(after.closed('postgres', 'upstream_tls_failed') - before.closed('postgres', 'upstream_tls_failed')).toBe(0);
  });
});
