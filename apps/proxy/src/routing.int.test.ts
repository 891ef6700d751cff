/**
 * Routing and upstreams through a real proxy on real sockets: plain HTTP by Host (curl),
 * HTTPS passthrough (curl), wildcard SNI, PROXY protocol in (test client and HAProxy) and
 * out, destination listeners, dedicated ports, several endpoints with balancing, fail-over
 * and health checks, egress source addresses and the dial-time address guard.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import {
  ControlDb,
  createTestDatabase,
  echo,
  getFreePort,
  rawConnect,
  readUntilClose,
  requireTool,
  startFakeUpstream,
  startTls,
  testCa,
  testCert,
  tlsFailure,
  type FakeUpstream,
  type RouteSpec,
  type TestDatabase,
} from '@switchyard/testkit';
import { buildProxyV1, buildProxyV2 } from '@switchyard/wire';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConnectionEventInput } from './audit/connection-log.js';
import { loadConfig } from './config.js';
import { startProxy, type RunningProxy } from './proxy.js';
import { startHttpUpstream, startTcpUpstream, type HttpUpstream, type TcpUpstream } from './testing/upstreams.js';

const run = promisify(execFile);
const cert = testCert(['*.acme.db.example.com', '*.apps.hub.example.com', 'api.shoot-a.example.com', 'localhost']);
const TRUSTED = '127.0.0.2';

let db: TestDatabase;
let control: ControlDb;
let proxy: RunningProxy;
let web: HttpUpstream;
let tlsA: FakeUpstream;
let tlsB: FakeUpstream;
let dedicatedPorts: number[];
let tmp: string;
let caFile: string;

async function put(spec: RouteSpec): Promise<string> {
  const r = await control.putRoute(spec);
  await proxy.waitForVersion(r.version);
  return r.routeId;
}

/** The next connection event matching `pred`. */
function nextEvent(pred: (e: ConnectionEventInput) => boolean): Promise<ConnectionEventInput> {
  return new Promise((resolve) => {
    const on = (e: ConnectionEventInput) => {
      if (!pred(e)) return;
      proxy.connectionLog.off('record', on);
      resolve(e);
    };
    proxy.connectionLog.on('record', on);
  });
}

