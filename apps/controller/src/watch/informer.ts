/**
 * A supervised list+watch cache of one resource (fluent-client's Watcher and client-go's
 * reflector in spirit):
 *
 * - list (with its resourceVersion) → replace the cache → watch from that version with
 *   bookmarks; a stream the server ends normally is re-opened from the last version seen;
 * - 410 Gone (as an answer or an ERROR event) → relist, at once the first time after a
 *   working stream, with backoff when it repeats;
 * - any other failure (an error answer, a broken stream, an ERROR event such as 504 "Too large
 *   resource version") → relist after a jittered exponential backoff (never gives up); the
 *   backoff resets only once a stream delivered an event or a bookmark, so a server that fails
 *   every watch at once is never hammered;
 * - a watchdog restarts a stream silent for longer than `silenceMs` (bookmarks count as
 *   life), since a half-dead connection otherwise hangs forever;
 * - a full relist every `relistMs` as a safety net;
 * - a resource not served (optional CRD not installed) is looked for again every `backoffMaxMs`,
 *   so installing the CRD later takes effect within that;
 * - 403 Forbidden (the ClusterRole lacks list or watch): `forbidden` says so (logged once, as an
 *   error naming the verb), retried with backoff — RBAC may be fixed while we run; never read as
 *   "no objects" (the controller decides what it can still do without the resource);
 * - `synced` only after the first complete list: nothing may be deleted before.
 *
 * An event only calls `onChange()`; consumers re-read the whole cache (level-triggered).
 */
import { KubeError, type KubeApi, type WatchEvent } from '../kube/client.js';
import type { KubeObject } from '../translate/objects.js';

export interface InformerOptions {
  /** e.g. /api/v1/services or /apis/switchyard.io/v1alpha1/externalaccesses */
  path: string;
  /** Label for logs and metrics. */
  resource: string;
  silenceMs: number;
  relistMs: number;
  /** Server-side watch timeout (seconds); the server ends the stream, we re-open it. */
  watchTimeoutSeconds: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** A resource whose CRD may be missing (Gateway API): 404 counts as an empty synced list. */
  optional?: boolean;
  /** The jitter's random source (tests make it deterministic). */
  random?: () => number;
}

export interface InformerEvents {
  onChange(): void;
  onRestart(resource: string, reason: string): void;
  onEvent(resource: string): void;
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

interface ListResponse {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

export class Informer<T extends KubeObject> {
  private cache = new Map<string, T>();
  private resourceVersion = '';
  private hasSynced = false;
  private stopped = true;
  private abort: AbortController | null = null;
  /** The list in flight (stop() abandons it). */
  private listAbort: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private lastActivity = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
  private relistTimer: NodeJS.Timeout | null = null;
  private needRelist = true;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  /** The current stream ended with an ERROR event (a Status object). */
  private streamError: { gone: boolean; message: string } | null = null;
  /** The current stream delivered an event or a bookmark: the server works. */
  private streamHealthy = false;
  /** Restarts since start (watchdog, errors, 410, periodic relists). */
  restarts = 0;
  /** The resource does not exist on this server (optional CRDs). */
  absent = false;
  /** RBAC refuses to list or watch it: `<verb>: <the server's message>`, or null. */
  private denied: { verb: 'list' | 'watch'; message: string } | null = null;

  constructor(
    private readonly api: KubeApi,
    private readonly opts: InformerOptions,
    private readonly events: InformerEvents,
  ) {}

  /** The resource name used in logs and metrics. */
  get resource(): string {
    return this.opts.resource;
  }

  get synced(): boolean {
    return this.hasSynced;
  }

  /** Milliseconds since the last event, bookmark or list. */
  get lastEventAgeMs(): number {
    return Date.now() - this.lastActivity;
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /**
   * Why RBAC refuses this resource (`list: …` or `watch: …`, the API server's message), or null.
   * A cache that cannot be listed is unknown; one that can be listed but not watched goes stale
   * between relists: either way the controller must not trust it.
   */
  get forbidden(): string | null {
    return this.denied ? `${this.denied.verb}: ${this.denied.message}` : null;
  }

  private setDenied(verb: 'list' | 'watch', err: KubeError): void {
    const message = (err.body as { message?: string } | null)?.message ?? err.message;
    if (!this.denied) {
      this.events.log('error', `${verb} forbidden by RBAC: the controller's ClusterRole must allow list and watch on ${this.opts.resource}; retrying`, {
        resource: this.opts.resource,
        verb,
        path: this.opts.path,
        err: message,
      });
    }
    this.denied = { verb, message };
  }

  private clearDenied(verb: 'list' | 'watch'): void {
    if (this.denied?.verb !== verb) return;
    this.denied = null;
    this.events.log('info', `${verb} allowed again by RBAC`, { resource: this.opts.resource });
    // Whoever stopped trusting this cache must look again.
    this.events.onChange();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
    this.watchdog = setInterval(() => {
      if (this.abort && this.lastEventAgeMs > this.opts.silenceMs) {
        this.events.log('warn', 'watch silent past its timeout: restarting', { resource: this.opts.resource, silentMs: this.lastEventAgeMs });
        this.restart('watchdog', true);
      }
    }, Math.max(50, Math.min(1000, this.opts.silenceMs / 4)));
    this.watchdog.unref();
    this.relistTimer = setInterval(() => this.restart('periodic-relist', true), this.opts.relistMs);
    this.relistTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.relistTimer) clearInterval(this.relistTimer);
    this.abort?.abort();
    this.listAbort?.abort();
    this.wake();
    await this.loop;
  }

