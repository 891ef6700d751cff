/** One shared port: a TCP server whose connections are handled by `handleConnection`. */
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { ListenerContext } from './context.js';
import { handleConnection } from './connection.js';

export class ProxyListener {
  private readonly server: Server;

  constructor(private readonly ctx: ListenerContext) {
    // allowHalfOpen: a client's FIN is forwarded as a FIN upstream instead of closing our
    // side at once, so responses still in flight reach the client.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => handleConnection(socket, ctx));
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
