/**
 * The engines of the shared `tls` listener other than PostgreSQL — Redis, HTTP(S) apps, the
 * Kubernetes API, generic TLS — through the real proxy process with real clients (redis-cli,
 * curl over HTTP/1.1 and HTTP/2, openssl s_client, kubectl against a small fake API server),
 * in passthrough and terminate mode: what each client prints when it is refused, the ALPN it
 * ends up with, half-close and large transfers both ways, a session left idle.
 *
 * The refusals of terminate-mode routes whose protocol the proxy can speak are answered in
 * that protocol inside TLS (docs/proxy.md "Refusals inside TLS"): an HTTP error response for
 * HTTP and Kubernetes clients, a RESP error for Redis. Passthrough routes, unknown names and
 * generic TLS routes keep their TLS alerts (the proxy has no certificate to answer with, or
 * no protocol to answer in). No answer names an upstream address, and none speaks of a
 * database to curl or kubectl. kubectl's discovery (`kubectl get pods` with a cold cache)
 * prints the reason too.
 *
 * MongoDB is not exercised: no mongod or mongosh is installed here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '@switchyard/pki';
import { ControlDb, createTestDatabase, startTls, TEST_KEYS, testCa, testCert, type TestDatabase } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../support/raw.js';
import { BASE_DOMAIN, startProxyProcess, type ProxyProcess } from '../support/stack.js';
import { run, start } from '../support/tools.js';
import { startTlsRedis, tempDir, type TlsRedis } from '../support/upstreams.js';

const host = (name: string) => `${name}.acme.${BASE_DOMAIN}`;
/** The local redis-server (plaintext), the upstream of terminate-mode Redis routes. */
const LOCAL_REDIS = { host: '127.0.0.1', port: 6379 };
let db: TestDatabase;
let control: ControlDb;
let proxy: ProxyProcess;
let caFile: string;
let kubeCache: string;
let redis: TlsRedis;
/** Plaintext HTTP/1.1. */
let web: HttpServer;
/** HTTPS with h2 and http/1.1 (a certificate from the test CA), also the fake Kubernetes API. */
let h2: Http2SecureServer;
/** Generic TCP: counts bytes until the client's FIN, then answers and closes. */
let counter: Server;
/** Generic TCP: sends as many bytes as the client's first line asks for, then closes. */
let source: Server;
/** A port nothing listens on: never shown to any client. */
let deadPort: number;
/** redis-cli SUBSCRIBE sessions opened first and left idle while every other test runs. */
const idle: Record<'passthrough' | 'terminate', ReturnType<typeof start> & { out: () => string }> = {} as never;