/** TLS over a socket that already sent `prefix` (a PROXY header). */
async function tlsAfter(socket: Socket, prefix: Buffer, servername: string): Promise<TLSSocket> {
  socket.write(prefix);
  const tls = tlsConnect({ socket, servername, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => resolve());
    tls.once('error', reject);
  });
  return tls;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sy-routing-'));
  caFile = join(tmp, 'ca.pem');
  writeFileSync(caFile, testCa().certPem);
  db = await createTestDatabase();
  control = new ControlDb(db.url);
  web = await startHttpUpstream('web');
  tlsA = await startFakeUpstream(cert);
  tlsB = await startFakeUpstream(cert);
  dedicatedPorts = [await getFreePort(), await getFreePort()];
  const { version } = await control.putRoute({
    database: 'seed',
    engine: 'redis',
    upstream: { host: '127.0.0.1', port: tlsA.port },
    hostname: 'seed.acme.db.example.com',
    listener: 'tls',
  });
  const config = loadConfig({
    DATABASE_URL: db.url,
    SWITCHYARD_LISTENERS: [
      'postgres=postgres@127.0.0.1:0',
      `tls=tls@127.0.0.1:0;proxy-protocol=${TRUSTED}/32`,
      'web=http@127.0.0.1:0',
      `kube=destination@127.0.0.1:0;proxy-protocol=${TRUSTED}`,
      'egress=egress@127.0.0.1:0',
    ].join(','),
    SWITCHYARD_DEDICATED_PORTS: dedicatedPorts.join(','),
    PROXY_DEDICATED_HOST: '127.0.0.1',
    SWITCHYARD_EGRESS_SOURCE_ADDRESSES: TRUSTED,
    PROXY_ADMIN_PORT: '0',
    PROXY_ADMIN_HOST: '127.0.0.1',
    PROXY_HANDSHAKE_TIMEOUT_MS: '2000',
    PROXY_CONNECT_TIMEOUT_MS: '1000',
    PROXY_AUDIT_FLUSH_MS: '50',
    PROXY_ID: 'routing-proxy',
    PROXY_DRAIN_TIMEOUT_MS: '500',
  });
  proxy = await startProxy(config, pino({ level: process.env.ROUTING_TEST_LOG ?? 'silent' }));
  await proxy.waitForVersion(version);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([web?.close(), tlsA?.close(), tlsB?.close()]);
  await control?.close();
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('http listener (plain HTTP by Host)', () => {
  const curl = async (host: string, path = '/', extra: string[] = []) => {
    const port = proxy.ports.web!;
    const { stdout } = await run('curl', ['-sS', '--max-time', '5', '-w', '\n%{http_code}', '--resolve', `${host}:${port}:127.0.0.1`, ...extra, `http://${host}:${port}${path}`]);
    const lines = stdout.split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };

  beforeAll(async () => {
    await put({ database: 'site', engine: 'http', upstream: { host: '127.0.0.1', port: web.port }, hostname: 'site.acme.db.example.com', listener: 'web' });
    await put({ database: 'apps', engine: 'http', upstream: { host: '127.0.0.1', port: web.port }, hostname: '*.apps.hub.example.com', listener: 'web' });
  });

  it('routes curl by Host, exact and wildcard, and replays the request intact', async () => {
    expect(await curl('site.acme.db.example.com', '/hello?x=1')).toEqual({ status: 200, body: 'web GET /hello?x=1' });
    expect(await curl('Console.APPS.hub.example.com', '/c')).toEqual({ status: 200, body: 'web GET /c' });
    expect(web.hosts).toContain(`Console.APPS.hub.example.com:${proxy.ports.web}`);
  });

  it('answers 404 for unknown hosts, 421 for hosts served on another port, 400 without Host', async () => {
    const unknown = await curl('nope.acme.db.example.com');
    expect(unknown.status).toBe(404);
    // Worded for a web client (the listener serves HTTP), not "no database".
    expect(unknown.body.trim()).toBe('Switchyard: no service is exposed under this host name');
    expect((await curl('seed.acme.db.example.com')).status).toBe(421);
    const s = await rawConnect(proxy.ports.web!);
    const reply = readUntilClose(s);
    s.write('GET / HTTP/1.0\r\n\r\n');
    expect((await reply).toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*no Host header/);
    const ip = await curl('127.0.0.1');
    expect(ip.status).toBe(400);
  });

  it('refuses malformed and oversized heads with 400 and 431', async () => {
    const s = await rawConnect(proxy.ports.web!);
    const reply = readUntilClose(s);
    s.write('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    expect((await reply).toString()).toMatch(/^HTTP\/1\.1 400 /);
    const big = await curl('site.acme.db.example.com', '/', ['-H', `X-Big: ${'x'.repeat(17_000)}`]);
    expect(big.status).toBe(431);
  });
});

describe('SNI routing', () => {
  it('routes HTTPS passthrough with curl --resolve, TLS ending at the upstream', async () => {
    const https = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => res.end(`https ${req.headers.host}`));
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    try {
      await put({ database: 'secure', engine: 'tls', upstream: { host: '127.0.0.1', port: (https.address() as AddressInfo).port }, hostname: 'secure.acme.db.example.com', listener: 'tls' });
      const port = proxy.ports.tls!;
      const { stdout } = await run('curl', ['-sS', '--max-time', '5', '--cacert', caFile, '--resolve', `secure.acme.db.example.com:${port}:127.0.0.1`, `https://secure.acme.db.example.com:${port}/`]);
      expect(stdout).toBe(`https secure.acme.db.example.com:${port}`);
    } finally {
      https.close();
    }
  });

  it('prefers the exact name over a wildcard, case-insensitively and without the trailing dot', async () => {
    await put({ database: 'wild', engine: 'tls', upstream: { host: '127.0.0.1', port: tlsB.port }, hostname: '*.k8s.hub.example.com', listener: 'tls' });
    await put({ database: 'console', engine: 'tls', upstream: { host: '127.0.0.1', port: tlsA.port }, hostname: 'console.k8s.hub.example.com', listener: 'tls' });
    const b = tlsB.connections;
    const a = tlsA.connections;
    const viaWild = await startTls({ port: proxy.ports.tls!, servername: 'Grafana.K8s.Hub.Example.com.' });
    expect(await echo(viaWild, 'w')).toBe('w');
    viaWild.destroy();
    const exact = await startTls({ port: proxy.ports.tls!, servername: 'console.k8s.hub.example.com' });
    expect(await echo(exact, 'e')).toBe('e');
    exact.destroy();
    expect(tlsB.connections).toBe(b + 1);
    expect(tlsA.connections).toBe(a + 1);
  });
});

