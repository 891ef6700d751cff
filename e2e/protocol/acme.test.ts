/**
 * ACME end to end against a real ACME server (Debian's pebble) on loopback, with
 * pebble-challtestsrv as its DNS (every name → 127.0.0.1). Two proxy processes behind
 * round-robin TCP balancers, as behind a platform's public address: pebble's `tlsPort` is a
 * balancer over both proxies' TLS listeners and its `httpPort` one over both http listeners,
 * so each validation reaches whichever proxy the balancer picks (and the API waits until
 * every proxy serves each challenge). Clients verify with pebble's root, fetched from its
 * management port:
 *  - TLS-ALPN-01 issues for a terminate-mode PostgreSQL route; until then the API says the
 *    route is served with the platform CA; then real psql sslmode=verify-full connects
 *    through both proxies;
 *  - HTTP-01 issues for a Redis route on the TLS listener; redis-cli --tls and
 *    openssl s_client verify it;
 *  - acme-tls/1 for a name without a pending challenge is refused and reaches no upstream;
 *  - a challenge that cannot succeed ends `failed` with pebble's problem;
 *  - a tenant cannot order another tenant's host name (nor wildcards, nor passthrough routes);
 *  - both proxies answer pebble's validations (the balancers sent them to each);
 *  - a proxy restarted while pebble's validation waits answers it from its first snapshot;
 *  - the CA's 429 with Retry-After (injected by an HTTPS front through which the API talks
 *    to pebble, everything else forwarded): the order fails with the CA's own problem
 *    document and the next attempt waits at least the Retry-After;
 *  - a proxy that has not applied the challenge holds the order back: the CA is not asked;
 *  - with API replicas as processes, one runs the worker; killed (SIGKILL) mid-order, the
 *    replica that takes over retries the order, with the same ACME account;
 *  - with pebble's 30-second certificates, renewal happens by itself and an open psql
 *    session survives the swap.
 * Pebble requires external account binding here, so the platform account is created with EAB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as requestHttp } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet, request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { buildTlsAlpnCertificate } from '@switchyard/api';
import { currentConfigVersion, recordRouteChanges } from '@switchyard/db';
import { keyringFromConfig } from '@switchyard/pki';
import { createTestDatabase, getFreePort, testCa, testCert, TEST_KEYS, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, BASE_DOMAIN, seedTenant, startApi, startApiProcess, startProxyProcess, type ApiProcess, type ApiServer, type ProxyProcess } from '../support/stack.js';
import { startBalancer, type Balancer } from '../support/balancer.js';
import { libpq, psqlSession, requireTool, run } from '../support/tools.js';
import { startPlainRedis, startTlsPostgres, tempDir, type TlsPostgres } from '../support/upstreams.js';

/** Pebble's certificate lifetime here: renewal (a third left) comes 20 s after issuance. */
const VALIDITY_S = 30;
const host = (db: string) => `${db}.acme.${BASE_DOMAIN}`;
const EAB = { kid: 'switchyard-e2e', hmacKey: randomBytes(32).toString('base64url') };

let db: TestDatabase;
let postgres: TlsPostgres;
let redis: { port: number; stop(): Promise<void> };
let proxyA: ProxyProcess;
let proxyB: ProxyProcess;
let proxyC: ProxyProcess | undefined;
let api: ApiServer;
let token: string;
let otherToken: string;
let pebble: ChildProcess;
let challtestsrv: ChildProcess;
let challMgmt: number;
let rootFile: string;
let sink: Server;
let sinkAccepts = 0;
let tlsLb: Balancer;
let caFront: Awaited<ReturnType<typeof startCaFront>>;
const replicas: ApiProcess[] = [];
let httpLb: Balancer;
const httpPorts = new Map<ProxyProcess, number>();
const keyring = keyringFromConfig({ keys: TEST_KEYS })!;

function startDaemon(cmd: string, args: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
  const child = spawn(requireTool(cmd), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(ready)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}):\n${out}`)));
  });
}

function fetchPem(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode} ${body}`))));
    }).on('error', reject);
  });
}

const acmeCall = (method: string, path = '', body?: unknown, tok = token) => api.call(method, `/api/v1/tenants/acme/acme-certificates${path}`, body, tok);

/** Follows an ACME certificate until `done` holds (the worker runs every 200 ms). */
async function until(id: string, done: (b: any) => boolean, what: string): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await acmeCall('GET', `/${id}`);
    expect(r.status).toBe(200);
    if (done(r.body)) return r.body;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function terminateRoute(name: string, engine: 'postgres' | 'redis', port: number): Promise<void> {
  const r = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine, upstream: { host: '127.0.0.1', port } }, token);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const a = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: 'terminate', upstreamTls: false }, token);
  expect(a.status, JSON.stringify(a.body)).toBe(200);
}

