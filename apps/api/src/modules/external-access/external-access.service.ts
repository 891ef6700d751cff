/**
 * External access = the database's route on a shared port. Every change commits the route,
 * a config-version bump, the audit event and the NOTIFY in one transaction; the response
 * then says whether the proxies have applied it (waiting, bounded, when asked to).
 */
import {
  canonicalDestination,
  connectionStrings,
  defaultRouteHostname,
  isUpstreamServerName,
  isUnderDomain,
  isValidHostname,
  isValidWildcardHostname,
  listenerProtocolFor,
  listenerServes,
  normalizeHostname,
  parseCidr,
  type DisableBehavior,
  type Engine,
  type ListenerSpec,
  type TlsMode,
  type UpstreamProxyProtocol,
} from '@switchyard/core';
import { Prisma, recordRouteChange, recordRouteChanges, type Certificate, type Database, type PrismaClient, type Route, type Tenant } from '@switchyard/db';
import { caBundleProblem, verificationRoot } from '@switchyard/pki';
import type { Actor } from '../../lib/access.js';
import { releaseAcmeCertificates, type ReleasedHostname } from '../acme/acme.lifecycle.js';
import type { AcmeRequestPlan, AcmeService } from '../acme/acme.service.js';
import { AppError, type ErrorDetail } from '../../lib/errors.js';
import { assertMayChange, ownerColumns, ownerOf } from '../../lib/ownership.js';
import { diff, recordAudit, recordAudits, type AuditEntry } from '../audit/audit.service.js';
import { CA_FILE_NAME, CA_PEM_PATH, coversHostname, isPubliclyTrusted, type CertificatesService } from '../certificates/certificates.service.js';
import type { PropagationTracker } from '../proxies/propagation.js';
import { requireRoom } from '../tenants/tenant-limits.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { BatchExternalAccessResponse, BatchItem, ExternalAccessResponse, PutExternalAccessBody } from './external-access.schemas.js';

export interface ExternalAccessDeps {
  prisma: PrismaClient;
  tenants: Pick<TenantsService, 'resolve'>;
  propagation: Pick<PropagationTracker, 'status' | 'waitFor'>;
  baseDomain: string;
  listeners: ListenerSpec[];
  propagationTimeoutMs: number;
  certificates: Pick<CertificatesService, 'findForTenant' | 'mintForRoute' | 'caPem'>;
  /** Pool for dedicated ports (`SWITCHYARD_DEDICATED_PORTS`), ascending; empty: none. */
  dedicatedPorts?: number[];
  /** Egress source addresses the proxies own (`SWITCHYARD_EGRESS_SOURCE_ADDRESSES`). */
  egressSourceAddresses?: string[];
  /** Address clients dial for dedicated ports when route hostnames have no DNS of their own. */
  publicAddress?: string | null;
  /** Roots of private CAs (`ACME_ROOTS_FILE`): what clients verify chains ending at their intermediates with. */
  trustedRoots?: string[];
  /** ACME requests made with the route change (`acme` in the body); absent: refused as unavailable. */
  acme?: Pick<AcmeService, 'checkRequest' | 'recordRequest' | 'wake'>;
}

type RouteState = {
  enabled: boolean;
  hostname: string;
  listener: string;
  tlsMode: TlsMode;
  disableBehavior: DisableBehavior;
  sourceCidrs: string[];
  maxConnections: number | null;
  certificateId: string | null;
  upstreamTls: boolean;
  upstreamCa: string | null;
  /** Terminate mode with upstream TLS: SNI and certificate name towards the upstream (null: its host). */
  upstreamServerName: string | null;
  /** The route's own port for clients without SNI (null: shared ports only). */
  dedicatedPort: number | null;
  proxyProtocol: UpstreamProxyProtocol | null;
  destination: string | null;
  sourceAddress: string | null;
};

/** What validation asks for: `assign` picks a free dedicated port inside the transaction. */
type WantedState = Omit<RouteState, 'dedicatedPort'> & { dedicatedPort: number | null | 'assign' };

type RouteWithCert = Route & { certificate: Certificate | null };
type DatabaseWithRoute = Database & { route: RouteWithCert | null };