beforeAll(async () => {
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  const dir = tempDir('sy-e2e-engines-');
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, testCa().certPem);
  kubeCache = mkdtempSync(join(tmpdir(), 'sy-e2e-kubectl-'));
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  deadPort = (dead.address() as AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  redis = await startTlsRedis([host('cachepass'), host('cachepassoff')]);
  web = createHttpServer((req, res) => res.end(`hello over http/${req.httpVersion}`));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const leaf = testCert(['127.0.0.1', host('webpass'), host('kubepass')]);
  h2 = createSecureServer({ key: leaf.keyPem, cert: leaf.certPem, allowHTTP1: true }, (req, res) => {
    // What `kubectl get --raw /version` reads from an API server.
    if (req.url === '/version') return void res.end(JSON.stringify({ major: '1', minor: '30', gitVersion: 'v1.30.0-fake' }));
    res.end(`hello over http/${req.httpVersion}`);
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  counter = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(`got ${n}`));
  });
  await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
  source = createServer((s) => {
    s.on('error', () => {});
    s.once('data', (c: Buffer) => {
      let left = Number(c.toString());
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (left > 0) {
          const k = Math.min(left, chunk.length);
          left -= k;
          if (!s.write(chunk.subarray(0, k))) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
  });
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
  const webPort = (web.address() as AddressInfo).port;
  const h2Port = (h2.address() as AddressInfo).port;
  const down = { host: '127.0.0.1', port: deadPort };
  const otherCa = createCertificateAuthority({ commonName: 'Not The Upstream CA' });
  const term = (name: string) => ({ database: name, hostname: host(name), listener: 'tls', tlsMode: 'terminate' as const, certificate: testCert([host(name)]) });
  const pass = (name: string) => ({ database: name, hostname: host(name), listener: 'tls' });
  // Redis.
  await control.putRoute({ ...pass('cachepass'), engine: 'redis', upstream: { host: '127.0.0.1', port: redis.port } });
  await control.putRoute({ ...pass('cachepassoff'), engine: 'redis', upstream: { host: '127.0.0.1', port: redis.port }, enabled: false });
  await control.putRoute({ ...pass('cachepasscap'), engine: 'redis', upstream: { host: '127.0.0.1', port: redis.port }, maxConnections: 1 });
  await control.putRoute({ ...term('cacheterm'), engine: 'redis', upstream: LOCAL_REDIS, upstreamTls: false });
  await control.putRoute({ ...term('cachetermcap'), engine: 'redis', upstream: LOCAL_REDIS, upstreamTls: false, maxConnections: 1 });
  await control.putRoute({ ...term('cachetermgone'), engine: 'redis', upstream: down, upstreamTls: false });
  await control.putRoute({ ...term('cachetermcidr'), engine: 'redis', upstream: LOCAL_REDIS, upstreamTls: false, sourceCidrs: ['10.0.0.0/8'] });
  // upstreamTls against the plaintext redis-server: TLS to it fails.
  await control.putRoute({ ...term('cachetermtls'), engine: 'redis', upstream: LOCAL_REDIS, upstreamTls: true, upstreamCa: testCa().certPem });
  // HTTPS apps: `tls` routes, as the API and the controller create them for this listener (an
  // `http` route belongs on an `http` listener; the proxy still serves one here: webterm).
  await control.putRoute({ ...term('webterm'), engine: 'http', upstream: { host: '127.0.0.1', port: webPort }, upstreamTls: false });
  await control.putRoute({ ...term('webh2'), engine: 'http', upstream: { host: '127.0.0.1', port: h2Port }, upstreamTls: true, upstreamCa: testCa().certPem });
  await control.putRoute({ ...term('webbadca'), engine: 'tls', upstream: { host: '127.0.0.1', port: h2Port }, upstreamTls: true, upstreamCa: otherCa.certPem });
  await control.putRoute({ ...term('webgone'), engine: 'tls', upstream: down, upstreamTls: false });
  await control.putRoute({ ...term('weboff'), engine: 'tls', upstream: { host: '127.0.0.1', port: webPort }, upstreamTls: false, enabled: false });
  await control.putRoute({ ...term('webcidr'), engine: 'tls', upstream: { host: '127.0.0.1', port: webPort }, upstreamTls: false, sourceCidrs: ['10.0.0.0/8'] });
  await control.putRoute({ ...term('webcap'), engine: 'tls', upstream: { host: '127.0.0.1', port: webPort }, upstreamTls: false, maxConnections: 1 });
  await control.putRoute({ ...pass('webpass'), engine: 'http', upstream: { host: '127.0.0.1', port: h2Port } });
  await control.putRoute({ ...pass('webpassgone'), engine: 'http', upstream: down });
  // Kubernetes API.
  await control.putRoute({ ...pass('kubepass'), engine: 'kubernetes-api', upstream: { host: '127.0.0.1', port: h2Port } });
  await control.putRoute({ ...term('kubegone'), engine: 'kubernetes-api', upstream: down, upstreamTls: false });
  await control.putRoute({ ...term('kubeoff'), engine: 'kubernetes-api', upstream: { host: '127.0.0.1', port: h2Port }, upstreamTls: false, enabled: false });
  // Generic TLS.
  await control.putRoute({ ...term('countterm'), engine: 'tls', upstream: { host: '127.0.0.1', port: (counter.address() as AddressInfo).port }, upstreamTls: false });
  await control.putRoute({ ...term('sourceterm'), engine: 'tls', upstream: { host: '127.0.0.1', port: (source.address() as AddressInfo).port }, upstreamTls: false });
  await control.putRoute({ ...term('tlsgone'), engine: 'tls', upstream: down, upstreamTls: false });
  proxy = await startProxyProcess(db.url, { SWITCHYARD_KEYS: TEST_KEYS, PROXY_CONNECT_TIMEOUT_MS: '4000' });
  for (const [mode, name, ca] of [
    ['passthrough', 'cachepass', redis.caFile],
    ['terminate', 'cacheterm', caFile],
  ] as const) {
    const sub = start('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host(name), '--cacert', ca, 'SUBSCRIBE', `sy-e2e-idle-${mode}`]);
    let out = '';
    sub.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitForOutput(sub.child.stdout!, `sy-e2e-idle-${mode}`);
    idle[mode] = { ...sub, out: () => out };
  }
});

afterAll(async () => {
  for (const sub of Object.values(idle)) {
    sub.child.kill('SIGTERM');
    await sub.done;
  }
  await proxy?.stop();
  await redis?.stop();
  for (const s of [web, h2, counter, source]) await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  await control?.close();
  await db?.drop();
});

const curl = (name: string, ...args: string[]) =>
  run('curl', ['-sS', '-v', '--resolve', `${host(name)}:${proxy.ports.tls}:127.0.0.1`, '--cacert', caFile, `https://${host(name)}:${proxy.ports.tls}/`, ...args]);
const redisCli = (name: string, ...args: string[]) =>
  run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host(name), '--cacert', caFile, ...args]);
const kubectlWith = (cache: string, name: string, ...args: string[]) =>
  run('kubectl', ['--server', `https://127.0.0.1:${proxy.ports.tls}`, '--tls-server-name', host(name), '--certificate-authority', caFile, '--token', 'e2e', '--cache-dir', cache, ...args], {
    env: { KUBECONFIG: '/dev/null' },
  });
const kubectl = (name: string, ...args: string[]) => kubectlWith(kubeCache, name, ...args);
const sClient = (name: string, ...args: string[]) => run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.tls}`, '-servername', host(name), '-CAfile', caFile, ...args]);

/** Nothing a client reads names an upstream: no loopback address, no upstream port. */
function expectNoUpstreamAddress(text: string): void {
  expect(text).not.toContain('127.0.0.1');
  expect(text).not.toContain(String(deadPort));
  expect(text).not.toContain(String(LOCAL_REDIS.port));
}

describe('HTTPS apps in terminate mode: a client that offered http/1.1 reads refusals after routing as HTTP responses inside TLS', () => {
  for (const version of ['--http1.1', '--http2']) {
    it(`upstream down: curl ${version} reads 502 with the reason, not "tlsv1 alert internal error"`, async () => {
      const r = await curl('webgone', version, '-i');
      expect(r.stderr).not.toMatch(/alert internal error/);
      expect(r.code).toBe(0);
      // curl --http2 offered h2 and http/1.1: the proxy answers in HTTP/1.1, which it offers.
      expect(r.stderr).toMatch(/ALPN: server accepted http\/1\.1/);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(r.stdout).toContain('Connection: close');
      // Worded for an HTTPS app, not a database (it said "the database server" to curl).
      expect(r.stdout).toContain('Switchyard: the upstream server is not reachable');
      expect(r.stdout).not.toMatch(/database/i);
      expectNoUpstreamAddress(r.stdout);
    });
  }

  it("upstream TLS certificate not signed by the route's upstreamCa: 502 naming the certificate check", async () => {
    const r = await curl('webbadca', '--http2', '-i');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 502 /);
    expect(r.stdout).toContain("certificate failed verification against the route's upstream CA");
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'upstream_certificate_invalid')).toBe(1);
  });

  it('access disabled: 404; source address not allowed: 403', async () => {
    const off = await curl('weboff', '-i');
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(off.stdout).toContain('Switchyard: external access to this service is disabled');
    const fenced = await curl('webcidr', '--http2', '-i');
    expect(fenced.code).toBe(0);
    expect(fenced.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(fenced.stdout).toContain('Switchyard: your address is not allowed to reach this service');
    // -f: curl's own exit code for an HTTP error is what scripts check.
    expect((await curl('weboff', '-f')).code).toBe(22);
  });

  it('connection limit reached: 429 while a session holds the only slot; served again once it closes', async () => {
    const held = await startTls({ port: proxy.ports.tls, servername: host('webcap'), ca: testCa().certPem, alpn: ['http/1.1'] });
    try {
      const r = await curl('webcap', '-i');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
      expect(r.stdout).toContain('Switchyard: too many connections to this service');
    } finally {
      const closed = new Promise((r) => held.once('close', r));
      held.destroy();
      await closed;
    }
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'route_connection_limit')).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => (await curl('webcap')).stdout, { timeout: 5000 }).toBe('hello over http/1.1');
  });

  it('a client that did not offer http/1.1 keeps the internal_error alert (h2 only, or no ALPN: its protocol is unknown)', async () => {
    const h2Only = await sClient('webgone', '-alpn', 'h2');
    expect(h2Only.stdout + h2Only.stderr).toMatch(/alert internal error/);
    const none = await sClient('webgone');
    expect(none.stdout + none.stderr).toMatch(/alert internal error/);
    // The same tool offering http/1.1 is an HTTP client: it reads the 502.
    const http1 = await run('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.ports.tls}`, '-servername', host('webgone'), '-CAfile', caFile, '-alpn', 'http/1.1', '-quiet'], {
      input: `GET / HTTP/1.1\r\nHost: ${host('webgone')}\r\n\r\n`,
    });
    expect(http1.stdout).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  });

  it('the refusals are recorded with their reasons (metrics)', async () => {
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'upstream_unreachable')).toBeGreaterThanOrEqual(3);
    expect(m.closed('tls', 'route_disabled')).toBeGreaterThanOrEqual(2);
    expect(m.closed('tls', 'source_not_allowed')).toBeGreaterThanOrEqual(1);
  });
});