/** The leaf a TLS listener presents for `servername` (direct TLS; ALPN as given). */
function presented(port: number, servername: string, alpn: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ALPNProtocols: alpn, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
}

interface Injection {
  path: string;
  /** Matches the decoded JWS payload of the request (e.g. an order's identifiers). */
  match: (payload: string) => boolean;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * An HTTPS front to pebble's ACME listener: forwards every request as it is (pebble builds its
 * URLs from the Host header, so the whole conversation stays on the front) except one that
 * matches an injection, which gets the injected answer instead — a CA under load, in one place.
 */
async function startCaFront(
  target: number,
  leaf: { certPem: string; keyPem: string },
): Promise<{ port: number; requests: Array<{ path: string; payload: string }>; inject(i: Injection): void; close(): Promise<void> }> {
  const injections: Injection[] = [];
  const requests: Array<{ path: string; payload: string }> = [];
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let payload = '';
      try {
        payload = Buffer.from((JSON.parse(body.toString()) as { payload: string }).payload, 'base64url').toString();
      } catch {
        // not a JWS (GET of the directory, HEAD of new-nonce)
      }
      requests.push({ path: req.url ?? '', payload });
      const i = injections.findIndex((x) => x.path === req.url && x.match(payload));
      if (i >= 0) {
        const inj = injections.splice(i, 1)[0]!;
        res.writeHead(inj.status, { 'content-type': 'application/problem+json', ...inj.headers });
        res.end(JSON.stringify(inj.body));
        return;
      }
      const up = httpsRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers, ca: testCa().certPem }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    inject: (i) => injections.push(i),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The API's ACME configuration (the in-process API and the replicas the last test starts). */
let apiEnv: () => Record<string, string>;

beforeAll(async () => {
  for (const t of ['pebble', 'pebble-challtestsrv', 'psql', 'redis-cli', 'openssl', 'redis-server']) requireTool(t);
  db = await createTestDatabase();
  postgres = await startTlsPostgres([]);
  redis = await startPlainRedis();
  // An upstream that only counts connections (for "reaches no upstream").
  sink = createServer((s) => {
    sinkAccepts++;
    s.destroy();
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const httpA = await getFreePort();
  const httpB = await getFreePort();
  proxyA = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS }, [`web=http@127.0.0.1:${httpA}`]);
  proxyB = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS }, [`web=http@127.0.0.1:${httpB}`]);
  httpPorts.set(proxyA, httpA).set(proxyB, httpB);
  tlsLb = await startBalancer([proxyA.ports.tls, proxyB.ports.tls]);
  httpLb = await startBalancer([httpA, httpB]);

  const dir = tempDir('sy-e2e-acme-');
  const dnsPort = await getFreePort();
  challMgmt = await getFreePort();
  challtestsrv = await startDaemon(
    'pebble-challtestsrv',
    ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challMgmt}`],
    {},
    'Starting management server',
  );
  // Pebble's own HTTPS certificate (the package ships none), from the test CA.
  const leaf = testCert(['127.0.0.1', 'localhost']);
  writeFileSync(join(dir, 'pebble.crt'), leaf.certPem);
  writeFileSync(join(dir, 'pebble.key'), leaf.keyPem, { mode: 0o600 });
  const caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, testCa().certPem);
  const acmePort = await getFreePort();
  const mgmtPort = await getFreePort();
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, 'pebble.crt'),
        privateKey: join(dir, 'pebble.key'),
        httpPort: httpLb.port,
        tlsPort: tlsLb.port,
        ocspResponderURL: '',
        // Accounts need external account binding, as with ZeroSSL or a private CA.
        externalAccountBindingRequired: true,
        externalAccountMACKeys: { [EAB.kid]: EAB.hmacKey },
        certificateValidityPeriod: VALIDITY_S,
      },
    }),
  );
  pebble = await startDaemon(
    'pebble',
    ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`],
    // No random validation sleeps, no authorization reuse (every order is validated), no
    // deliberately rejected nonces.
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0' },
    'ACME directory available at',
  );
  rootFile = join(dir, 'pebble-root.pem');
  caFront = await startCaFront(acmePort, leaf);
  apiEnv = () => ({
    SWITCHYARD_KEYS: TEST_KEYS,
    ACME_DIRECTORY_URL: `https://127.0.0.1:${caFront.port}/dir`,
    ACME_CA_FILE: caFile,
    ACME_ROOTS_FILE: rootFile,
    ACME_EMAIL: 'ops@example.test',
    ACME_EAB_KID: EAB.kid,
    ACME_EAB_HMAC_KEY: EAB.hmacKey,
    ACME_WORKER_INTERVAL_MS: '200',
    // Every renewal here counts as a duplicate; the limits have unit tests of their own.
    ACME_LIMIT_DUPLICATES_WEEK: '1000',
    ACME_LIMIT_FAILED_PER_HOUR: '1000',
    // A stopped proxy stays live (heartbeat recent) well past the propagation wait, so the
    // SIGSTOP test sees a live proxy that has not applied the challenge.
    PROXY_LIVENESS_MS: '30000',
    PROPAGATION_TIMEOUT_MS: '3000',
  });
  writeFileSync(rootFile, await fetchPem(`https://127.0.0.1:${mgmtPort}/roots/0`, testCa().certPem));

  api = await startApi(db.url, proxyA.ports, apiEnv());
  token = await seedTenant(api);
  otherToken = await seedTenant(api, 'other');
  await terminateRoute('orders', 'postgres', postgres.port);
  await terminateRoute('cache', 'redis', redis.port);
});