describe('PROXY protocol from trusted load balancers', () => {
  const client = { address: '198.51.100.7', port: 40001 };
  beforeAll(async () => {
    await put({
      database: 'behind-lb',
      engine: 'redis',
      upstream: { host: '127.0.0.1', port: tlsA.port },
      hostname: 'lb.acme.db.example.com',
      listener: 'tls',
      sourceCidrs: ['198.51.100.0/24'],
    });
  });

  it.each([
    ['v1', buildProxyV1],
    ['v2', buildProxyV2],
  ])('uses the client address from a %s header for policy and audit', async (_v, build) => {
    const event = nextEvent((e) => e.sni === 'lb.acme.db.example.com' && e.outcome === 'ok');
    const sock = await rawConnect(proxy.ports.tls!, TRUSTED);
    const tls = await tlsAfter(sock, build({ source: client, destination: { address: '203.0.113.1', port: 443 } }), 'lb.acme.db.example.com');
    expect(await echo(tls, 'behind the balancer')).toBe('behind the balancer');
    tls.end();
    expect(await event).toMatchObject({ clientAddress: client.address, clientPort: client.port, outcome: 'ok' });
  });

  it('refuses the same header from an untrusted source, and its direct connection by policy', async () => {
    const event = nextEvent((e) => e.reason === 'proxy_header_untrusted');
    const sock = await rawConnect(proxy.ports.tls!, '127.0.0.3');
    const closed = readUntilClose(sock);
    sock.write(buildProxyV2({ source: client, destination: { address: '203.0.113.1', port: 443 } }));
    expect((await closed).length).toBe(0);
    expect(await event).toMatchObject({ clientAddress: '127.0.0.3', outcome: 'rejected' });
    // Without a header the source is the socket's, which the route does not allow.
    expect((await tlsFailure({ port: proxy.ports.tls!, servername: 'lb.acme.db.example.com' })).message).toMatch(/access denied/i);
  });

  it('accepts a trusted connection without a header (balancer health checks) and LOCAL headers', async () => {
    const plain = await startTls({ port: proxy.ports.tls!, servername: 'seed.acme.db.example.com', localAddress: TRUSTED });
    expect(await echo(plain, 'hc')).toBe('hc');
    plain.destroy();
    const event = nextEvent((e) => e.sni === 'seed.acme.db.example.com' && e.clientAddress === TRUSTED && e.outcome === 'ok');
    const local = await tlsAfter(await rawConnect(proxy.ports.tls!, TRUSTED), buildProxyV2(null), 'seed.acme.db.example.com');
    expect(await echo(local, 'local')).toBe('local');
    local.end();
    await event;
  });

  it('takes PROXY v2 from HAProxy (send-proxy-v2) as a real balancer', async () => {
    const front = await getFreePort();
    const cfg = join(tmp, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 100',
        'defaults',
        '  mode tcp',
        '  timeout connect 2s',
        '  timeout client 10s',
        '  timeout server 10s',
        'frontend edge',
        `  bind 127.0.0.1:${front}`,
        '  default_backend switchyard',
        'backend switchyard',
        `  server proxy 127.0.0.1:${proxy.ports.tls} send-proxy-v2 source ${TRUSTED}`,
        '',
      ].join('\n'),
    );
    const haproxy = spawn(requireTool('haproxy'), ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    haproxy.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(haproxy, 'exit');
    try {
      // HAProxy logs nothing on start in -db mode without a log target; wait for its port,
      // unless it dies first (a bad config says why on stderr).
      await Promise.race([
        vi.waitFor(async () => (await rawConnect(front)).destroy(), { timeout: 10_000, interval: 50 }),
        exited.then(() => Promise.reject(new Error(`haproxy exited: ${stderr}`))),
      ]);
      await put({ database: 'behind-lb', engine: 'redis', upstream: { host: '127.0.0.1', port: tlsA.port }, hostname: 'lb.acme.db.example.com', listener: 'tls', sourceCidrs: ['127.0.0.1/32'] });
      const event = nextEvent((e) => e.sni === 'lb.acme.db.example.com' && e.outcome === 'ok');
      const tls = await startTls({ port: front, servername: 'lb.acme.db.example.com', localAddress: '127.0.0.1' });
      expect(await echo(tls, 'through haproxy')).toBe('through haproxy');
      const localPort = tls.localPort;
      tls.end();
      // The audited client is HAProxy's client (127.0.0.1:<its port>), not HAProxy (127.0.0.2).
      expect(await event).toMatchObject({ clientAddress: '127.0.0.1', clientPort: localPort });
    } finally {
      haproxy.kill('SIGTERM');
      if (haproxy.exitCode === null) await exited;
    }
  });
});