/** What one route change will write, decided before the transaction. */
interface Plan {
  db: DatabaseWithRoute;
  current: RouteState;
  next: WantedState;
  mint: Prisma.CertificateUncheckedCreateInput | null;
  /** An automatic certificate the route stops using (deleted with the change). */
  previousAuto: string | null;
  /** `certificateId` in the body gave the route another certificate (an ACME one then ends). */
  certificateChosen: boolean;
  changed: boolean;
  /** An ACME certificate to request in the same transaction (`acme` in the body). */
  acme: AcmeRequestPlan | null;
}

/** Items per batch request: one transaction that stays well under a second or two. */
export const MAX_BATCH_ITEMS = 500;
const BATCH_TX_TIMEOUT_MS = 60_000;

export class ExternalAccessService {
  constructor(private readonly deps: ExternalAccessDeps) {}

  /** The listener a new route of this engine goes to: the first with a matching protocol. */
  defaultListener(engine: Engine): ListenerSpec {
    const protocol = listenerProtocolFor(engine);
    const l = this.deps.listeners.find((x) => x.protocol === protocol);
    if (!l) throw new AppError('SY_LISTENER_MISMATCH', `No ${protocol} listener is configured for ${engine} databases`);
    return l;
  }

  /** The kind (protocol) of a configured listener, or null when unknown. */
  listenerKind(name: string): ListenerSpec['protocol'] | null {
    return this.deps.listeners.find((l) => l.name === name)?.protocol ?? null;
  }

  async describe(tenant: Tenant, db: Database, route: RouteWithCert | null): Promise<ExternalAccessResponse> {
    const { certificateId: _c, ...state } = route ? stateOf(route) : this.defaults(tenant, db);
    const listener = this.deps.listeners.find((l) => l.name === state.listener);
    const port = listener?.publicPort ?? 0;
    const cert = state.tlsMode === 'terminate' ? (route?.certificate ?? null) : null;
    const ca = cert ? await this.caFor(cert, state.hostname) : null;
    const acme = route
      ? await this.deps.prisma.acmeCertificate.findUnique({ where: { hostname: route.hostname }, select: { id: true, state: true, challengeType: true, renewAt: true, problem: true } })
      : null;
    const connection = connectionStrings(db.engine as Engine, state.hostname, port, {
      tlsMode: state.tlsMode,
      caFile: ca?.fileName ?? null,
      caPem: ca?.pem ?? null,
      upstreamTls: state.upstreamTls,
      directTls: listener?.protocol === 'tls',
    });
    if (state.dedicatedPort !== null) {
      // Clients without SNI dial the address and the route's own port; no host name needed.
      connection.dedicated = dedicatedConnection(db.engine as Engine, this.deps.publicAddress ?? state.hostname, state.dedicatedPort);
    }
    return {
      ...state,
      port,
      connection,
      certificate: cert
        ? {
            id: cert.id,
            name: cert.name,
            kind: cert.kind,
            fingerprint: cert.fingerprint,
            notAfter: cert.notAfter.toISOString(),
            expiresInDays: Math.floor((cert.notAfter.getTime() - Date.now()) / 86_400_000),
            auto: cert.auto,
          }
        : null,
      acme: acme ? { id: acme.id, state: acme.state, challenge: acme.challengeType, renewAt: acme.renewAt?.toISOString() ?? null, problem: (acme.problem as { type: string; detail: string } | null) ?? null } : null,
      ca,
      version: route ? Number(route.version) : null,
      owner: ownerOf(route ?? db),
    };
  }

  /** What clients verify a terminate-mode certificate with (null when publicly trusted). */
  private async caFor(cert: Certificate, hostname: string): Promise<ExternalAccessResponse['ca']> {
    if (cert.kind === 'issued') return { fileName: CA_FILE_NAME, url: CA_PEM_PATH, pem: await this.deps.certificates.caPem() };
    if (cert.kind === 'self-signed') return { fileName: `${hostname}.pem`, url: null, pem: cert.certPem };
    if (isPubliclyTrusted(cert.certPem)) return null;
    // A chain from a private CA (uploaded, or ACME from a private CA): its root when the chain
    // ends at one or a configured root issued it; else its last certificate, as close to the
    // root as we have.
    const anchor = verificationRoot(cert.certPem, this.deps.trustedRoots ?? [])!;
    return { fileName: `${hostname}-ca.pem`, url: null, pem: anchor.pem };
  }