afterAll(async () => {
  for (const r of replicas) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGTERM');
      await once(r.child, 'exit');
    }
  }
  await api?.close();
  await Promise.all([proxyA?.stop(), proxyB?.stop(), proxyC?.stop()]);
  for (const c of [pebble, challtestsrv]) {
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      await once(c, 'exit');
    }
  }
  await Promise.all([tlsLb?.close(), httpLb?.close(), caFront?.close()]);
  await new Promise<void>((r) => (sink ? sink.close(() => r()) : r()));
  await redis?.stop();
  await postgres?.cleanup();
  await db?.drop();
});

let ordersId: string;
let ordersIssuedAt: string;

it('TLS-ALPN-01: served with the platform CA until issued, then psql verify-full with pebble’s root connects through both proxies', async () => {
  const r = await acmeCall('POST', '', { hostname: host('orders') });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.body).toMatchObject({ hostname: host('orders'), challenge: 'tls-alpn-01', state: 'pending', certificate: null, servedWith: { kind: 'issued' } });
  ordersId = r.body.id;
  const access = () => api.call('GET', '/api/v1/tenants/acme/databases/orders/external-access', undefined, token);
  const before = (await access()).body;
  expect(before.certificate.kind).toBe('issued');
  // Until issued, the connection strings name the platform CA as the client's root…
  expect(before.connection.psql).toContain('sslrootcert=switchyard-ca.pem');
  expect(before.acme).toMatchObject({ id: ordersId, problem: null });
  const issued = await until(ordersId, (b) => b.state === 'issued', 'issuance');
  const after = (await access()).body;
  expect(after.certificate).toMatchObject({ id: issued.certificate.id, kind: 'acme' });
  // …then the ACME CA's root (a private CA here; a publicly trusted one gives sslrootcert=system).
  expect(after.connection.psql).toContain(`sslrootcert=${host('orders')}-ca.pem`);
  expect(after.acme).toMatchObject({ state: 'issued', renewAt: issued.renewAt });
  expect(issued.servedWith).toEqual({ certificateId: issued.certificate.id, kind: 'acme' });
  expect(issued.problem).toBeNull();
  expect(issued.certificate.issuer).toMatch(/Pebble Intermediate/);
  // Renewal when a third of the lifetime remains.
  const life = Date.parse(issued.certificate.notAfter) - Date.parse(issued.certificate.notBefore);
  expect(Math.abs(Date.parse(issued.renewAt) - (Date.parse(issued.certificate.notAfter) - life / 3))).toBeLessThan(1000);
  ordersIssuedAt = issued.lastIssuedAt;
  // The CA the API hands to clients (connect panel, check connection) is pebble's root, not
  // the intermediate the chain ends at: libpq does not accept an intermediate as its anchor.
  expect(after.ca).not.toBeNull();
  expect(new X509Certificate(after.ca.pem).fingerprint256).toBe(new X509Certificate(readFileSync(rootFile)).fingerprint256);
  const handedCa = join(dirname(rootFile), 'handed-ca.pem');
  writeFileSync(handedCa, after.ca.pem);
  for (const proxy of [proxyA, proxyB]) {
    const q = await run('psql', ['-X', '-A', '-t', '-c', 'select 42', libpq(host('orders'), proxy.ports.postgres, { sslmode: 'verify-full', sslrootcert: handedCa })], { env: { PGPASSWORD: 'postgres' } });
    expect(q.stderr).toBe('');
    expect(q.stdout.trim()).toBe('42');
  }
  // The platform account was registered once, with the contact address, the terms agreed
  // and the external account binding (pebble refuses accounts without one here).
  const signups = caFront.requests.filter((r) => r.path === '/sign-me-up');
  expect(signups).toHaveLength(1);
  const account = JSON.parse(signups[0]!.payload) as { contact: string[]; termsOfServiceAgreed: boolean; externalAccountBinding?: { protected: string } };
  expect(account).toMatchObject({ contact: ['mailto:ops@example.test'], termsOfServiceAgreed: true });
  expect(JSON.parse(Buffer.from(account.externalAccountBinding!.protected, 'base64url').toString())).toMatchObject({ kid: EAB.kid, alg: 'HS256' });
  // Audit: the request, the worker's order and the issuance, each naming the certificate.
  for (const action of ['acme.request', 'acme.order', 'acme.issue']) {
    const audit = await api.call('GET', `/api/v1/tenants/acme/audit-events?action=${action}`, undefined, token);
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e: { targetId: string }) => e.targetId), action).toContain(ordersId);
  }
});