describe('destination listener (routing by the PROXY header destination)', () => {
  beforeAll(async () => {
    await put({
      database: 'shoot-a',
      engine: 'kubernetes-api',
      upstream: { host: '127.0.0.1', port: tlsA.port },
      hostname: 'api.shoot-a.example.com',
      listener: 'kube',
      destination: '10.1.2.3:443',
    });
  });

  it('routes an in-cluster client that sends no SNI by the cluster IP it dialled', async () => {
    const event = nextEvent((e) => e.listener === 'kube' && e.outcome === 'ok');
    const sock = await rawConnect(proxy.ports.kube!, TRUSTED);
    const header = buildProxyV2({ source: { address: '10.244.1.9', port: 51000 }, destination: { address: '10.1.2.3', port: 443 } });
    // No servername: the pod dials an IP (kubernetes.default), so its client sends no SNI.
    sock.write(header);
    const tls = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await once(tls, 'secureConnect');
    expect(await echo(tls, 'kubectl get pods')).toBe('kubectl get pods');
    tls.end();
    expect(await event).toMatchObject({ clientAddress: '10.244.1.9', upstream: `127.0.0.1:${tlsA.port}` });
  });

  it('matches an IPv4-mapped IPv6 destination (a dual-stack forwarder) to the IPv4 route', async () => {
    const sock = await rawConnect(proxy.ports.kube!, TRUSTED);
    sock.write(buildProxyV2({ source: { address: 'fd00:10::9', port: 51001 }, destination: { address: '::ffff:10.1.2.3', port: 443 } }));
    const tls = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await once(tls, 'secureConnect');
    expect(await echo(tls, 'dual stack')).toBe('dual stack');
    tls.destroy();
  });

  it('refuses unknown destinations, missing headers and untrusted sources', async () => {
    const cases: Array<[string, Buffer, string]> = [
      [TRUSTED, buildProxyV1({ source: { address: '10.244.1.9', port: 1 }, destination: { address: '10.1.2.4', port: 443 } }), 'unknown_destination'],
      [TRUSTED, Buffer.from([0x16, 3, 1, 0, 10]), 'proxy_header_required'],
      ['127.0.0.3', buildProxyV2({ source: { address: '10.244.1.9', port: 1 }, destination: { address: '10.1.2.3', port: 443 } }), 'proxy_header_untrusted'],
    ];
    for (const [from, bytes, reason] of cases) {
      const event = nextEvent((e) => e.listener === 'kube' && e.reason === reason);
      const sock = await rawConnect(proxy.ports.kube!, from);
      const closed = readUntilClose(sock);
      sock.write(bytes);
      expect((await closed).length).toBe(0);
      await event;
    }
  });
});

describe('PROXY protocol to the upstream', () => {
  let up: TcpUpstream;
  beforeAll(async () => {
    up = await startTcpUpstream({ name: 'pp', expectProxy: true, tls: cert });
  });
  afterAll(() => up.close());

  it.each(['v1', 'v2'] as const)('announces the client with a %s header before the hello', async (version) => {
    await put({ database: `pp${version}`, engine: 'redis', upstream: { host: '127.0.0.1', port: up.port }, hostname: `pp${version}.acme.db.example.com`, listener: 'tls', proxyProtocol: version });
    const seen = up.next();
    const tls = await startTls({ port: proxy.ports.tls!, servername: `pp${version}.acme.db.example.com`, localAddress: '127.0.0.4' });
    expect(await echo(tls, 'after header')).toBe('after header');
    const s = await seen;
    expect(s.proxyHeader).toMatchObject({
      version: version === 'v1' ? 1 : 2,
      command: 'proxy',
      source: { address: '127.0.0.4', port: tls.localPort },
      destination: { address: '127.0.0.1', port: proxy.ports.tls },
    });
    tls.destroy();
  });
});