describe('kubectl through the tls listener', () => {
  it('passthrough: kubectl --tls-server-name reaches the API server (TLS ends there)', async () => {
    const r = await kubectl('kubepass', 'get', '--raw', '/version');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ gitVersion: 'v1.30.0-fake' });
  });

  it('terminate mode, API server down: kubectl prints the reason as an API error, not "remote error: tls: internal error"', async () => {
    const r = await kubectl('kubegone', 'get', '--raw', '/api/v1/namespaces/default/pods');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (ServiceUnavailable): Switchyard: the Kubernetes API server is not reachable');
    expect(r.stderr).not.toMatch(/tls: internal error|database/);
    expectNoUpstreamAddress(r.stderr.replace(`https://127.0.0.1:${proxy.ports.tls}`, ''));
  });

  it('terminate mode, access disabled: kubectl prints Forbidden with the reason', async () => {
    const r = await kubectl('kubeoff', 'get', '--raw', '/api/v1/namespaces/default/pods');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden): Switchyard: external access to this Kubernetes API server is disabled');
  });

  // client-go's discovery (a cold cache: `kubectl get pods`, `kubectl version`) reads /api,
  // /apis and /version with Result.Raw(), which never decodes a Status: a JSON body was shown
  // as "unknown", and a 404 as "the server could not find the requested resource".
  it('terminate mode, API server down: kubectl get pods with a cold discovery cache prints the reason, not "unknown"', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'sy-e2e-kubectl-cold-'));
    const r = await kubectlWith(cache, 'kubegone', 'get', 'pods');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (InternalError): an error on the server ("Switchyard: the Kubernetes API server is not reachable") has prevented the request from succeeding');
    expect(r.stderr).not.toContain('("unknown")');
    const version = await kubectlWith(cache, 'kubegone', 'version');
    expect(version.stderr).toContain('("Switchyard: the Kubernetes API server is not reachable")');
  });

  it('terminate mode, access disabled: kubectl get pods prints Forbidden with the reason, not "could not find the requested resource"', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'sy-e2e-kubectl-cold-'));
    const r = await kubectlWith(cache, 'kubeoff', 'get', 'pods');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden): Switchyard: external access to this Kubernetes API server is disabled');
    expect(r.stderr).not.toContain('could not find the requested resource');
  });
});