it('terminate mode and ACME in one PUT: pending at once with the platform CA serving, then psql verify-full with pebble’s root connects', async () => {
  const name = 'ledger';
  const c = await api.call('POST', '/api/v1/tenants/acme/databases', { name, engine: 'postgres', upstream: { host: '127.0.0.1', port: postgres.port } }, token);
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const put = await api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, { enabled: true, tlsMode: 'terminate', upstreamTls: false, acme: { challenge: 'tls-alpn-01' } }, token);
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  // One call: the route (serving a platform-CA certificate) and the request, committed together.
  expect(put.body).toMatchObject({ enabled: true, tlsMode: 'terminate', certificate: { kind: 'issued' }, acme: { challenge: 'tls-alpn-01' } });
  expect(['pending', 'validating', 'issued']).toContain(put.body.acme.state);
  expect(put.body.connection.psql).toContain('sslrootcert=switchyard-ca.pem');
  const issued = await until(put.body.acme.id, (b) => b.state === 'issued', 'issuance after the PUT');
  expect(issued).toMatchObject({ hostname: host(name), servedWith: { certificateId: issued.certificate.id, kind: 'acme' }, problem: null });
  const after = (await api.call('GET', `/api/v1/tenants/acme/databases/${name}/external-access`, undefined, token)).body;
  expect(after.certificate).toMatchObject({ id: issued.certificate.id, kind: 'acme' });
  expect(new X509Certificate(after.ca.pem).fingerprint256).toBe(new X509Certificate(readFileSync(rootFile)).fingerprint256);
  const q = await run('psql', ['-X', '-A', '-t', '-c', 'select 42', libpq(host(name), proxyA.ports.postgres, { sslmode: 'verify-full', sslrootcert: rootFile })], { env: { PGPASSWORD: 'postgres' } });
  expect(q.stderr).toBe('');
  expect(q.stdout.trim()).toBe('42');
  // Pebble 2.4.0's directory has no renewalInfo: nothing is scheduled for ARI polling.
  expect((await api.app.prisma.acmeCertificate.findUniqueOrThrow({ where: { id: issued.id } })).ariCheckAt).toBeNull();
  // Off and on again (within the 20 s before this certificate is due): the route kept the
  // issued certificate, and re-enabling with ACME takes it up — no second order at the CA.
  const orders = () => caFront.requests.filter((r) => r.path === '/order-plz').length;
  const ordered = orders();
  const access = (body: unknown) => api.call('PUT', `/api/v1/tenants/acme/databases/${name}/external-access?wait=true`, body, token);
  expect((await access({ enabled: false })).body).toMatchObject({ enabled: false, acme: null, certificate: { id: issued.certificate.id } });
  const again = await access({ enabled: true, acme: { challenge: 'tls-alpn-01' } });
  expect(again.status, JSON.stringify(again.body)).toBe(200);
  expect(again.body).toMatchObject({ enabled: true, certificate: { id: issued.certificate.id, kind: 'acme' }, acme: { state: 'issued' } });
  expect((await acmeCall('GET', `/${again.body.acme.id}`)).body).toMatchObject({ state: 'issued', certificate: { id: issued.certificate.id }, problem: null });
  const q2 = await run('psql', ['-X', '-A', '-t', '-c', 'select 43', libpq(host(name), proxyB.ports.postgres, { sslmode: 'verify-full', sslrootcert: rootFile })], { env: { PGPASSWORD: 'postgres' } });
  expect(q2.stdout.trim()).toBe('43');
  expect(orders()).toBe(ordered);
  // Stop renewing this 30-second certificate (later tests count the worker's renewals).
  expect((await acmeCall('DELETE', `/${again.body.acme.id}`)).status).toBe(204);
});

it('HTTP-01 (answered by the other proxy) issues for a Redis route; redis-cli --tls and openssl s_client verify it on the TLS listener', async () => {
  const r = await acmeCall('POST', '', { hostname: host('cache'), challenge: 'http-01' });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  await until(r.body.id, (b) => b.state === 'issued', 'HTTP-01 issuance');
  const ping = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxyB.ports.tls), '--tls', '--sni', host('cache'), '--cacert', rootFile, 'PING']);
  expect(ping.stderr).toBe('');
  expect(ping.stdout.trim()).toBe('PONG');
  const s = await run('openssl', ['s_client', '-connect', `127.0.0.1:${proxyA.ports.tls}`, '-servername', host('cache'), '-verify_hostname', host('cache'), '-CAfile', rootFile, '-verify_return_error'], { input: 'QUIT\r\n' });
  expect(s.stdout).toContain('Verify return code: 0 (ok)');
});

