/**
 * A small Kubernetes API client over node:http(s). Credentials and TLS come from
 * @kubernetes/client-node's KubeConfig (kubeconfig file outside the cluster, the service
 * account inside); requests and watch streams are ours, because client-node 1.4's informers
 * stop on any error other than 410, never notice a stalled stream and leave an agent behind
 * per reconnect. Every request here gets its own agent, destroyed when the request ends.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: { metadata?: { resourceVersion?: string }; code?: number; message?: string; [k: string]: unknown };
}

export interface KubeApi {
  /** `signal` abandons the request (it rejects): e.g. a list in flight when the informer stops. */
  request<T>(method: string, path: string, opts?: { body?: unknown; contentType?: string; query?: Record<string, string | undefined>; signal?: AbortSignal }): Promise<T>;
  watch(path: string, query: Record<string, string>, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void>;
}

/** Requests must not hang forever (watches have their own watchdog). */
const REQUEST_TIMEOUT_MS = 30_000;

export class KubeClient implements KubeApi {
  constructor(private readonly kc: KubeConfig) {}

  private async options(path: string, query: Record<string, string | undefined> = {}): Promise<{ url: URL; opts: https.RequestOptions; mod: typeof https | typeof http }> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const opts: https.RequestOptions = { headers: {} };
    // Reads the service account token file each time (rotated by the kubelet).
    await this.kc.applyToHTTPSOptions(opts);
    return { url, opts, mod: url.protocol === 'https:' ? https : http };
  }

  async request<T>(method: string, path: string, o: { body?: unknown; contentType?: string; query?: Record<string, string | undefined>; signal?: AbortSignal } = {}): Promise<T> {
    const { url, opts, mod } = await this.options(path, o.query);
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    if (o.signal?.aborted) throw new Error(`${method} ${path}: aborted`);
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(url, {
        ...opts,
        method,
        headers: { ...opts.headers, Accept: 'application/json', ...(payload ? { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': payload.length } : {}) },
        timeout: REQUEST_TIMEOUT_MS,
      });
      // Every way a request ends — an answer, a refused connection, a response stream broken
      // halfway (the server or a proxy cut it, a reset), a timeout, an abort — comes here once,
      // and each one destroys the request's agent: no path may leave its connection behind.
      let settled = false;
      let answer: http.IncomingMessage | null = null;
      const settle = (err: Error | null, value?: T) => {
        if (settled) return;
        settled = true;
        o.signal?.removeEventListener('abort', onAbort);
        if (err) req.destroy();
        destroyAgent(opts);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onAbort = () => req.destroy(new Error(`${method} ${path}: aborted`));
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => settle(err));
      // Closed without a complete answer and without an error event (defensive: Node reports
      // these as errors today, but nothing may be left pending or connected if it does not).
      req.on('close', () => {
        if (!answer?.complete) settle(new Error(`${method} ${path}: connection closed before the answer was complete`));
      });
      req.on('response', (res) => {
        answer = res;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => settle(new Error(`${method} ${path}: answer broken off: ${err.message}`)));
        res.on('aborted', () => settle(new Error(`${method} ${path}: answer broken off`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) settle(null, body as T);
          else settle(new KubeError(status, `${method} ${path}: ${status} ${(body as { message?: string } | null)?.message ?? text.slice(0, 200)}`, body));
        });
      });
      req.end(payload);
    });
  }

  /**
   * One watch stream: resolves when the server ends it (normal: timeoutSeconds), rejects on
   * a non-200 answer or a broken connection, stops when `signal` aborts (the watchdog).
   */
  async watch(path: string, query: Record<string, string>, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const { url, opts, mod } = await this.options(path, { ...query, watch: 'true' });
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = mod.request(url, { ...opts, method: 'GET', headers: { ...opts.headers, Accept: 'application/json' } });
      const finish = (err?: Error) => {
        signal.removeEventListener('abort', onAbort);
        req.destroy();
        destroyAgent(opts);
        if (err && !signal.aborted) reject(err);
        else resolve();
      };
      const onAbort = () => finish();
      signal.addEventListener('abort', onAbort);
      req.on('error', (err) => finish(err));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            // The API server's Status object, as for any other request: its message says why
            // (e.g. RBAC's "… cannot watch resource …").
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            const message = (body as { message?: string } | null)?.message ?? text.slice(0, 200);
            finish(new KubeError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode} ${message}`.trim(), body));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          // Once ended (an ERROR event, the watchdog), nothing more of this stream is delivered.
          for (let nl = buf.indexOf('\n'); nl >= 0 && !signal.aborted; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let e: WatchEvent;
            try {
              e = JSON.parse(line) as WatchEvent;
            } catch {
              finish(new Error(`watch ${path}: unparseable event`));
              return;
            }
            onEvent(e);
          }
        });
        res.on('end', () => finish());
        res.on('error', (err) => finish(err));
        res.on('aborted', () => finish(new Error(`watch ${path}: stream aborted`)));
      });
      req.end();
    });
  }
}

function destroyAgent(opts: https.RequestOptions): void {
  const agent = opts.agent as http.Agent | undefined;
  if (agent && typeof agent.destroy === 'function') agent.destroy();
}