describe('Redis', () => {
  it('terminate mode, upstream down, TLS to it failing, source not allowed: redis-cli prints an ERR reply with the reason', async () => {
    const gone = await redisCli('cachetermgone', 'PING');
    expect(gone.stdout + gone.stderr).toContain('ERR Switchyard: the Redis server is not reachable');
    expect(gone.stdout + gone.stderr).not.toMatch(/SSL_connect failed/);
    expectNoUpstreamAddress(gone.stdout + gone.stderr.replace(`127.0.0.1:${proxy.ports.tls}`, ''));
    const tlsFailed = await redisCli('cachetermtls', 'PING');
    expect(tlsFailed.stdout + tlsFailed.stderr).toContain('ERR Switchyard: TLS to the Redis server failed');
    const fenced = await redisCli('cachetermcidr', 'PING');
    expect(fenced.stdout + fenced.stderr).toContain('ERR Switchyard: your address is not allowed to reach this Redis database');
  });

  it('terminate mode, connection limit: the second redis-cli reads "too many connections", as from redis-server over maxclients', async () => {
    const sub = start('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachetermcap'), '--cacert', caFile, 'SUBSCRIBE', 'sy-e2e-cap']);
    try {
      await waitForOutput(sub.child.stdout!, 'sy-e2e-cap');
      const r = await redisCli('cachetermcap', 'PING');
      expect(r.stdout + r.stderr).toContain('ERR Switchyard: too many connections to this Redis database');
    } finally {
      sub.child.kill('SIGTERM');
      await sub.done;
    }
  });

  it('passthrough: disabled gets the unrecognized_name alert, the connection limit internal_error (TLS runs to redis-server: the alert is all the proxy can send)', async () => {
    const off = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachepassoff'), '--cacert', redis.caFile, 'PING']);
    expect(off.stdout + off.stderr).toMatch(/SSL_connect failed: tlsv1 unrecognized name/);
    const sub = start('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachepasscap'), '--cacert', redis.caFile, 'SUBSCRIBE', 'sy-e2e-passcap']);
    try {
      await waitForOutput(sub.child.stdout!, 'sy-e2e-passcap');
      const capped = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host('cachepasscap'), '--cacert', redis.caFile, 'PING']);
      expect(capped.stdout + capped.stderr).toMatch(/SSL_connect failed: tlsv1 alert internal error/);
    } finally {
      sub.child.kill('SIGTERM');
      await sub.done;
    }
  });

  it('curl with http:// on the TLS port reads 400 naming https://, not "Empty reply from server"', async () => {
    const r = await run('curl', ['-sS', '-i', '--resolve', `${host('webterm')}:${proxy.ports.tls}:127.0.0.1`, `http://${host('webterm')}:${proxy.ports.tls}/`]);
    expect(r.stderr).not.toMatch(/Empty reply/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.stdout).toContain('Switchyard: a plain HTTP request was sent to a port that expects TLS; use https://');
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'http_on_tls_port')).toBe(1);
  });

  it('redis-cli without --tls on the TLS port reads an error naming --tls --sni, not "Server closed the connection"', async () => {
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), 'PING']);
    expect(r.stdout + r.stderr).not.toMatch(/Server closed the connection|I\/O error/);
    expect(r.stdout + r.stderr).toContain('ERR Switchyard: this port expects TLS from the first byte; connect with TLS and the host name as SNI (redis-cli --tls --sni <host>)');
    const m = await Metrics.fetch(proxy.adminPort);
    expect(m.closed('tls', 'redis_on_tls_port')).toBe(1);
  });

  it('an unknown name: every client reads unrecognized_name', async () => {
    const r = await redisCli('nowhere', 'PING');
    expect(r.stdout + r.stderr).toMatch(/SSL_connect failed: tlsv1 unrecognized name/);
    const c = await curl('nowhere');
    expect(c.code).toBe(35);
    expect(c.stderr).toMatch(/tlsv1 unrecognized name/);
  });

  for (const [mode, name] of [
    ['passthrough', 'cachepass'],
    ['terminate', 'cacheterm'],
  ] as const) {
    it(`${mode}: an 8 MiB value both ways (redis-cli -x SET, GET)`, async () => {
      const ca = mode === 'passthrough' ? redis.caFile : caFile;
      const cli = (...args: string[]) => ['-h', '127.0.0.1', '-p', String(proxy.ports.tls), '--tls', '--sni', host(name), '--cacert', ca, ...args];
      const value = 'v'.repeat(8 * 1024 * 1024);
      const set = await run('redis-cli', cli('-x', 'SET', `sy-e2e-big-${mode}`), { input: value });
      expect(set.stdout.trim()).toBe('OK');
      const get = await run('redis-cli', cli('--no-raw', 'STRLEN', `sy-e2e-big-${mode}`));
      expect(get.stdout.trim()).toBe(`(integer) ${value.length}`);
      const back = await run('redis-cli', cli('GET', `sy-e2e-big-${mode}`));
      expect(back.stdout.length).toBe(value.length + 1);
    });
  }
});