it('with two proxies behind pebble’s ports, both answer its validations (TLS-ALPN-01 and HTTP-01)', async () => {
  await terminateRoute('twin', 'postgres', postgres.port);
  await terminateRoute('twin-web', 'redis', redis.port);
  const a = await acmeCall('POST', '', { hostname: host('twin') });
  const b = await acmeCall('POST', '', { hostname: host('twin-web'), challenge: 'http-01' });
  expect([a.status, b.status]).toEqual([202, 202]);
  await until(a.body.id, (x) => x.state === 'issued', 'twin issuance');
  await until(b.body.id, (x) => x.state === 'issued', 'twin-web issuance');
  // Every validation connection pebble made went through a balancer, round robin: with at
  // least two of each kind so far, each proxy answered some, and every order was issued.
  const tls = tlsLb.connections.filter((c) => c.alpn.includes('acme-tls/1'));
  expect(new Set(tls.map((c) => c.backend))).toEqual(new Set([proxyA.ports.tls, proxyB.ports.tls]));
  expect(new Set(httpLb.connections.map((c) => c.backend))).toEqual(new Set([httpPorts.get(proxyA), httpPorts.get(proxyB)]));
});

it('a proxy restarted while pebble’s validation waits answers it from its first snapshot', async () => {
  await terminateRoute('restart', 'postgres', postgres.port);
  // Hold pebble's connections at the balancer: the challenge is published, pebble is validating.
  tlsLb.hold();
  const arrived = tlsLb.next((c) => c.serverName === host('restart') && c.alpn.includes('acme-tls/1'));
  const r = await acmeCall('POST', '', { hostname: host('restart') });
  expect(r.status).toBe(202);
  const held = await arrived;
  expect((await acmeCall('GET', `/${r.body.id}`)).body.state).toBe('validating');
  // Proxy A goes away and a new process takes its place, started after the challenge was
  // published; the held validation is sent to it alone.
  const old = proxyA;
  expect(await old.stop()).toBe(0);
  const httpA = await getFreePort();
  proxyA = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS }, [`web=http@127.0.0.1:${httpA}`]);
  httpPorts.delete(old);
  httpPorts.set(proxyA, httpA);
  tlsLb.backends = [proxyA.ports.tls];
  tlsLb.release();
  const issued = await until(r.body.id, (x) => x.state !== 'validating' && x.state !== 'pending', 'issuance after the restart');
  expect(issued.state, JSON.stringify(issued.problem)).toBe('issued');
  expect(held.backend).toBe(proxyA.ports.tls);
  tlsLb.backends = [proxyA.ports.tls, proxyB.ports.tls];
  httpLb.backends = [httpA, httpPorts.get(proxyB)!];
});

/** A plain HTTP GET to the proxy's http listener with the Host header a validator sends. */
function httpGet(port: number, path: string, hostHeader: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = requestHttp({ host: '127.0.0.1', port, path, headers: { host: hostHeader } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a TLS-ALPN-01 validator sees: the selected ALPN and the presented certificate. */
function alpnProbe(port: number, servername: string): Promise<{ alpn: string | false; cert: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      resolve({ alpn: s.alpnProtocol ?? false, cert: new X509Certificate(s.getPeerCertificate().raw) });
      s.destroy();
    });
    s.on('error', reject);
  });
}

