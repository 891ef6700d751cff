/**
 * A fake Kubernetes API server for tests only (node:https with a generated CA, since
 * client-node refuses plain http): the real API's JSON and watch semantics, enough for the
 * controller —
 *
 * - LIST with a collection resourceVersion (one global counter, like etcd's revision), in
 *   pages with `limit` and `continue` (objects in key order; every page of one list is the
 *   same snapshot; a token older than the compaction floor is refused with 410 Expired, as
 *   etcd's compaction makes the API server do);
 * - WATCH from a resourceVersion: chunked JSON lines, history replayed, BOOKMARK events
 *   when asked (`allowWatchBookmarks`), `timeoutSeconds` ends the stream; without a
 *   resourceVersion (or "0"), synthetic ADDED events for the current objects first;
 * - a resourceVersion older than the compaction floor: an ERROR event with a 410 Status;
 * - DELETE of an object with finalizers only sets its deletionTimestamp (MODIFIED); it goes
 *   (DELETED) once an update leaves no finalizer;
 * - GET of one object, PATCH of `/status` and of the object itself (its metadata and spec; the
 *   status is the subresource's) — merge patch only; a resourceVersion in the patch that is not
 *   the current one is refused with 409 Conflict, as optimistic concurrency; a patch that
 *   changes nothing changes no resourceVersion and sends no event;
 * - fault injection: stall streams (silent, open), drop them, answer 500s, expire (410), lose
 *   events (never sent on open streams, while bookmarks move on past them), fail status
 *   patches (500), break list answers halfway (the connection cut mid-body), end new watches
 *   with an ERROR event (a Status object, as the API server sends e.g. 504 "Too large
 *   resource version"), refuse lists and watches with 403 Forbidden (RBAC without the verb), and
 *   patches of the objects of a kind (`unpatchable`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate } from '@switchyard/pki';
import { testCa } from '@switchyard/testkit';
import type { KubeObject } from '../translate/objects.js';

/** Collection path (without namespace) per kind, e.g. Service → api/v1/services. */
export const RESOURCES: Record<string, { path: string; namespaced: boolean }> = {
  Namespace: { path: '/api/v1/namespaces', namespaced: false },
  Service: { path: '/api/v1/services', namespaced: true },
  EndpointSlice: { path: '/apis/discovery.k8s.io/v1/endpointslices', namespaced: true },
  ExternalAccess: { path: '/apis/switchyard.io/v1alpha1/externalaccesses', namespaced: true },
  TLSRoute: { path: '/apis/gateway.networking.k8s.io/v1/tlsroutes', namespaced: true },
  Gateway: { path: '/apis/gateway.networking.k8s.io/v1/gateways', namespaced: true },
  GatewayClass: { path: '/apis/gateway.networking.k8s.io/v1/gatewayclasses', namespaced: false },
  ReferenceGrant: { path: '/apis/gateway.networking.k8s.io/v1beta1/referencegrants', namespaced: true },
};

interface Stored {
  kind: string;
  obj: KubeObject & { status?: unknown; spec?: unknown };
}

interface HistoryEntry {
  rv: number;
  kind: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: KubeObject;
}

interface Stream {
  kind: string;
  res: ServerResponse;
  bookmarks: boolean;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

export interface RecordedRequest {
  /** Date.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
}

export class FakeKube {
  private rv = 1;
  private floor = 0;
  private readonly store = new Map<string, Stored>();
  private history: HistoryEntry[] = [];
  private streams = new Set<Stream>();
  private readonly failures = new Map<string, number>();
  private stalledKinds = new Set<string>();
  private readonly lost = new Map<string, number>();
  private readonly patchFailures = new Map<string, number>();
  private readonly brokenLists = new Map<string, number>();
  private readonly heldLists = new Map<string, (() => void)[]>();
  private readonly errorEvents = new Map<string, { count: number; status: ReturnType<typeof status> }>();
  /** Snapshots of lists served in pages, by continue token. */
  private readonly listSnapshots = new Map<string, { rv: number; items: KubeObject[] }>();
  private server!: https.Server;
  /** Kinds the server does not serve (404), e.g. a cluster without the Gateway API CRDs. */
  readonly missing = new Set<string>();
  /**
   * Kinds RBAC does not let the client list or watch: 403 with the authorizer's Status, as the
   * API server answers a ClusterRole without the verb (`watch` alone: lists still work).
   */
  readonly forbidden = new Map<string, 'list+watch' | 'watch'>();
  /** Kinds RBAC does not let the client patch (the objects themselves; `/status` is another resource): 403. */
  readonly unpatchable = new Set<string>();
  /**
   * Where each kind is served (a copy of RESOURCES): a test may serve TLSRoute at v1alpha2, as
   * the Gateway API's experimental channel before v1.5 does.
   */
  readonly resources: Record<string, { path: string; namespaced: boolean }> = structuredClone(RESOURCES);
  readonly requests: RecordedRequest[] = [];
  bookmarkMs = 200;
  /** Largest page a list returns whatever its `limit` (a server may return fewer; tests page small lists). */
  maxPageSize = Infinity;
  /** Called with every request as it arrives, before it is answered (tests inject faults at a given step). */
  onRequest: ((r: RecordedRequest) => void) | null = null;
  port = 0;
  kubeconfigPath = '';