describe('ALPN through both modes', () => {
  it('passthrough: the HTTPS server itself chooses (curl --http2 gets h2, --http1.1 gets http/1.1)', async () => {
    const two = await curl('webpass', '--http2');
    expect(two.stderr).toMatch(/ALPN: server accepted h2/);
    expect(two.stdout).toBe('hello over http/2.0');
    const one = await curl('webpass', '--http1.1');
    expect(one.stdout).toBe('hello over http/1.1');
  });

  it('terminate mode, TLS upstream offering h2: the client is given what the upstream chose', async () => {
    const two = await curl('webh2', '--http2');
    expect(two.stderr).toMatch(/ALPN: server accepted h2/);
    expect(two.stdout).toBe('hello over http/2.0');
    const one = await curl('webh2', '--http1.1');
    expect(one.stderr).toMatch(/ALPN: server accepted http\/1\.1/);
    expect(one.stdout).toBe('hello over http/1.1');
  });

  it('terminate mode, plaintext HTTP upstream: http/1.1, never h2', async () => {
    const r = await curl('webterm', '--http2');
    expect(r.stderr).toMatch(/ALPN: server accepted http\/1\.1/);
    expect(r.stdout).toBe('hello over http/1.1');
  });

  it('passthrough, upstream down: a TLS alert (the proxy holds no certificate for it)', async () => {
    const r = await curl('webpassgone');
    expect(r.code).toBe(35);
    expect(r.stderr).toMatch(/alert internal error/);
  });
});