  /** Ends the current stream; the loop relists (`relist`) or re-watches from the last version. */
  private restart(reason: string, relist: boolean): void {
    this.restarts++;
    this.events.onRestart(this.opts.resource, reason);
    if (relist) this.needRelist = true;
    this.abort?.abort();
    this.wake();
  }

  private wake(): void {
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.resolve();
      this.sleeper = null;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleeper = { timer: setTimeout(() => ((this.sleeper = null), resolve()), ms), resolve };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let failed: { gone: boolean; message: string } | null = null;
      let listing = false;
      this.streamHealthy = false;
      try {
        if (this.needRelist || !this.resourceVersion) {
          this.needRelist = false;
          listing = true;
          await this.relist();
          listing = false;
          if (this.absent) {
            // No such resource (CRD not installed): look again soon — the CRD may be installed
            // after the controller (the Gateway API's, typically).
            await this.sleep(Math.min(this.opts.relistMs, this.opts.backoffMaxMs));
            continue;
          }
        }
        // stop() may have come during the list: open no stream it could not end (the watchdog
        // is gone, and a stream lasts up to its timeoutSeconds).
        if (this.stopped) break;
        this.abort = new AbortController();
        this.streamError = null;
        this.lastActivity = Date.now();
        const opened = Date.now();
        await this.api.watch(
          this.opts.path,
          { resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(this.opts.watchTimeoutSeconds) },
          (e) => this.handle(e),
          this.abort.signal,
        );
        // An ERROR event ended the stream (counted as a restart by handle()).
        if (this.streamError) failed = this.streamError;
        // A server that ends streams at once must not turn this into a busy loop.
        else if (Date.now() - opened < this.opts.backoffMinMs) await this.sleep(this.opts.backoffMinMs);
      } catch (err) {
        if (this.stopped) break;
        const gone = err instanceof KubeError && err.status === 410;
        const denied = err instanceof KubeError && err.status === 403;
        if (denied) this.setDenied(listing ? 'list' : 'watch', err);
        this.restarts++;
        this.events.onRestart(this.opts.resource, gone ? 'gone' : denied ? 'forbidden' : 'error');
        failed = { gone, message: (err as Error).message };
      } finally {
        this.abort = null;
      }
      if (this.streamHealthy) failures = 0;
      if (!failed || this.stopped) continue;
      // After any failure the cache may have missed events: relist (level-triggered).
      this.needRelist = true;
      failures++;
      // The first 410 after a working stream is the normal way to catch up: relist at once. A
      // repeated one, like every other failure, waits.
      if (failed.gone && failures === 1) continue;
      const wait = backoffDelay(failures, this.opts.backoffMinMs, this.opts.backoffMaxMs, this.opts.random);
      this.events.log('warn', 'watch failed: retrying', { resource: this.opts.resource, err: failed.message, retryInMs: wait });
      await this.sleep(wait);
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let rv = '';
    let cont: string | undefined;
    this.listAbort = new AbortController();
    try {
      do {
        const page = await this.api.request<ListResponse>('GET', this.opts.path, { query: { limit: '500', continue: cont }, signal: this.listAbort.signal });
        items.push(...((page.items ?? []) as T[]));
        rv = page.metadata?.resourceVersion ?? rv;
        cont = page.metadata?.continue || undefined;
      } while (cont);
    } catch (err) {
      if (this.opts.optional && err instanceof KubeError && err.status === 404) {
        // Served before and objects still cached: more likely a transient answer (an API
        // server or aggregator hiccup) than a deleted CRD — deleting a CRD deletes its objects
        // first, and the watch reports each. Treating it as "all gone" would remove every
        // route at once: keep the cache and retry with backoff instead.
        if (this.hasSynced && !this.absent && this.cache.size > 0) throw err;
        if (!this.absent) this.events.log('info', 'resource not served (CRD not installed): treated as empty', { resource: this.opts.resource });
        this.absent = true;
        this.replace([], '');
        return;
      }
      throw err;
    }
    this.absent = false;
    this.replace(items, rv);
    this.clearDenied('list');
  }

  private replace(items: T[], rv: string): void {
    const next = new Map<string, T>();
    for (const o of items) next.set(key(o), o);
    this.cache = next;
    this.resourceVersion = rv;
    this.hasSynced = true;
    this.lastActivity = Date.now();
    this.events.onChange();
  }

  private handle(e: WatchEvent): void {
    this.lastActivity = Date.now();
    this.events.onEvent(this.opts.resource);
    if (e.type === 'ERROR') {
      // A Status object: 410 = our version is too old; anything else (e.g. 504 "Too large
      // resource version", 500) is a failure like an error answer: relist after a backoff.
      const gone = e.object.code === 410;
      this.streamError = { gone, message: `watch ${this.opts.path}: ERROR ${e.object.code ?? '?'} ${e.object.message ?? ''}`.trim() };
      this.restart(gone ? 'gone' : 'error-event', true);
      return;
    }
    this.streamHealthy = true;
    // A stream that delivers: watching is allowed (again).
    this.clearDenied('watch');
    const o = e.object as unknown as T;
    const rv = o.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (e.type === 'BOOKMARK') return;
    if (e.type === 'DELETED') this.cache.delete(key(o));
    else this.cache.set(key(o), o);
    this.events.onChange();
  }
}

/**
 * The wait before retry number `failures` (1, 2, …): "full jitter" — uniformly random up to an
 * exponential bound, plus half the minimum — so replicas and resources do not retry in
 * lockstep against a struggling API server. Always within [min/2, max + min/2].
 */
export function backoffDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const bound = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures, 1), 10));
  return Math.round(minMs / 2 + random() * bound);
}

function key(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}