  async start(): Promise<void> {
    const leaf = issueCertificate(testCa(), { hostnames: ['127.0.0.1', 'localhost'] });
    this.server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'sy-fake-kube-'));
    this.kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      this.kubeconfigPath,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: `https://127.0.0.1:${this.port}`, 'certificate-authority-data': Buffer.from(testCa().certPem).toString('base64') } }],
        users: [{ name: 'fake', user: { token: 'fake-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      }),
    );
  }

  async stop(): Promise<void> {
    this.dropStreams();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- objects ---------------------------------------------------------------------------

  private key(kind: string, ns: string | undefined, name: string): string {
    return `${kind}/${ns ?? ''}/${name}`;
  }

  /** Creates or replaces an object (status kept; generation bumped when spec changes). */
  apply<T extends KubeObject>(input: T): T {
    const kind = input.kind!;
    const k = this.key(kind, input.metadata.namespace, input.metadata.name);
    const old = this.store.get(k);
    const obj = structuredClone(input) as Stored['obj'];
    obj.metadata.uid = old?.obj.metadata.uid || obj.metadata.uid || randomUUID();
    obj.metadata.creationTimestamp = old?.obj.metadata.creationTimestamp || obj.metadata.creationTimestamp || new Date().toISOString();
    const specChanged = !old || JSON.stringify(old.obj.spec) !== JSON.stringify(obj.spec);
    obj.metadata.generation = (old?.obj.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    if (old) obj.status = old.obj.status;
    if (old?.obj.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = old.obj.metadata.deletionTimestamp;
      // The last finalizer removed: the object goes.
      if (!obj.metadata.finalizers?.length) {
        obj.metadata.resourceVersion = old.obj.metadata.resourceVersion;
        this.store.set(k, { kind, obj });
        this.delete(kind, input.metadata.namespace, input.metadata.name);
        return structuredClone(obj) as unknown as T;
      }
    }
    obj.metadata.resourceVersion = String(++this.rv);
    this.store.set(k, { kind, obj });
    this.emit(kind, old ? 'MODIFIED' : 'ADDED', obj);
    return structuredClone(obj) as unknown as T;
  }

  delete(kind: string, ns: string | undefined, name: string): void {
    const k = this.key(kind, ns, name);
    const old = this.store.get(k);
    if (!old) throw new Error(`no ${k}`);
    if (old.obj.metadata.finalizers?.length) {
      // Graceful deletion: marked, kept until its finalizers are removed.
      if (old.obj.metadata.deletionTimestamp) return;
      old.obj.metadata.deletionTimestamp = new Date().toISOString();
      old.obj.metadata.resourceVersion = String(++this.rv);
      return this.emit(kind, 'MODIFIED', old.obj);
    }
    this.store.delete(k);
    old.obj.metadata.resourceVersion = String(++this.rv);
    this.emit(kind, 'DELETED', old.obj);
  }

  get<T extends KubeObject>(kind: string, ns: string | undefined, name: string): T | undefined {
    const s = this.store.get(this.key(kind, ns, name));
    return s ? (structuredClone(s.obj) as unknown as T) : undefined;
  }

  /** Changes an object's status as another writer would (bumps resourceVersion). */
  setStatus(kind: string, ns: string | undefined, name: string, status: unknown): void {
    const s = this.store.get(this.key(kind, ns, name))!;
    s.obj.status = status;
    s.obj.metadata.resourceVersion = String(++this.rv);
    this.emit(kind, 'MODIFIED', s.obj);
  }

  private readonly watchers = new Set<() => void>();

  /**
   * Resolves with the object once `pred` holds for it (checked now and on every change of
   * any object), e.g. when the controller wrote the status a test waits for.
   */
  waitFor<T extends KubeObject>(kind: string, ns: string | undefined, name: string, pred: (o: T | undefined) => boolean, timeoutMs = 15_000): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const o = this.get<T>(kind, ns, name);
        if (!pred(o)) return false;
        this.watchers.delete(w);
        clearTimeout(t);
        resolve(o);
        return true;
      };
      const w = () => void check();
      const t = setTimeout(() => {
        this.watchers.delete(w);
        reject(new Error(`timed out waiting for ${kind} ${ns}/${name}: ${JSON.stringify(this.get(kind, ns, name)?.['status' as never] ?? null)}`));
      }, timeoutMs);
      if (!check()) this.watchers.add(w);
    });
  }

  private emit(kind: string, type: HistoryEntry['type'], obj: KubeObject): void {
    queueMicrotask(() => this.watchers.forEach((w) => w()));
    const entry = { rv: this.rv, kind, type, obj: structuredClone(obj) };
    this.history.push(entry);
    const lose = this.lost.get(kind) ?? 0;
    if (lose > 0) return void this.lost.set(kind, lose - 1);
    for (const s of this.streams) if (s.kind === kind && !s.stalled) this.send(s, { type, object: entry.obj });
  }

  // ---- fault injection -----------------------------------------------------------------

  /** Open streams of `kind` (and new ones) stay open and silent: no events, no bookmarks. */
  stall(kind: string): void {
    this.stalledKinds.add(kind);
    for (const s of this.streams) if (s.kind === kind) s.stalled = true;
  }

  unstall(kind: string): void {
    this.stalledKinds.delete(kind);
  }

  /** Cuts every open watch stream (the connection breaks, no clean end). */
  dropStreams(kind?: string): void {
    for (const s of [...this.streams]) if (!kind || s.kind === kind) this.close(s, true);
  }

  /**
   * The next `count` changes of `kind` never reach open streams, while later bookmarks carry
   * versions past them: only a relist can find them (what the periodic relist is for).
   */
  loseEvents(kind: string, count: number): void {
    this.lost.set(kind, count);
  }

  /** TCP connections open to the server (client agents left behind show up here). */
  connections(): Promise<number> {
    return new Promise((resolve, reject) => this.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  /**
   * The next `count` watch requests of `kind` are answered 200 with one ERROR event carrying
   * this Status, then the stream ends (what the API server does for e.g. a 504 "Too large
   * resource version", or a 410 when the version is compacted).
   */
  failWatchesWithErrorEvent(kind: string, count: number, code: number, reason: string, message: string): void {
    this.errorEvents.set(kind, { count, status: status(code, reason, message) });
  }

  /**
   * List requests of `kind` get no answer until the returned function is called (a slow API
   * server, or a list in flight at a chosen moment); then they are answered as they stand.
   */
  holdLists(kind: string): () => void {
    this.heldLists.set(kind, []);
    return () => {
      const held = this.heldLists.get(kind) ?? [];
      this.heldLists.delete(kind);
      for (const answer of held) answer();
    };
  }

  /**
   * The next `count` list requests of `kind` are answered 200 with half of the body, then the
   * connection is cut (a server or proxy dying mid-answer): the client's response stream errors.
   */
  breakNextLists(kind: string, count: number): void {
    this.brokenLists.set(kind, count);
  }

  /** The next `count` status patches of `kind` get 500 (an API server or etcd hiccup). */
  failNextStatusPatches(kind: string, count: number): void {
    this.patchFailures.set(kind, count);
  }

  /** The next `count` list/watch requests for `kind` get 500. */
  failNext(kind: string, count: number): void {
    this.failures.set(kind, count);
  }

  /**
   * Compaction: history before now is gone. Open streams get an ERROR 410 event (their
   * versions are too old), and any watch from an older version too.
   */
  expire(): void {
    this.floor = this.rv;
    this.history = [];
    for (const s of [...this.streams]) {
      this.send(s, { type: 'ERROR', object: gone() });
      this.close(s, false);
    }
  }

  get openStreams(): number {
    return this.streams.size;
  }

  count(method: string, kind: string, watch?: boolean): number {
    const path = this.resources[kind]!.path;
    return this.requests.filter((r) => r.method === method && r.path === path && (watch === undefined || (r.query.watch === 'true') === watch)).length;
  }

  // ---- HTTP ------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'https://fake');
      const query = Object.fromEntries(url.searchParams);
      let body: unknown = null;
      if (chunks.length) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return json(res, 400, status(400, 'BadRequest', 'body is not JSON'));
        }
      }
      const recorded = { at: Date.now(), method: req.method!, path: url.pathname, query, contentType: req.headers['content-type'], body };
      this.requests.push(recorded);
      this.onRequest?.(recorded);
      if (req.headers.authorization !== 'Bearer fake-token') return json(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      this.route(req.method!, url.pathname, query, body, req, res);
    });
  }

  private route(method: string, path: string, query: Record<string, string>, body: unknown, req: IncomingMessage, res: ServerResponse): void {
    for (const [kind, r] of Object.entries(this.resources)) {
      if (path === r.path && method === 'GET') {
        if (this.missing.has(kind)) return json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
        const denied = this.forbidden.get(kind);
        const verb = query.watch === 'true' ? 'watch' : 'list';
        if (denied === 'list+watch' || denied === verb) return json(res, 403, forbidden(verb, r.path));
        const left = this.failures.get(kind) ?? 0;
        if (left > 0) {
          this.failures.set(kind, left - 1);
          return json(res, 500, status(500, 'InternalError', 'injected failure'));
        }
        if (query.watch === 'true') return this.watch(kind, query, req, res);
        const broken = this.brokenLists.get(kind) ?? 0;
        if (broken > 0) {
          this.brokenLists.set(kind, broken - 1);
          return this.breakMidAnswer(kind, res);
        }
        const held = this.heldLists.get(kind);
        if (held) return void held.push(() => this.list(kind, query, res));
        return this.list(kind, query, res);
      }
      // /apis/<g>/<v>/namespaces/<ns>/<plural>/<name>[/status], or <collection>/<name>[/status] cluster-scoped
      const base = r.path.slice(0, r.path.lastIndexOf('/'));
      const plural = r.path.slice(r.path.lastIndexOf('/') + 1);
      const m = r.namespaced ? new RegExp(`^${base}/namespaces/([^/]+)/${plural}/([^/]+)(/status)?$`).exec(path) : new RegExp(`^${r.path}/()([^/]+)(/status)?$`).exec(path);
      if (!m) continue;
      if (this.missing.has(kind)) return json(res, 404, status(404, 'NotFound', 'not found'));
      const s = this.store.get(this.key(kind, m[1] || undefined, m[2]!));
      if (!s) return json(res, 404, status(404, 'NotFound', `${plural} "${m[2]}" not found`));
      if (method === 'GET') return json(res, 200, s.obj);
      if (method === 'PATCH') {
        // The authorizer first: `patch` on the resource does not grant its /status, nor the reverse.
        if (!m[3] && this.unpatchable.has(kind)) return json(res, 403, forbidden('patch', r.path));
        if (req.headers['content-type'] !== 'application/merge-patch+json') {
          return json(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (got ${req.headers['content-type']})`));
        }
        const failing = m[3] ? (this.patchFailures.get(kind) ?? 0) : 0;
        if (failing > 0) {
          this.patchFailures.set(kind, failing - 1);
          return json(res, 500, status(500, 'InternalError', 'injected failure'));
        }
        const patch = body as { metadata?: { resourceVersion?: string }; status?: unknown };
        const want = patch.metadata?.resourceVersion;
        if (want && want !== s.obj.metadata.resourceVersion) {
          return json(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on ${plural} "${m[2]}": the object has been modified; please apply your changes to the latest version and try again`));
        }
        if (!m[3]) return this.patchObject(s, patch, res);
        const next = mergePatch(s.obj.status ?? {}, patch.status ?? {});
        // A patch that changes nothing is a no-op: same resourceVersion, no watch event.
        if (JSON.stringify(next) === JSON.stringify(s.obj.status ?? {})) return json(res, 200, s.obj);
        s.obj.status = next;
        s.obj.metadata.resourceVersion = String(++this.rv);
        this.emit(kind, 'MODIFIED', s.obj);
        return json(res, 200, s.obj);
      }
      return json(res, 405, status(405, 'MethodNotAllowed', method));
    }
    json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
  }

  /**
   * A merge patch of the object itself (metadata, spec): its status belongs to the /status
   * subresource and is left as it is, as are the fields the server owns (uid, resourceVersion,
   * generation, creationTimestamp, deletionTimestamp); generation moves only when spec changes.
   * A map left empty (the last annotation removed) is omitted, as the API server serializes
   * it; a patch that changes nothing is a no-op, as for /status.
   */
  private patchObject(s: Stored, patch: { metadata?: unknown }, res: ServerResponse): void {
    const { status: _ignored, ...rest } = patch as Record<string, unknown>;
    const next = mergePatch(s.obj, rest) as Stored['obj'];
    const { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp } = s.obj.metadata;
    next.metadata = { ...next.metadata, name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp };
    for (const k of ['annotations', 'labels'] as const) if (next.metadata[k] && Object.keys(next.metadata[k]).length === 0) delete next.metadata[k];
    if (JSON.stringify(next) === JSON.stringify(s.obj)) return json(res, 200, s.obj);
    json(res, 200, this.apply(next));
  }

  private list(kind: string, query: Record<string, string>, res: ServerResponse): void {
    let snap: { rv: number; items: KubeObject[] };
    let start = 0;
    if (query.continue) {
      const [id, at] = query.continue.split(':');
      const found = this.listSnapshots.get(id!);
      if (!found) return json(res, 400, status(400, 'BadRequest', 'continue key is not valid'));
      if (found.rv < this.floor) {
        this.listSnapshots.delete(id!);
        return json(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
      }
      snap = found;
      start = Number(at);
    } else {
      const items = [...this.store.values()].filter((s) => s.kind === kind).map((s) => structuredClone(s.obj) as KubeObject);
      items.sort((a, b) => (listKey(a) < listKey(b) ? -1 : listKey(a) > listKey(b) ? 1 : 0));
      snap = { rv: this.rv, items };
    }
    const limit = Math.min(query.limit ? Number(query.limit) : Infinity, this.maxPageSize);
    const items = snap.items.slice(start, start + limit);
    const metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number } = { resourceVersion: String(snap.rv) };
    const rest = snap.items.length - (start + items.length);
    if (rest > 0) {
      const id = query.continue?.split(':')[0] ?? randomUUID();
      this.listSnapshots.set(id, snap);
      metadata.continue = `${id}:${start + items.length}`;
      metadata.remainingItemCount = rest;
    } else if (query.continue) {
      this.listSnapshots.delete(query.continue.split(':')[0]!);
    }
    json(res, 200, { kind: `${kind}List`, apiVersion: 'v1', metadata, items });
  }

  /** Headers and half of a list's body, then the socket is destroyed once that much was sent. */
  private breakMidAnswer(kind: string, res: ServerResponse): void {
    const items = [...this.store.values()].filter((s) => s.kind === kind).map((s) => s.obj);
    const text = JSON.stringify({ kind: `${kind}List`, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items, padding: 'x'.repeat(4096) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.write(text.slice(0, text.length >> 1), () => res.socket?.destroy());
  }

  private watch(kind: string, query: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const s: Stream = { kind, res, bookmarks: query.allowWatchBookmarks === 'true', stalled: this.stalledKinds.has(kind), timers: [] };
    this.streams.add(s);
    res.on('close', () => this.close(s, false));
    const injected = this.errorEvents.get(kind);
    if (injected && injected.count > 0) {
      injected.count--;
      this.send(s, { type: 'ERROR', object: injected.status });
      return this.close(s, false);
    }
    const from = Number(query.resourceVersion || '0');
    if (from && from < this.floor) {
      this.send(s, { type: 'ERROR', object: gone() });
      return this.close(s, false);
    }
    if (!from) {
      // "Any version": the current state as synthetic ADDED events, then changes.
      for (const o of [...this.store.values()].filter((x) => x.kind === kind)) if (!s.stalled) this.send(s, { type: 'ADDED', object: o.obj });
    } else {
      for (const h of this.history) if (h.kind === kind && h.rv > from && !s.stalled) this.send(s, { type: h.type, object: h.obj });
    }
    if (s.bookmarks) {
      const t = setInterval(() => {
        if (!s.stalled) this.send(s, { type: 'BOOKMARK', object: { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } });
      }, this.bookmarkMs);
      s.timers.push(t);
    }
    if (query.timeoutSeconds) s.timers.push(setTimeout(() => this.close(s, false), Number(query.timeoutSeconds) * 1000));
  }

  private send(s: Stream, event: unknown): void {
    if (!s.res.writableEnded) s.res.write(JSON.stringify(event) + '\n');
  }

  private close(s: Stream, abrupt: boolean): void {
    if (!this.streams.delete(s)) return;
    for (const t of s.timers) clearInterval(t);
    if (abrupt) s.res.socket?.destroy();
    else s.res.end();
  }
}

function listKey(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** The authorizer's refusal, word for word as kube-apiserver sends it for a service account. */
function forbidden(verb: string, path: string) {
  const plural = path.slice(path.lastIndexOf('/') + 1);
  const group = path.startsWith('/apis/') ? path.split('/')[2]! : '';
  const resource = group ? `${plural}.${group}` : plural;
  const body = status(403, 'Forbidden', `${resource} is forbidden: User "system:serviceaccount:switchyard:switchyard-controller" cannot ${verb} resource "${plural}" in API group "${group}" at the cluster scope`);
  return { ...body, details: { group, kind: plural } };
}

function gone() {
  return status(410, 'Expired', 'too old resource version');
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
