/**
 * The upstreams of the proxy benchmark, run as their own process (pinned with the load
 * generator, away from the proxy core):
 *  - echo:       TLS server (self-signed ECDSA P-256, cheap to sign with) echoing every byte;
 *  - bulk-tls:   TLS server that, after the client's first byte, streams data until closed;
 *  - bulk-plain: TCP server that, after the replayed ClientHello, streams plain bytes;
 *  - up-tls, up-plain: the upload direction's sinks (TLS, plain TCP): read and discard;
 *  - echo-plain: TCP echo (the soak's plain connections: a ClientHello comes back).
 * Session tickets are disabled so no client could resume; every connection is a full
 * handshake. Ports come from the parent (BENCH_PORTS=echo,bulkTls,bulkPlain,upTls,upPlain[,echoPlain]) so they stay
 * the same across runs and match the routes in the control database.
 */
import { execFileSync } from 'node:child_process';
import { constants } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

const [echoPort, bulkTlsPort, bulkPlainPort, upTlsPort, upPlainPort, echoPlainPort] = (process.env.BENCH_PORTS ?? '').split(',').map(Number) as [number, number, number, number, number, number | undefined];
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=bench.switchyard.test',
        '-addext',
        'subjectAltName=DNS:*.bench.switchyard.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem')),
      cert: readFileSync(join(dir, 'cert.pem')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes until the peer goes away, respecting backpressure. */
function stream(s: Socket): void {
  const pump = () => {
    while (!s.destroyed && s.write(CHUNK));
  };
  s.on('drain', pump);
  pump();
}

function onceFirstData(s: Socket, fn: () => void): void {
  s.once('data', () => {
    s.on('data', () => {}); // keep reading (and discarding) whatever else arrives
    fn();
  });
}

const tlsOptions = {
  ...selfSigned(),
  secureOptions: constants.SSL_OP_NO_TICKET,
  sessionTimeout: 0,
};
const sockets = new Set<Socket>();
const track = (s: Socket) => {
  sockets.add(s);
  s.on('error', () => {});
  s.once('close', () => sockets.delete(s));
};

const echo = createTlsServer(tlsOptions, (s) => {
  track(s);
  s.setNoDelay(true);
  s.on('data', (d: Buffer) => s.write(d));
});
const bulkTls = createTlsServer(tlsOptions, (s) => {
  track(s);
  onceFirstData(s, () => stream(s));
});
const bulkPlain = createTcpServer((s) => {
  track(s);
  onceFirstData(s, () => stream(s));
});
const discard = (s: Socket) => {
  track(s);
  s.on('data', () => {});
};
const upTls = createTlsServer(tlsOptions, discard);
const upPlain = createTcpServer(discard);
const echoPlain = createTcpServer((s) => {
  track(s);
  s.on('data', (d: Buffer) => s.write(d));
});
for (const server of [echo, bulkTls, bulkPlain, upTls, upPlain, echoPlain] as Server[]) server.on('tlsClientError', () => {});

await Promise.all(
  (
    [
      [echo, echoPort],
      [bulkTls, bulkTlsPort],
      [bulkPlain, bulkPlainPort],
      [upTls, upTlsPort],
      [upPlain, upPlainPort],
      ...(echoPlainPort ? ([[echoPlain, echoPlainPort]] as const) : []),
    ] as const
  ).map(
    ([server, port]) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => resolve());
      }),
  ),
);
process.send?.({ type: 'ready' });
process.on('message', (m: { type: string }) => {
  if (m.type === 'count') process.send?.({ type: 'count', open: sockets.size });
});
// The parent holds the IPC channel; when it goes, so do we.
process.on('disconnect', () => process.exit(0));
