/**
 * A TCP load balancer in front of several proxies, as a platform runs them behind one public
 * address: each accepted connection goes to the next backend in turn (round robin). It reads
 * the TLS ClientHello first (the wire package's parser) to record the host name and ALPN each
 * connection asked for, and can hold new connections, before dialling any backend, until
 * released — so a test can restart a backend while a client (an ACME validator) waits.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { parseClientHello } from '@switchyard/wire';

export interface BalancedConnection {
  serverName: string | null;
  alpn: string[];
  /** The backend port it was sent to (null while held). */
  backend: number | null;
}

export interface Balancer {
  port: number;
  /** Backend ports, in turn; may be replaced at any time. */
  backends: number[];
  /** Every connection seen, in arrival order. */
  connections: BalancedConnection[];
  /** From now on, new connections wait (their hello read) until release(). */
  hold(): void;
  release(): void;
  /** The first connection from now on whose hello matches. */
  next(match: (c: BalancedConnection) => boolean): Promise<BalancedConnection>;
  close(): Promise<void>;
}

export async function startBalancer(backends: number[]): Promise<Balancer> {
  let turn = 0;
  let held: Array<() => void> | null = null;
  const waiters: Array<{ match: (c: BalancedConnection) => boolean; resolve: (c: BalancedConnection) => void }> = [];
  const sockets = new Set<Socket>();
  const connections: BalancedConnection[] = [];

  const forward = (client: Socket, first: Buffer, c: BalancedConnection) => {
    const port = lb.backends[turn++ % lb.backends.length]!;
    c.backend = port;
    const upstream = connect(port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.write(first);
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  };

  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = parseClientHello(buf);
      if (r.status === 'need-more') return;
      client.off('data', onData);
      client.pause();
      const c: BalancedConnection = { serverName: r.status === 'ok' ? r.value.serverName : null, alpn: r.status === 'ok' ? r.value.alpn : [], backend: null };
      connections.push(c);
      for (const w of waiters.filter((x) => x.match(c))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(c);
      }
      const go = () => {
        forward(client, buf, c);
        client.resume();
      };
      if (held) held.push(go);
      else go();
    };
    client.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  const lb: Balancer = {
    port: (server.address() as AddressInfo).port,
    backends,
    connections,
    hold: () => {
      held ??= [];
    },
    release: () => {
      const go = held ?? [];
      held = null;
      for (const g of go) g();
    },
    next: (match) => new Promise((resolve) => waiters.push({ match, resolve })),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return lb;
}
