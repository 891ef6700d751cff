/**
 * The upstream TLS leg of terminate mode against a real TLS server: what SNI it sends and which
 * name it checks the certificate against — the endpoint's host name by default (an IP address:
 * no SNI, checked as an address), the route's `upstreamServerName` when set.
 */
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { createSecureContext, createServer, type Server } from 'node:tls';
import { testCa, testCert } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamTls } from './terminate.js';

let server: Server;
let port: number;
/** The SNI of each handshake the server saw ('' for none). */
const seen: string[] = [];

beforeAll(async () => {
  // A database certificate as Kubernetes operators issue them: Service names, no pod address.
  const cert = testCert(['pg-rw.acme.svc', 'pg-rw.acme.svc.cluster.local']);
  const context = createSecureContext({ key: cert.keyPem, cert: cert.certPem });
  // One entry per connection ('' until its hello names a server); the dials run one at a time.
  server = createServer({
    key: cert.keyPem,
    cert: cert.certPem,
    SNICallback: (name, cb) => {
      seen[seen.length - 1] = name;
      cb(null, context);
    },
  });
  server.on('connection', () => seen.push(''));
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (s) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server.close());

async function dial(host: string, serverName?: string | null) {
  const before = seen.length;
  const raw = connect({ host: '127.0.0.1', port });
  await once(raw, 'connect');
  try {
    const tls = await upstreamTls(raw, { endpoint: { host, port }, ca: testCa().certPem, alpn: null, serverName, timeoutMs: 5000 });
    tls.destroy();
    return { ok: true as const, sni: seen[before] };
  } catch (err) {
    return { ok: false as const, code: (err as { code?: string }).code, message: (err as Error).message, sni: seen[before] };
  }
}

describe('upstream TLS: server name', () => {
  it('to an IP address without upstreamServerName: no SNI, checked as an address — refused by a certificate that names the Service', async () => {
    const r = await dial('127.0.0.1');
    expect(r).toMatchObject({ ok: false, code: 'upstream_certificate_invalid', sni: '' });
    expect(r.ok || r.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('with upstreamServerName: sent as SNI and the certificate checked against it', async () => {
    expect(await dial('127.0.0.1', 'pg-rw.acme.svc')).toEqual({ ok: true, sni: 'pg-rw.acme.svc' });
  });

  it('with an upstreamServerName the certificate does not carry: refused, naming the name', async () => {
    const r = await dial('127.0.0.1', 'pg-ro.acme.svc');
    expect(r).toMatchObject({ ok: false, code: 'upstream_certificate_invalid', sni: 'pg-ro.acme.svc' });
    expect(r.ok || r.message).toContain('pg-ro.acme.svc');
  });

  it('overrides a host name upstream too (an SNI-routing upstream reached by its own name)', async () => {
    expect(await dial('localhost', 'pg-rw.acme.svc.cluster.local')).toEqual({ ok: true, sni: 'pg-rw.acme.svc.cluster.local' });
    // Without it, the host name is what is sent and checked.
    expect(await dial('localhost')).toMatchObject({ ok: false, code: 'upstream_certificate_invalid', sni: 'localhost' });
  });
});