it('a pending challenge is answered in memory by every proxy, also by one started while it is pending', async () => {
  // A challenge as the worker publishes it (one row, one route version), without a CA.
  await terminateRoute('probe', 'postgres', postgres.port);
  await terminateRoute('probe-http', 'redis', redis.port);
  const keyAuthorization = 'tok-en.thumbprint';
  const c = await buildTlsAlpnCertificate(host('probe'), keyAuthorization);
  const prisma = api.app.prisma;
  const tenantId = (await prisma.tenant.findFirstOrThrow({ where: { slug: 'acme' } })).id;
  // Not due (no next attempt): the worker leaves these rows alone.
  const acmeRow = await prisma.acmeCertificate.create({ data: { id: randomUUID(), tenantId, hostname: host('probe'), challengeType: 'tls-alpn-01', state: 'validating' } });
  const routes = await prisma.route.findMany({ where: { hostname: { in: [host('probe'), host('probe-http')] } } });
  const id = randomUUID();
  const publish = async (op: 'create' | 'delete') =>
    prisma.$transaction(async (tx) => {
      if (op === 'create') {
        await tx.acmeChallenge.create({ data: { id, acmeCertificateId: acmeRow.id, hostname: host('probe'), type: 'tls-alpn-01', token: 'tok-en', keyAuthorization, certPem: c.certPem, keyCiphertext: keyring.encrypt(c.keyPem, id) } });
        await tx.acmeChallenge.create({ data: { id: randomUUID(), acmeCertificateId: acmeRow.id, hostname: host('probe-http'), type: 'http-01', token: 'http-tok', keyAuthorization: 'http-tok.thumb' } });
      } else {
        await tx.acmeChallenge.deleteMany({ where: { acmeCertificateId: acmeRow.id } });
      }
      return recordRouteChanges(tx, routes.map((r) => ({ routeId: r.id, hostname: r.hostname, op: 'upsert' as const })));
    });
  const version = await publish('create');
  expect((await api.app.services.propagation.waitFor(version, 10_000)).state).toBe('applied');
  const answers = async (proxy: ProxyProcess, http: number) => {
    const probe = await alpnProbe(proxy.ports.tls, host('probe'));
    expect(probe.alpn).toBe('acme-tls/1');
    expect(probe.cert.fingerprint256).toBe(new X509Certificate(c.certPem).fingerprint256);
    const res = await httpGet(http, '/.well-known/acme-challenge/http-tok', host('probe-http'));
    expect(res).toEqual({ status: 200, body: 'http-tok.thumb' });
    // Another token is not ours to answer: routed by Host as usual (no route on this port: 421).
    expect((await httpGet(http, '/.well-known/acme-challenge/other', host('probe-http'))).status).toBe(421);
  };
  await answers(proxyA, httpPorts.get(proxyA)!);
  await answers(proxyB, httpPorts.get(proxyB)!);
  // A proxy (re)started mid-order loads the pending challenge with its first snapshot.
  const httpC = await getFreePort();
  proxyC = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS }, [`web=http@127.0.0.1:${httpC}`]);
  await answers(proxyC, httpC);
  const gone = await publish('delete');
  expect((await api.app.services.propagation.waitFor(gone, 10_000)).state).toBe('applied');
  await expect(alpnProbe(proxyA.ports.tls, host('probe'))).rejects.toThrow(/no application protocol|alert number 120/i);
});

it('acme-tls/1 for a name without a pending challenge is refused and reaches no upstream', async () => {
  const c = await api.call('POST', '/api/v1/tenants/acme/databases', { name: 'sink', engine: 'redis', upstream: { host: '127.0.0.1', port: (sink.address() as AddressInfo).port } }, token);
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const a = await api.call('PUT', '/api/v1/tenants/acme/databases/sink/external-access?wait=true', { enabled: true, tlsMode: 'passthrough' }, token);
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  // `cache` has an issued certificate and, if it is renewing, an HTTP-01 challenge only
  // (`orders` is not used: its 30-second certificate may be mid-renewal with TLS-ALPN-01).
  for (const name of [host('sink'), host('cache'), host('nowhere')]) {
    const err = await new Promise<Error>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: proxyA.ports.tls, servername: name, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => resolve(new Error('handshake completed')));
      s.on('error', resolve);
    });
    expect(err.message, name).toMatch(/no application protocol|alert number 120/i);
  }
  expect(sinkAccepts).toBe(0);
  // The same route without acme-tls/1 is forwarded (passthrough): the refusal was the ALPN.
  await new Promise<void>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: proxyA.ports.tls, servername: host('sink'), rejectUnauthorized: false });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  expect(sinkAccepts).toBe(1);
});