describe('generic TLS in terminate mode', () => {
  it('half-close: 48 MiB sent then FIN (close_notify); the answer sent after the FIN arrives', async () => {
    const t = await startTls({ port: proxy.ports.tls, servername: host('countterm'), ca: testCa().certPem });
    const size = 48 * 1024 * 1024;
    t.end(Buffer.alloc(size, 0x62));
    expect(await readAll(t)).toBe(`got ${size}`);
  });

  it('48 MiB downstream, then the upstream closes: every byte arrives before the end', async () => {
    const t = await startTls({ port: proxy.ports.tls, servername: host('sourceterm'), ca: testCa().certPem });
    const size = 48 * 1024 * 1024;
    t.write(String(size));
    let n = 0;
    t.on('data', (c: Buffer) => (n += c.length));
    await new Promise((r) => t.once('end', r));
    expect(n).toBe(size);
  });

  it('upstream down: openssl s_client reads the internal_error alert (no protocol to answer in)', async () => {
    const r = await sClient('tlsgone');
    expect(r.stdout + r.stderr).toMatch(/alert internal error/);
  });
});

/** Resolves once `text` has appeared on `stream`. */
function waitForOutput(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
  });
}

function readAll(t: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    t.on('data', (c: Buffer) => (out += c.toString()));
    t.once('end', () => resolve(out));
    t.once('error', reject);
  });
}

describe('sessions left idle', () => {
  // Last in the file: the subscribers opened in beforeAll sat idle while everything above ran
  // (idle timeouts are off by default: a subscriber may wait for hours).
  for (const mode of ['passthrough', 'terminate'] as const) {
    it(`${mode}: a redis-cli SUBSCRIBE opened first still receives a message published now`, async () => {
      const sub = idle[mode];
      expect(sub.child.exitCode).toBeNull();
      const received = waitForOutput(sub.child.stdout!, `ping-${mode}`);
      const publish =
        mode === 'passthrough'
          ? await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--tls', '--cacert', redis.caFile, 'PUBLISH', `sy-e2e-idle-${mode}`, `ping-${mode}`])
          : await run('redis-cli', ['-h', '127.0.0.1', '-p', String(LOCAL_REDIS.port), 'PUBLISH', `sy-e2e-idle-${mode}`, `ping-${mode}`]);
      expect(publish.stdout.trim()).toBe('1');
      await received;
      expect(sub.out()).toContain(`ping-${mode}`);
    });
  }
});