  private defaults(tenant: Tenant, db: Database): RouteState {
    return {
      enabled: false,
      hostname: defaultRouteHostname(db.name, tenant.slug, this.deps.baseDomain),
      listener: this.defaultListener(db.engine as Engine).name,
      tlsMode: 'passthrough',
      disableBehavior: 'drain',
      sourceCidrs: [],
      maxConnections: null,
      certificateId: null,
      upstreamTls: true,
      upstreamCa: null,
      upstreamServerName: null,
      dedicatedPort: null,
      proxyProtocol: null,
      destination: null,
      sourceAddress: null,
    };
  }

  async get(actor: Actor, tenantSlug: string, dbName: string): Promise<ExternalAccessResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const db = await this.findDatabase(tenant, dbName);
    const out = await this.describe(tenant, db, db.route);
    if (db.route) out.propagation = await this.deps.propagation.status(Number(db.route.version));
    return out;
  }

  async put(
    actor: Actor,
    tenantSlug: string,
    dbName: string,
    body: PutExternalAccessBody,
    opts: { wait: boolean; timeoutMs?: number },
  ): Promise<ExternalAccessResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const db = await this.findDatabase(tenant, dbName);
    const plan = await this.plan(actor, tenant, db, body);
    let route: RouteWithCert | null = db.route;
    let version = route ? Number(route.version) : 0;
    const acme = plan.acme && !plan.acme.existing ? plan.acme : null;
    if (plan.changed || acme) {
      ({ route, version } = await this.deps.prisma.$transaction(async (tx) => {
        const r = plan.changed ? await writeConflicts(plan.next, 'body.', () => this.write(tx, actor, tenant, plan)) : route!;
        // The ACME request commits with the route it is for, or not at all.
        if (acme) await this.deps.acme!.recordRequest(tx, actor, acme);
        if (!plan.changed) return { route: r, version };
        // Last statement: the version bump holds the global config lock until COMMIT, so
        // nothing else may run after it (every statement here would serialise all writers).
        const v = await recordRouteChange(tx, { routeId: r.id, hostname: r.hostname, op: 'upsert' });
        return { route: { ...r, version: BigInt(v) }, version: v };
      }));
      if (acme) this.deps.acme!.wake();
    }
    const out = await this.describe(tenant, db, route);
    out.propagation = await this.propagationOf(version, opts);
    return out;
  }

  /**
   * Several databases' external access in one request and **one transaction** (a Kubernetes
   * controller's first sync, a migration): each item is checked exactly as `put` checks one
   * (tenant admin, Kubernetes ownership, host name and listener policy, certificates), writes
   * its route and its own audit event; the version bumps come last, in one statement, one
   * consecutive version per changed route. All or nothing: any item that fails fails the
   * batch, with every failing item's fields in `details` (`body.items.<i>.<field>`).
   */
  async putBatch(actor: Actor, tenantSlug: string, items: BatchItem[], opts: { wait: boolean; timeoutMs?: number }): Promise<BatchExternalAccessResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const names = [...new Set(items.map((i) => i.database))];
    const dbs = await this.deps.prisma.database.findMany({
      where: { tenantId: tenant.id, name: { in: names } },
      include: { route: { include: { certificate: true } } },
    });
    const byName = new Map(dbs.map((d) => [d.name, d]));
    const failures: Array<{ index: number; error: AppError }> = [];
    const plans: Array<{ index: number; plan: Plan }> = [];
    const seen = new Map<string, number>();
    const hostnames = new Map<string, number>();
    for (const [index, { database, ...body }] of items.entries()) {
      const first = seen.get(database);
      if (first !== undefined) {
        failures.push({ index, error: new AppError('SY_VALIDATION', `Database ${database} appears twice in the batch`, [{ field: 'body.database', message: `already in item ${first}` }]) });
        continue;
      }
      seen.set(database, index);
      const db = byName.get(database);
      if (!db) {
        failures.push({ index, error: new AppError('SY_DATABASE_NOT_FOUND', `Database ${database} not found`, [{ field: 'body.database', message: 'is not a database of this tenant' }]) });
        continue;
      }
      try {
        const plan = await this.plan(actor, tenant, db, body);
        const other = hostnames.get(plan.next.hostname);
        if (other !== undefined) {
          failures.push({ index, error: new AppError('SY_HOSTNAME_TAKEN', `The hostname ${plan.next.hostname} is also wanted by item ${other}`, [{ field: 'body.hostname', message: `also wanted by item ${other}` }]) });
          continue;
        }
        hostnames.set(plan.next.hostname, index);
        plans.push({ index, plan });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        failures.push({ index, error: err });
      }
    }
    if (failures.length) throw batchError(failures);

    const changed = plans.filter((p) => p.plan.changed);
    const routes = new Map<number, RouteWithCert>();
    let last = 0;
    if (changed.length) {
      last = await this.deps.prisma.$transaction(
        async (tx) => {
          const audits: AuditEntry[] = [];
          for (const { index, plan } of changed) {
            try {
              routes.set(index, await writeConflicts(plan.next, 'body.', () => this.write(tx, actor, tenant, plan, audits)));
            } catch (err) {
              if (err instanceof AppError) throw batchError([{ index, error: err }]);
              throw err;
            }
          }
          await recordAudits(tx, actor, audits);
          // Last statement, as in `put`: consecutive versions in item order, one NOTIFY.
          return recordRouteChanges(
            tx,
            changed.map(({ index }) => ({ routeId: routes.get(index)!.id, hostname: routes.get(index)!.hostname, op: 'upsert' as const })),
          );
        },
        // Hundreds of routes: the default 5 s would cut a large batch on a busy database.
        { timeout: BATCH_TX_TIMEOUT_MS, maxWait: BATCH_TX_TIMEOUT_MS },
      );
    }
    const first = last - changed.length + 1;
    const versionOf = new Map(changed.map(({ index }, k) => [index, first + k]));
    const version = changed.length ? last : Math.max(0, ...plans.map(({ plan }) => (plan.db.route ? Number(plan.db.route.version) : 0)));
    return {
      version,
      changed: changed.length,
      items: plans.map(({ index, plan }) => {
        const r = routes.get(index) ?? plan.db.route;
        const v = versionOf.get(index) ?? (r ? Number(r.version) : null);
        return {
          database: plan.db.name,
          changed: plan.changed,
          enabled: r?.enabled ?? plan.next.enabled,
          hostname: r?.hostname ?? plan.next.hostname,
          listener: r?.listener ?? plan.next.listener,
          dedicatedPort: r?.dedicatedPort ?? null,
          version: v,
        };
      }),
      propagation: await this.propagationOf(version, opts),
    };
  }

  private async propagationOf(version: number, opts: { wait: boolean; timeoutMs?: number }) {
    const timeout = Math.min(opts.timeoutMs ?? this.deps.propagationTimeoutMs, this.deps.propagationTimeoutMs);
    return opts.wait ? this.deps.propagation.waitFor(version, timeout) : this.deps.propagation.status(version);
  }

  /**
   * Everything checked before the transaction: permission on the database, the wanted state
   * (validated), the certificate (attached, or minted here, outside the transaction).
   */
  private async plan(actor: Actor, tenant: Tenant, db: DatabaseWithRoute, body: PutExternalAccessBody): Promise<Plan> {
    assertMayChange(actor, db, `Database ${db.name}`);
    if (body.acme && body.certificateId) {
      throw new AppError('SY_VALIDATION', 'body.acme cannot be combined with certificateId: the ACME certificate replaces the attached one once issued', [
        { field: 'body.acme', message: 'cannot be combined with certificateId' },
      ]);
    }
    const current = db.route ? stateOf(db.route) : this.defaults(tenant, db);
    const next = this.validate(tenant, db, current, body);
    // Terminate mode: the attached certificate must cover the hostname; without one (or with
    // an automatic one that no longer covers it) the platform CA issues one, minted here,
    // outside the transaction.
    let cert: Certificate | null = db.route?.certificate ?? null;
    let mint: Prisma.CertificateUncheckedCreateInput | null = null;
    if (body.certificateId !== undefined && body.certificateId !== current.certificateId) {
      cert = body.certificateId === null ? null : await this.attachable(tenant, body.certificateId);
      next.certificateId = cert?.id ?? null;
    }
    if (next.tlsMode === 'terminate') {
      if (cert && !coversHostname(cert, next.hostname)) {
        if (!cert.auto || body.certificateId) {
          throw new AppError('SY_CERTIFICATE_HOSTNAME_MISMATCH', `Certificate ${cert.name} does not cover ${next.hostname}`, [
            { field: body.certificateId ? 'body.certificateId' : 'body.hostname', message: `is not covered by certificate ${cert.name} (${cert.hostnames.join(', ')})` },
          ]);
        }
        cert = null;
      }
      if (!cert) {
        mint = { ...(await this.mintFor(next.hostname)), tenantId: tenant.id };
        next.certificateId = mint.id!;
      }
    }
    const previousAuto = db.route?.certificate?.auto && db.route.certificate.id !== next.certificateId ? db.route.certificate.id : null;
    const changed = JSON.stringify(next) !== JSON.stringify(current) || !db.route;
    const acme = body.acme ? await this.acmeFor(tenant, db, next, body.acme) : null;
    const certificateChosen = body.certificateId !== undefined && next.certificateId !== current.certificateId;
    return { db, current, next, mint, previousAuto, certificateChosen, changed, acme };
  }

  /**
   * `acme` in the body: the checks of POST …/acme-certificates against the route as this PUT
   * leaves it (enabled, terminate mode, this tenant's), errors naming `body.acme`. The host name is the
   * tenant's by the checks above; one already routed elsewhere is checked as that route.
   */
  private async acmeFor(tenant: Tenant, db: DatabaseWithRoute, next: WantedState, acme: NonNullable<PutExternalAccessBody['acme']>): Promise<AcmeRequestPlan> {
    if (!this.deps.acme) throw new AppError('SY_ACME_UNAVAILABLE', undefined, [{ field: 'body.acme', message: 'ACME is not available here' }]);
    const holder = await this.deps.prisma.route.findUnique({ where: { hostname: next.hostname }, select: { databaseId: true, tenantId: true, tlsMode: true, enabled: true } });
    const route = holder && holder.databaseId !== db.id ? holder : { tenantId: tenant.id, tlsMode: next.tlsMode, enabled: next.enabled };
    return this.deps.acme.checkRequest(tenant, next.hostname, route, acme.challenge, 'body.acme', { reuseExisting: true });
  }

  /**
   * One route's writes inside the change transaction (without the version bump). With
   * `audits`, the audit event is collected there (a batch writes them in one statement).
   */
  private async write(tx: Prisma.TransactionClient, actor: Actor, tenant: Tenant, plan: Plan, audits?: AuditEntry[]): Promise<RouteWithCert> {
    const { db, current, next, mint, previousAuto, certificateChosen } = plan;
    if (mint) await tx.certificate.create({ data: mint });
    // The tenant's quotas, checked in this transaction: growth only (docs/accounts.md "Limits").
    if (next.enabled && !current.enabled) await requireRoom(tx, tenant.id, 'maxExternalAccess', 'body.enabled');
    if (next.dedicatedPort === 'assign') await requireRoom(tx, tenant.id, 'maxDedicatedPorts', 'body.dedicatedPort');
    const state: RouteState = { ...next, dedicatedPort: next.dedicatedPort === 'assign' ? await this.assignPort(tx) : next.dedicatedPort };
    // The route is owned by whoever owns its database.
    const data = { ...state, ...ownerColumns(ownerOf(db).type === 'kubernetes' ? actor.owner : undefined) };
    const r = db.route
      ? await tx.route.update({ where: { id: db.route.id }, data, include: { certificate: true } })
      : await tx.route.create({ data: { ...data, databaseId: db.id, tenantId: tenant.id }, include: { certificate: true } });
    // An automatic certificate belongs to its route: it goes when the route stops using it.
    if (previousAuto) await tx.certificate.deleteMany({ where: { id: previousAuto, routes: { none: {} } } });
    const audit: AuditEntry = {
      tenantId: tenant.id,
      action: routeAction(db.route !== null, current.enabled, next.enabled),
      targetType: 'route',
      targetId: r.id,
      changes: { database: { from: null, to: db.name }, ...diff(db.route ? current : null, state), ...(mint ? { certificateIssued: { from: null, to: mint.fingerprint } } : {}) },
    };
    if (audits) audits.push(audit);
    else await recordAudit(tx, actor, audit);
    // The ACME certificate of a host name the route gives up goes with it (acme.lifecycle.ts).
    const released = db.route ? acmeRelease(current, state, certificateChosen) : null;
    if (released) await releaseAcmeCertificates(tx, actor, [released], audits);
    return r;
  }

  /** The lowest free port of the pool, read inside the route transaction. */
  private async assignPort(tx: Pick<PrismaClient, 'route'>): Promise<number> {
    const used = new Set(
      (await tx.route.findMany({ where: { dedicatedPort: { not: null } }, select: { dedicatedPort: true } })).map((r) => r.dedicatedPort),
    );
    const free = (this.deps.dedicatedPorts ?? []).find((p) => !used.has(p));
    if (free === undefined) throw new AppError('SY_DEDICATED_PORTS_EXHAUSTED', undefined, [{ field: 'body.dedicatedPort', message: 'no free port in the pool' }]);
    return free;
  }

  private async findDatabase(tenant: Tenant, name: string) {
    const db = await this.deps.prisma.database.findUnique({
      where: { tenantId_name: { tenantId: tenant.id, name } },
      include: { route: { include: { certificate: true } } },
    });
    if (!db) throw new AppError('SY_DATABASE_NOT_FOUND');
    return db;
  }

  private validate(tenant: Tenant, db: Database, current: RouteState, body: PutExternalAccessBody): WantedState {
    const details: ErrorDetail[] = [];
    const engine = db.engine as Engine;
    const defaultHost = defaultRouteHostname(db.name, tenant.slug, this.deps.baseDomain);
    let hostname = current.hostname;
    if (body.hostname !== undefined) {
      const h = normalizeHostname(body.hostname);
      const wildcard = h?.startsWith('*.') ?? false;
      if (!h || !(wildcard ? isValidWildcardHostname(h) : isValidHostname(h))) {
        details.push({ field: 'body.hostname', message: `"${body.hostname}" is not a valid host name (a wildcard is one leading "*." label)` });
      } else if (h !== defaultHost) {
        // A wildcard under the base domain would capture other tenants' unknown names.
        if (isUnderDomain(wildcard ? h.slice(2) : h, this.deps.baseDomain)) {
          throw new AppError('SY_HOSTNAME_NOT_ALLOWED', `Under ${this.deps.baseDomain} only the default hostname ${defaultHost} is available`, [
            { field: 'body.hostname', message: 'is reserved' },
          ]);
        }
        if (!tenant.allowedCustomDomains.some((d) => h.endsWith(`.${d}`))) {
          throw new AppError(
            'SY_HOSTNAME_NOT_ALLOWED',
            tenant.allowedCustomDomains.length
              ? `${h} is not under the tenant’s allowed domains (${tenant.allowedCustomDomains.join(', ')})`
              : 'The tenant has no custom domains; ask a platform admin to allow one',
            [{ field: 'body.hostname', message: 'is not under an allowed domain' }],
          );
        }
      }
      if (h) hostname = h;
    }
    let listener = current.listener;
    if (body.listener !== undefined) {
      const spec = this.deps.listeners.find((l) => l.name === body.listener);
      if (!spec) {
        details.push({ field: 'body.listener', message: `unknown listener; known: ${this.deps.listeners.map((l) => l.name).join(', ')}` });
      } else if (!listenerServes(spec.protocol, engine)) {
        throw new AppError('SY_LISTENER_MISMATCH', `Listener ${spec.name} (${spec.protocol}) cannot serve ${engine} databases`, [
          { field: 'body.listener', message: 'does not match the engine' },
        ]);
      } else {
        listener = spec.name;
      }
    }
    let sourceCidrs = current.sourceCidrs;
    if (body.sourceCidrs !== undefined) {
      sourceCidrs = body.sourceCidrs.map((c, i) => {
        const parsed = parseCidr(c.trim());
        if (!parsed) details.push({ field: `body.sourceCidrs.${i}`, message: `"${c}" is not a CIDR with zero host bits` });
        return parsed?.text ?? c;
      });
    }
    const kind = this.listenerKind(listener);
    let destination = body.destination === undefined ? current.destination : body.destination;
    if (body.destination) {
      destination = canonicalDestination(body.destination);
      if (!destination) details.push({ field: 'body.destination', message: `"${body.destination}" is not an IP address with a port, e.g. 10.1.2.3:443` });
    }
    if (kind === 'destination' && !destination && !details.some((d) => d.field === 'body.destination')) {
      details.push({ field: 'body.destination', message: `listener ${listener} routes by destination address; give one` });
    } else if (kind !== 'destination' && destination) {
      details.push({ field: 'body.destination', message: `only destination listeners route by destination address (${listener} is ${kind ?? 'unknown'})` });
    }
    const sourceAddress = body.sourceAddress === undefined ? current.sourceAddress : body.sourceAddress;
    if (details.length > 0) throw new AppError('SY_VALIDATION', `${details[0]!.field} ${details[0]!.message}`, details);
    const egressSources = this.deps.egressSourceAddresses ?? [];
    if (sourceAddress !== null && !egressSources.includes(sourceAddress)) {
      throw new AppError(
        'SY_EGRESS_SOURCE_NOT_ALLOWED',
        egressSources.length ? `${sourceAddress} is not one of the egress source addresses (${egressSources.join(', ')})` : 'No egress source addresses are configured (SWITCHYARD_EGRESS_SOURCE_ADDRESSES)',
        [{ field: 'body.sourceAddress', message: 'is not an egress source address' }],
      );
    }
    if (kind === 'egress' && sourceAddress === null) {
      throw new AppError('SY_EGRESS_SOURCE_NOT_ALLOWED', `Listener ${listener} is an egress listener: choose a sourceAddress (${egressSources.join(', ') || 'none configured'})`, [
        { field: 'body.sourceAddress', message: 'is required on egress listeners' },
      ]);
    }
    let dedicatedPort: WantedState['dedicatedPort'] = current.dedicatedPort;
    if (body.dedicatedPort === false) dedicatedPort = null;
    if (body.dedicatedPort === true && current.dedicatedPort === null) {
      if ((this.deps.dedicatedPorts ?? []).length === 0) {
        throw new AppError('SY_DEDICATED_PORTS_UNAVAILABLE', undefined, [{ field: 'body.dedicatedPort', message: 'no pool configured' }]);
      }
      dedicatedPort = 'assign';
    }
    const tlsMode = body.tlsMode ?? current.tlsMode;
    let upstreamCa = current.upstreamCa;
    if (body.upstreamCa !== undefined) {
      const problem = body.upstreamCa === null ? null : caBundleProblem(body.upstreamCa);
      if (problem !== null) throw new AppError('SY_UPSTREAM_CA_INVALID', 'upstreamCa must hold one or more PEM certificates', [{ field: 'body.upstreamCa', message: problem }]);
      upstreamCa = body.upstreamCa;
    }
    let upstreamServerName = current.upstreamServerName;
    if (body.upstreamServerName !== undefined) {
      upstreamServerName = body.upstreamServerName === null ? null : normalizeHostname(body.upstreamServerName.trim());
      if (upstreamServerName !== null && !isUpstreamServerName(upstreamServerName)) {
        throw new AppError('SY_VALIDATION', `body.upstreamServerName "${body.upstreamServerName}" is not a DNS name (the name in the upstream's certificate, e.g. pg.tenant.svc)`, [
          { field: 'body.upstreamServerName', message: 'is not a DNS name (no IP addresses, ports or wildcards)' },
        ]);
      }
    }
    return {
      enabled: body.enabled,
      hostname,
      listener,
      tlsMode,
      disableBehavior: body.disableBehavior ?? current.disableBehavior,
      sourceCidrs,
      maxConnections: body.maxConnections === undefined ? current.maxConnections : body.maxConnections,
      certificateId: current.certificateId,
      upstreamTls: body.upstreamTls ?? current.upstreamTls,
      upstreamCa,
      upstreamServerName,
      dedicatedPort,
      proxyProtocol: body.proxyProtocol === undefined ? current.proxyProtocol : body.proxyProtocol,
      destination,
      sourceAddress,
    };
  }

  private async mintFor(hostname: string): Promise<Prisma.CertificateUncheckedCreateInput> {
    try {
      return await this.deps.certificates.mintForRoute(hostname);
    } catch (err) {
      if (err instanceof AppError && err.code === 'SY_KEYRING_UNAVAILABLE') {
        throw new AppError('SY_CERTIFICATE_REQUIRED', 'TLS termination needs a certificate, and none can be issued: the API has no keyring (SWITCHYARD_KEYS); use passthrough', [
          { field: 'body.tlsMode', message: 'terminate needs a certificate' },
        ]);
      }
      throw err;
    }
  }

  private async attachable(tenant: Tenant, id: string): Promise<Certificate> {
    try {
      return await this.deps.certificates.findForTenant(tenant, id);
    } catch (err) {
      if (err instanceof AppError && err.code === 'SY_CERTIFICATE_NOT_FOUND') {
        throw new AppError('SY_CERTIFICATE_NOT_FOUND', 'No certificate with this id in the tenant', [{ field: 'body.certificateId', message: 'is not a certificate of this tenant' }]);
      }
      throw err;
    }
  }
}