it('a challenge that cannot succeed ends failed with pebble’s problem, retried later with backoff', async () => {
  await terminateRoute('broken', 'postgres', postgres.port);
  // Pebble resolves this name to an address no proxy listens on.
  const add = await fetch(`http://127.0.0.1:${challMgmt}/add-a`, { method: 'POST', body: JSON.stringify({ host: host('broken'), addresses: ['127.0.0.2'] }) });
  expect(add.status).toBe(200);
  const r = await acmeCall('POST', '', { hostname: host('broken') });
  expect(r.status).toBe(202);
  const failed = await until(r.body.id, (b) => b.state === 'failed', 'failure');
  // Pebble's own problem document (its type for an unreachable validation target).
  expect(failed.problem).toMatchObject({ type: 'urn:ietf:params:acme:error:unauthorized', status: 403, renewal: false });
  expect(failed.problem.detail).toMatch(/Failed to connect to 127\.0\.0\.2:\d+ for the tls-alpn-01 challenge/);
  expect(failed.attempts).toBe(1);
  expect(Date.parse(failed.nextAttemptAt) - Date.now()).toBeGreaterThan(50 * 60_000);
  expect(failed.servedWith.kind).toBe('issued');
  const metrics = await (await fetch(`${api.url}/api/v1/acme/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  expect(metrics).toContain('switchyard_acme_certificates{state="failed"} 1');
  expect(metrics).toContain('switchyard_acme_failures_total{reason="urn:ietf:params:acme:error:unauthorized"} 1');
  expect(metrics).toMatch(/switchyard_acme_soonest_expiry_days \d/);
  expect((await api.call('GET', '/api/v1/acme/metrics', undefined, token)).status).toBe(403);
});

it('a tenant cannot order another tenant’s host name, a wildcard, or a passthrough route', async () => {
  const other = await api.call('POST', '/api/v1/tenants/other/acme-certificates', { hostname: host('orders') }, otherToken);
  expect(other.status).toBe(422);
  expect(other.body.code).toBe('SY_ACME_ROUTE_REQUIRED');
  const cross = await api.call('POST', '/api/v1/tenants/acme/acme-certificates', { hostname: host('orders') }, otherToken);
  expect(cross.status).toBe(404);
  expect(cross.body.code).toBe('SY_TENANT_NOT_FOUND');
  const wildcard = await acmeCall('POST', '', { hostname: `*.acme.${BASE_DOMAIN}` });
  expect(wildcard.body.code).toBe('SY_ACME_WILDCARD_UNSUPPORTED');
  const passthrough = await acmeCall('POST', '', { hostname: host('sink') });
  expect(passthrough.body.code).toBe('SY_ACME_ROUTE_REQUIRED');
  const again = await acmeCall('POST', '', { hostname: host('orders') });
  expect(again.body.code).toBe('SY_ACME_EXISTS');
});

it('the CA’s 429 with Retry-After: the order fails with the CA’s problem document and waits at least the Retry-After', async () => {
  await terminateRoute('busy', 'postgres', postgres.port);
  caFront.inject({
    path: '/order-plz',
    match: (payload) => payload.includes(host('busy')),
    status: 429,
    headers: { 'retry-after': '7200' },
    body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'Error creating new order :: too many new orders recently', status: 429 },
  });
  const r = await acmeCall('POST', '', { hostname: host('busy') });
  expect(r.status).toBe(202);
  const failed = await until(r.body.id, (x) => x.state === 'failed', 'the refused order');
  expect(failed.problem).toMatchObject({ type: 'urn:ietf:params:acme:error:rateLimited', status: 429, detail: 'Error creating new order :: too many new orders recently' });
  // The first backoff is an hour; the CA asked for two.
  expect(Date.parse(failed.nextAttemptAt) - Date.now()).toBeGreaterThan(7200_000 - 60_000);
  const metrics = await (await fetch(`${api.url}/api/v1/acme/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  expect(metrics).toContain('switchyard_acme_failures_total{reason="urn:ietf:params:acme:error:rateLimited"} 1');
  expect(metrics).toMatch(/switchyard_acme_orders_total\{renewal="false"\} [1-9]/);
  // Not a failed validation (nothing was validated).
  expect(await api.app.prisma.acmeEvent.count({ where: { hostname: host('busy'), kind: 'failed_validation' } })).toBe(0);
});

it('renews by itself before expiry; an open psql session survives the swap and new handshakes get the new certificate', async () => {
  const session = psqlSession(libpq(host('orders'), proxyA.ports.postgres, { sslmode: 'verify-full', sslrootcert: rootFile }));
  expect(await session.query('select 1')).toBe('1');
  const before = (await acmeCall('GET', `/${ordersId}`)).body;
  const renewed = await until(ordersId, (b) => b.lastIssuedAt !== ordersIssuedAt && b.certificate.fingerprint !== before.certificate.fingerprint, 'renewal');
  expect(renewed.state).toBe('issued');
  expect(renewed.certificate.id).toBe(before.certificate.id);
  expect(await session.query('select 2')).toBe('2');
  const fp = await presented(proxyB.ports.postgres, host('orders'), ['postgresql']);
  expect(fp).toBe(renewed.certificate.fingerprint);
  const audit = await api.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.renew', undefined, token);
  expect(audit.body.items.map((e: { targetId: string }) => e.targetId)).toContain(ordersId);
  const metrics = await (await fetch(`${api.url}/api/v1/acme/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  expect(metrics).toMatch(/switchyard_acme_orders_total\{renewal="true"\} [1-9]/);
  expect(metrics).toMatch(/switchyard_acme_issued_total\{renewal="true"\} [1-9]/);
  // One account for every order and renewal (EAB-bound), its key sealed with the keyring.
  const accounts = await api.app.prisma.acmeAccount.findMany();
  expect(accounts).toHaveLength(1);
  expect(accounts[0]!.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
  expect(accounts[0]!.keyCiphertext).not.toContain('PRIVATE KEY');
  expect(keyring.decrypt(accounts[0]!.keyCiphertext, accounts[0]!.directoryUrl)).toContain('PRIVATE KEY');
  await session.quit();
});

it('a proxy that has not applied the challenge holds the order back: the CA is not asked, and the order goes through once it has', async () => {
  await terminateRoute('held', 'postgres', postgres.port);
  // Proxy B stops applying anything (SIGSTOP) but is still live for PROXY_LIVENESS_MS.
  const b = proxyB.child.pid!;
  process.kill(b, 'SIGSTOP');
  let r: { status: number; body: any } | undefined;
  try {
    r = await acmeCall('POST', '', { hostname: host('held') });
    expect(r.status).toBe(202);
    const failed = await until(r.body.id, (x) => x.state === 'failed', 'the order held back');
    expect(failed.problem).toMatchObject({ type: 'switchyard:notPropagated', renewal: false });
    expect(failed.problem.detail).toContain(`e2e-${proxyB.adminPort}`);
    expect(failed.problem.detail).toContain('the CA was not asked to validate');
  } finally {
    process.kill(b, 'SIGCONT');
  }
  // Pebble never connected for this name, and no failed validation was counted.
  expect(tlsLb.connections.filter((c) => c.serverName === host('held'))).toEqual([]);
  expect(await api.app.prisma.acmeEvent.count({ where: { hostname: host('held'), kind: 'failed_validation' } })).toBe(0);
  const fail = await api.call('GET', '/api/v1/tenants/acme/audit-events?action=acme.fail', undefined, token);
  expect(fail.body.items.map((e: { targetId: string }) => e.targetId)).toContain(r.body.id);
  // Once B has caught up, retrying now issues.
  const version = await currentConfigVersion(api.app.prisma);
  expect((await api.app.services.propagation.waitFor(version, 20_000)).state).toBe('applied');
  expect((await acmeCall('POST', `/${r.body.id}/renew`)).status).toBe(202);
  const issued = await until(r.body.id, (x) => x.state === 'issued', 'issuance after the proxy caught up');
  expect(issued.problem).toBeNull();
  expect(tlsLb.connections.filter((c) => c.serverName === host('held')).length).toBeGreaterThan(0);
});

const leaseHolder = async () => (await api.app.prisma.acmeWorkerLease.findUnique({ where: { id: 1 } }))?.holder ?? null;

it('API replicas: one runs the worker; killed mid-order, the replica that takes over retries the order with the same account', async () => {
  await terminateRoute('crash', 'postgres', postgres.port);
  // Stop renewing the earlier tests' 30-second certificates, which would otherwise keep the
  // one worker busy in front of this order.
  for (const a of (await acmeCall('GET')).body.items as Array<{ id: string; hostname: string }>) {
    expect((await acmeCall('DELETE', `/${a.id}`)).status).toBe(204);
  }
  // Two more replicas as processes; the in-process API's worker steps down (a clean stop
  // hands the lease over at once), so one of the processes runs it.
  const b = await startApiProcess(db.url, proxyA.ports, apiEnv());
  replicas.push(b);
  await api.app.services.acmeWorker!.stop();
  const deadline = Date.now() + 30_000;
  while (!(await leaseHolder())?.includes(`:${b.child.pid}:`)) {
    if (Date.now() > deadline) throw new Error(`replica never took the lease (holder ${await leaseHolder()})`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const c = await startApiProcess(db.url, proxyA.ports, apiEnv());
  replicas.push(c);
  // Pebble's validation is held at the balancer while replica B is killed mid-order.
  tlsLb.hold();
  const arrived = tlsLb.next((x) => x.serverName === host('crash') && x.alpn.includes('acme-tls/1'));
  const r = await acmeCall('POST', '', { hostname: host('crash') });
  expect(r.status).toBe(202);
  await arrived;
  expect((await acmeCall('GET', `/${r.body.id}`)).body.state).toBe('validating');
  b.child.kill('SIGKILL');
  await once(b.child, 'exit');
  tlsLb.release();
  // A killed runner's lease lasts a minute; expire it instead of waiting.
  expect(await leaseHolder()).toContain(`:${b.child.pid}:`);
  await api.app.prisma.$executeRaw`UPDATE acme_worker_lease SET expires_at = now() - interval '1 second'`;
  const issued = await until(r.body.id, (x) => x.state === 'issued', 'issuance by the replica that took over');
  expect(issued.problem).toBeNull();
  expect(await leaseHolder()).toContain(`:${c.child.pid}:`);
  // The order was placed twice (the killed one and the retry); never two runners at once.
  expect(await api.app.prisma.acmeEvent.count({ where: { hostname: host('crash'), kind: 'order' } })).toBe(2);
  // Every replica used the one account: its key generated once, sealed, reused.
  const accounts = await api.app.prisma.acmeAccount.findMany();
  expect(accounts).toHaveLength(1);
  expect(caFront.requests.filter((x) => x.path === '/sign-me-up')).toHaveLength(1);
  // psql verify-full with pebble's root connects with the certificate the new replica stored.
  const q = await run('psql', ['-X', '-A', '-t', '-c', 'select 7', libpq(host('crash'), proxyB.ports.postgres, { sslmode: 'verify-full', sslrootcert: rootFile })], { env: { PGPASSWORD: 'postgres' } });
  expect(q.stdout.trim()).toBe('7');
});