describe('several endpoints', () => {
  let a: FakeUpstream;
  let b: FakeUpstream;
  beforeAll(async () => {
    a = await startFakeUpstream(cert);
    b = await startFakeUpstream(cert);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  const connectOnce = async (host: string) => {
    const tls = await startTls({ port: proxy.ports.tls!, servername: host });
    expect(await echo(tls, 'ping')).toBe('ping');
    tls.destroy();
  };

  it('balances round-robin across two real upstreams', async () => {
    await put({
      database: 'rr',
      engine: 'redis',
      upstream: { host: '127.0.0.1', port: a.port },
      endpoints: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }],
      hostname: 'rr.acme.db.example.com',
      listener: 'tls',
    });
    const [ca, cb] = [a.connections, b.connections];
    for (let i = 0; i < 6; i++) await connectOnce('rr.acme.db.example.com');
    expect(a.connections - ca).toBe(3);
    expect(b.connections - cb).toBe(3);
  });

  it('keeps a client on one endpoint with source-hash', async () => {
    await put({
      database: 'rr',
      engine: 'redis',
      upstream: { host: '127.0.0.1', port: a.port },
      endpoints: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }],
      balance: 'source-hash',
      hostname: 'rr.acme.db.example.com',
      listener: 'tls',
    });
    const [ca, cb] = [a.connections, b.connections];
    for (let i = 0; i < 4; i++) await connectOnce('rr.acme.db.example.com');
    expect([a.connections - ca, b.connections - cb].sort()).toEqual([0, 4]);
  });

  it('fails over to the next endpoint when one is stopped, before any client byte is forwarded', async () => {
    const dead = await startFakeUpstream(cert);
    const deadPort = dead.port;
    await dead.close();
    await put({
      database: 'fo',
      engine: 'redis',
      upstream: { host: '127.0.0.1', port: deadPort },
      endpoints: [{ host: '127.0.0.1', port: deadPort }, { host: '127.0.0.1', port: b.port }],
      hostname: 'fo.acme.db.example.com',
      listener: 'tls',
    });
    const cb = b.connections;
    const event = nextEvent((e) => e.sni === 'fo.acme.db.example.com' && e.outcome === 'ok');
    for (let i = 0; i < 4; i++) await connectOnce('fo.acme.db.example.com');
    expect(b.connections - cb).toBe(4);
    expect((await event).upstream).toBe(`127.0.0.1:${b.port}`);
  });

  it('skips an endpoint its health checks mark down, and takes it back when it recovers', async () => {
    const flaky = await startFakeUpstream(cert);
    const port = flaky.port;
    await put({
      database: 'hc',
      engine: 'redis',
      upstream: { host: '127.0.0.1', port },
      endpoints: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: b.port }],
      healthCheck: { type: 'tls', intervalMs: 50, timeoutMs: 500, rise: 2, fall: 2 },
      hostname: 'hc.acme.db.example.com',
      listener: 'tls',
    });
    const key = `127.0.0.1:${port}`;
    await vi.waitFor(() => expect(flaky.connections).toBeGreaterThan(1), { timeout: 5000, interval: 20 });
    expect(proxy.upstreams.health.isUp(key)).toBe(true);
    await flaky.close();
    await vi.waitFor(() => expect(proxy.upstreams.health.isUp(key)).toBe(false), { timeout: 5000, interval: 20 });
    const upstreams: Array<string | null | undefined> = [];
    const seen = (e: ConnectionEventInput) => e.sni === 'hc.acme.db.example.com' && upstreams.push(e.upstream);
    proxy.connectionLog.on('record', seen);
    for (let i = 0; i < 4; i++) {
      const done = nextEvent((e) => e.sni === 'hc.acme.db.example.com');
      await connectOnce('hc.acme.db.example.com');
      await done;
    }
    proxy.connectionLog.off('record', seen);
    // Round-robin would have sent two of four to the dead endpoint; none was even tried.
    expect(upstreams).toEqual(Array(4).fill(`127.0.0.1:${b.port}`));
    // Disabling health checks on the route stops its checker and forgets the state.
    await put({ database: 'hc', engine: 'redis', upstream: { host: '127.0.0.1', port }, endpoints: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: b.port }], healthCheck: null, hostname: 'hc.acme.db.example.com', listener: 'tls' });
    expect(proxy.upstreams.health.isUp(key)).toBe(true);
  });

  it('refuses at dial time a name that resolves to a forbidden address', async () => {
    await put({ database: 'dns', engine: 'redis', upstream: { host: 'localhost', port: a.port }, hostname: 'dns.acme.db.example.com', listener: 'tls' });
    const event = nextEvent((e) => e.sni === 'dns.acme.db.example.com');
    const before = a.connections;
    expect((await tlsFailure({ port: proxy.ports.tls!, servername: 'dns.acme.db.example.com' })).message).toMatch(/internal error/i);
    expect(await event).toMatchObject({ outcome: 'rejected', reason: 'upstream_forbidden' });
    expect(a.connections).toBe(before);
    // The verdict is kept with the name's answer: the next connections are refused without a lookup.
    const lookups = async () => (await proxy.metrics.dnsLookups.get()).values.reduce((n, v) => n + v.value, 0);
    const asked = await lookups();
    for (let i = 0; i < 3; i++) {
      const again = nextEvent((e) => e.sni === 'dns.acme.db.example.com');
      await tlsFailure({ port: proxy.ports.tls!, servername: 'dns.acme.db.example.com' });
      expect(await again).toMatchObject({ outcome: 'rejected', reason: 'upstream_forbidden' });
    }
    expect(await lookups()).toBe(asked);
    expect(a.connections).toBe(before);
  });
});