/** Unique-index violations of a route write as the error the client can act on. */
async function writeConflicts<T>(next: WantedState, prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      // The violated index (driver adapters report it in meta; the message quotes the query).
      const where = JSON.stringify(err.meta ?? {});
      if (where.includes('dedicated_port')) {
        throw new AppError('SY_CONFLICT', 'Another route took the same dedicated port at the same moment; retry', [{ field: `${prefix}dedicatedPort`, message: 'retry' }]);
      }
      if (where.includes('destination')) {
        throw new AppError('SY_DESTINATION_TAKEN', `The destination ${String(next.destination)} is already routed by another route`, [
          { field: `${prefix}destination`, message: 'is already taken' },
        ]);
      }
      throw new AppError('SY_HOSTNAME_TAKEN', `The hostname ${next.hostname} is already used by another route`, [{ field: `${prefix}hostname`, message: 'is already taken' }]);
    }
    throw err;
  }
}

/**
 * A failed batch as one error: the first failing item's code (and so its status), every
 * failing item's details with fields under `body.items.<i>.`, nothing written.
 */
function batchError(failures: Array<{ index: number; error: AppError }>): AppError {
  const details: ErrorDetail[] = [];
  for (const { index, error } of failures) {
    const prefix = `body.items.${index}.`;
    const own = error.details?.length ? error.details : [{ field: 'body.database', message: error.message }];
    for (const d of own) {
      const f = d.field ?? '';
      const inBody = f.startsWith('body.');
      details.push({ ...d, field: inBody ? prefix + f.slice(5) : `${prefix}database`, message: inBody || !f ? d.message : `${f}: ${d.message}` });
    }
  }
  const { index, error } = failures[0]!;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more item${failures.length > 2 ? 's' : ''})` : '';
  return new AppError(error.code, `Item ${index}: ${error.message}${more}; nothing was changed`, details);
}

/**
 * A name the upstream's certificate can carry and SNI can send (RFC 6066 §3: a DNS host name,
 * not an address): one label or more, so a Service's short name (`pg`) and a cluster name
 * (`pg.tenant.svc`) both pass.
 */
/**
 * The host name whose ACME certificate a route change ends, and why; null: none. Changes away
 * from what an ACME certificate needs (an enabled terminate-mode route under this name; a
 * route that already was disabled or in passthrough has none to end), and a certificate the
 * tenant chose for the route instead.
 */
function acmeRelease(before: RouteState, after: RouteState, certificateChosen: boolean): ReleasedHostname | null {
  if (after.hostname !== before.hostname) return { hostname: before.hostname, reason: 'hostname-changed' };
  if (before.tlsMode === 'terminate' && after.tlsMode !== 'terminate') return { hostname: before.hostname, reason: 'tls-mode-changed' };
  if (before.enabled && !after.enabled) return { hostname: before.hostname, reason: 'route-disabled' };
  // Given another certificate (or the platform CA's, with null): unless it is the one ACME issued.
  if (certificateChosen && after.certificateId) return { hostname: before.hostname, reason: 'certificate-replaced', unlessIssued: after.certificateId };
  return null;
}

function routeAction(existed: boolean, wasEnabled: boolean, enabled: boolean): string {
  if (!existed) return enabled ? 'route.enable' : 'route.create';
  if (wasEnabled === enabled) return 'route.update';
  return enabled ? 'route.enable' : 'route.disable';
}

function stateOf(r: Route): RouteState {
  return {
    enabled: r.enabled,
    hostname: r.hostname,
    listener: r.listener,
    tlsMode: r.tlsMode as TlsMode,
    disableBehavior: r.disableBehavior as DisableBehavior,
    sourceCidrs: r.sourceCidrs,
    maxConnections: r.maxConnections,
    certificateId: r.certificateId,
    upstreamTls: r.upstreamTls,
    upstreamCa: r.upstreamCa,
    upstreamServerName: r.upstreamServerName,
    dedicatedPort: r.dedicatedPort,
    proxyProtocol: (r.proxyProtocol as UpstreamProxyProtocol | null) ?? null,
    destination: r.destination,
    sourceAddress: r.sourceAddress,
  };
}

/** Connection strings for the route's dedicated port (no SNI needed, so an IP works too). */
function dedicatedConnection(engine: Engine, address: string, port: number): string {
  switch (engine) {
    case 'postgres':
      return `psql "host=${address} port=${port} dbname=DBNAME user=USER sslmode=require"`;
    case 'redis':
      return `redis-cli -h ${address} -p ${port} --tls`;
    case 'mongodb':
      return `mongosh "mongodb://USER@${address}:${port}/?tls=true&directConnection=true"`;
    case 'http':
      return `curl http://${address}:${port}/`;
    default:
      return `${address}:${port}`;
  }
}
