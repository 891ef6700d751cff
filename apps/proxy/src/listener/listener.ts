/** One shared port: a TCP server whose connections are handled by `handleConnection`. */
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { ListenerContext } from './context.js';
import { handleConnection } from './connection.js';
import { KEEPALIVE_MS } from '../pipe/pipe.js';

type TcpHandle = { setNoDelay?(on: boolean): number; setKeepAlive?(on: boolean, delaySeconds: number): number };

/**
 * TCP_NODELAY and keepalive (every proxied connection gets both; keepalive is how half-dead
 * peers behind NATs are found) set once on the listening socket: Linux copies a listener's
 * socket options to each socket it accepts (and arms the keepalive timer,
 * tcp_create_openreq_child), which saves five `setsockopt` calls per connection — one for
 * TCP_NODELAY, four for keepalive (issue 13). False where that does not hold or the handle is
 * not a real socket (cluster round-robin: the primary accepts); each connection then sets
 * them itself.
 */
function setOnListener(server: Server): boolean {
  if (process.platform !== 'linux') return false;
  const h = (server as unknown as { _handle?: TcpHandle | null })._handle;
  if (!h || typeof h.setNoDelay !== 'function' || typeof h.setKeepAlive !== 'function') return false;
  return h.setNoDelay(true) === 0 && h.setKeepAlive(true, KEEPALIVE_MS / 1000) === 0;
}

export class ProxyListener {
  private readonly server: Server;

  constructor(private readonly ctx: ListenerContext) {
    // allowHalfOpen: a client's FIN is forwarded as a FIN upstream instead of closing our
    // side at once, so responses still in flight reach the client.
    // TCP_NODELAY: on the listening socket (`setOnListener`), else per connection.
    this.server = createServer({ allowHalfOpen: true }, (socket) => handleConnection(socket, ctx));
    this.server.on('error', (err) => ctx.log.error({ err, listener: ctx.spec.name }, 'listener error'));
  }

  get name(): string {
    return this.ctx.spec.name;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.ctx.spec.host, port: this.ctx.spec.port, backlog: 4096 }, () => {
        this.server.removeListener('error', reject);
        // Before any connection is accepted: 'listening' runs ahead of the first poll.
        this.ctx.socketOptionsInherited = setOnListener(this.server);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting; open connections are left alone. Resolves once the listening socket is
   * closed — not when the last connection ends, which is what `server.close`'s callback
   * waits for (draining has its own deadline in `proxy.ts`).
   */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    this.server.close();
    return Promise.resolve();
  }
}