describe('dedicated ports', () => {
  it('opens a route’s own port for clients without SNI, forwards server-first protocols, and closes it when the route moves', async () => {
    const banner = await startTcpUpstream({ name: 'banner', banner: '220 ready\r\n' });
    try {
      const [p1, p2] = dedicatedPorts as [number, number];
      await put({ database: 'legacy', engine: 'tls', upstream: { host: '127.0.0.1', port: banner.port }, hostname: 'legacy.acme.db.example.com', listener: 'tls', dedicatedPort: p1 });
      await proxy.dedicated.settled();
      expect(proxy.dedicated.ports()).toEqual([p1]);
      const s = await rawConnect(p1);
      const [greeting] = (await once(s, 'data')) as [Buffer];
      expect(greeting.toString()).toBe('220 ready\r\n');
      s.write('EHLO x\r\n');
      const [back] = (await once(s, 'data')) as [Buffer];
      expect(back.toString()).toBe('EHLO x\r\n');
      // Moving the route to another port keeps the open connection and closes the old port.
      await put({ database: 'legacy', engine: 'tls', upstream: { host: '127.0.0.1', port: banner.port }, hostname: 'legacy.acme.db.example.com', listener: 'tls', dedicatedPort: p2 });
      await proxy.dedicated.settled();
      expect(proxy.dedicated.ports()).toEqual([p2]);
      await expect(rawConnect(p1)).rejects.toThrow(/ECONNREFUSED/);
      s.write('still open\r\n');
      const [again] = (await once(s, 'data')) as [Buffer];
      expect(again.toString()).toBe('still open\r\n');
      s.destroy();
      // A disabled route's port refuses by closing.
      const off = await control.putRoute({ database: 'legacy', engine: 'tls', upstream: { host: '127.0.0.1', port: banner.port }, hostname: 'legacy.acme.db.example.com', listener: 'tls', dedicatedPort: p2, enabled: false });
      await proxy.waitForVersion(off.version);
      const event = nextEvent((e) => e.listener === 'dedicated' && e.reason === 'route_disabled');
      const refused = await rawConnect(p2);
      expect((await readUntilClose(refused)).length).toBe(0);
      await event;
    } finally {
      await banner.close();
    }
  });
});

describe('egress', () => {
  it('connects to the external server from the route’s source address', async () => {
    const external = await startTcpUpstream({ name: 'external', tls: cert });
    try {
      await put({
        database: 'partner',
        engine: 'tls',
        upstream: { host: '127.0.0.1', port: external.port },
        hostname: 'partner.acme.db.example.com',
        listener: 'egress',
        sourceAddress: TRUSTED,
      });
      const seen = external.next();
      const tls = await startTls({ port: proxy.ports.egress!, servername: 'partner.acme.db.example.com' });
      expect(await echo(tls, 'from a static address')).toBe('from a static address');
      expect((await seen).remoteAddress).toBe(TRUSTED);
      tls.destroy();
      // A source address this proxy does not own is refused, never silently replaced.
      await put({ database: 'partner', engine: 'tls', upstream: { host: '127.0.0.1', port: external.port }, hostname: 'partner.acme.db.example.com', listener: 'egress', sourceAddress: '127.0.0.9' });
      const event = nextEvent((e) => e.sni === 'partner.acme.db.example.com' && e.outcome !== 'ok');
      await tlsFailure({ port: proxy.ports.egress!, servername: 'partner.acme.db.example.com' });
      expect(await event).toMatchObject({ outcome: 'rejected', reason: 'egress_source_unavailable' });
    } finally {
      await external.close();
    }
  });
});
