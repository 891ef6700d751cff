/**
 * Certificates: a platform CA, leaves it issues for route host names, self-signed leaves and
 * uploaded chains. Private keys are sealed with the keyring (AES-256-GCM, AAD = certificate
 * id) before they reach the database and are never returned or logged.
 *
 * Replacing a certificate that routes use commits the new content, the audit event and one
 * config-version bump per route (`recordRouteChanges`, last statement) in one transaction,
 * so every proxy rebuilds those routes' TLS contexts; open sessions keep theirs.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { isUnderDomain, isValidHostname, isValidWildcardHostname, normalizeHostname } from '@switchyard/core';
import { Prisma, recordRouteChanges, type Certificate, type PrismaClient, type Tenant } from '@switchyard/db';
import {
  certificateCovers,
  certificateInfo,
  CertificateValidationError,
  createCertificateAuthority,
  createSelfSigned,
  issueCertificate,
  splitPemChain,
  type Keyring,
  validateCertificateChain,
  type CertificateErrorCode,
  type KeyAndCert,
} from '@switchyard/pki';
import type { Actor } from '../../lib/access.js';
import { AppError, type ErrorCode } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import type { Propagation } from '../external-access/external-access.schemas.js';
import type { PropagationTracker } from '../proxies/propagation.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { CertificateResponse, IssueCertificateBody, ReplaceCertificateBody, UploadCertificateBody } from './certificates.schemas.js';

export const CA_PEM_PATH = '/api/v1/pki/ca.pem';
/** File name the connection strings use for the downloaded platform CA. */
export const CA_FILE_NAME = 'switchyard-ca.pem';
const PLATFORM_CA_NAME = 'Switchyard Platform CA';
const DAY_MS = 86_400_000;
/** Automatic certificates: renewed well before clients start warning. */
const AUTO_VALID_DAYS = 397;

const VALIDATION_CODES: Record<CertificateErrorCode, ErrorCode> = {
  pem_invalid: 'SY_CERTIFICATE_PEM_INVALID',
  key_invalid: 'SY_CERTIFICATE_KEY_INVALID',
  key_unsupported: 'SY_CERTIFICATE_KEY_UNSUPPORTED',
  key_mismatch: 'SY_CERTIFICATE_KEY_MISMATCH',
  chain_order: 'SY_CERTIFICATE_CHAIN_ORDER',
  not_a_leaf: 'SY_CERTIFICATE_NOT_LEAF',
  no_hostnames: 'SY_CERTIFICATE_NO_HOSTNAMES',
  expired: 'SY_CERTIFICATE_EXPIRED',
  not_yet_valid: 'SY_CERTIFICATE_NOT_YET_VALID',
  hostname_not_covered: 'SY_CERTIFICATE_HOSTNAME_MISMATCH',
};

type WithRoutes = Certificate & { routes: Array<{ id: string; hostname: string; tlsMode: string }> };

export interface CertificatesDeps {
  prisma: PrismaClient;
  tenants: Pick<TenantsService, 'resolve'>;
  keyring: Keyring | null;
  baseDomain: string;
  propagation: Pick<PropagationTracker, 'status' | 'waitFor'>;
  propagationTimeoutMs: number;
}

export class CertificatesService {
  private platformCa: Promise<Certificate> | null = null;

  constructor(private readonly deps: CertificatesDeps) {}

  private get keyring(): Keyring {
    if (!this.deps.keyring) {
      throw new AppError('SY_KEYRING_UNAVAILABLE', 'No keyring is configured (SWITCHYARD_KEYS or SWITCHYARD_KEYS_FILE), so private keys cannot be stored');
    }
    return this.deps.keyring;
  }

  view(c: WithRoutes): CertificateResponse {
    const info = certificateInfo(c.certPem);
    return {
      id: c.id,
      name: c.name,
      kind: c.kind as CertificateResponse['kind'],
      hostnames: c.hostnames,
      subject: info.subject,
      issuer: info.issuer,
      fingerprint: c.fingerprint,
      keyType: c.keyType,
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      expiresInDays: Math.floor((c.notAfter.getTime() - Date.now()) / DAY_MS),
      auto: c.auto,
      publiclyTrusted: (c.kind === 'uploaded' || c.kind === 'acme') && isPubliclyTrusted(c.certPem),
      caUrl: c.kind === 'issued' ? CA_PEM_PATH : null,
      routes: c.routes.map((r) => ({ id: r.id, hostname: r.hostname, tlsMode: r.tlsMode })),
      certificatePem: c.certPem,
      createdAt: c.createdAt.toISOString(),
      updatedAt: c.updatedAt.toISOString(),
    };
  }

  // ── platform CA ──────────────────────────────────────────────────────────────────────

  /** The platform CA, created once (concurrent creators meet at a unique index). */
  ensurePlatformCa(): Promise<Certificate> {
    this.platformCa ??= this.loadOrCreateCa().catch((err: unknown) => {
      this.platformCa = null;
      throw err;
    });
    return this.platformCa;
  }

  private async loadOrCreateCa(): Promise<Certificate> {
    const existing = await this.deps.prisma.certificate.findFirst({ where: { kind: 'platform-ca' } });
    if (existing) return existing;
    const keyring = this.keyring;
    const ca = createCertificateAuthority({ commonName: PLATFORM_CA_NAME, validDays: 3650 });
    const id = randomUUID();
    try {
      return await this.deps.prisma.certificate.create({ data: { ...this.rowData(id, ca, keyring), tenantId: null, name: PLATFORM_CA_NAME, kind: 'platform-ca' } });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        return this.deps.prisma.certificate.findFirstOrThrow({ where: { kind: 'platform-ca' } });
      }
      throw err;
    }
  }

  async caPem(): Promise<string> {
    return (await this.ensurePlatformCa()).certPem;
  }

  /** The CA key and certificate, re-encrypting the key lazily when it was sealed with an older key. */
  private async caKeyAndCert(): Promise<KeyAndCert> {
    const ca = await this.ensurePlatformCa();
    const keyring = this.keyring;
    const keyPem = keyring.decrypt(ca.keyCiphertext!, ca.id);
    if (keyring.isStale(ca.keyCiphertext!)) {
      await this.deps.prisma.certificate.update({ where: { id: ca.id }, data: { keyCiphertext: keyring.encrypt(keyPem, ca.id) } });
      this.platformCa = null;
    }
    return { certPem: ca.certPem, keyPem };
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────

  async list(actor: Actor, tenantSlug: string): Promise<CertificateResponse[]> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    const rows = await this.deps.prisma.certificate.findMany({
      where: { tenantId: tenant.id },
      include: { routes: { select: { id: true, hostname: true, tlsMode: true } } },
      orderBy: [{ notAfter: 'asc' }, { id: 'asc' }],
      take: 1000,
    });
    return rows.map((r) => this.view(r));
  }

  async get(actor: Actor, tenantSlug: string, id: string): Promise<CertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'member');
    return this.view(await this.find(tenant, id));
  }

  private async find(tenant: Tenant, id: string): Promise<WithRoutes> {
    const c = await this.deps.prisma.certificate.findFirst({
      where: { id, tenantId: tenant.id },
      include: { routes: { select: { id: true, hostname: true, tlsMode: true } } },
    });
    if (!c) throw new AppError('SY_CERTIFICATE_NOT_FOUND');
    return c;
  }

  /** A tenant's certificate for attaching to a route (inside the caller's checks). */
  async findForTenant(tenant: Tenant, id: string): Promise<Certificate> {
    return this.find(tenant, id);
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────

  async issue(actor: Actor, tenantSlug: string, body: IssueCertificateBody): Promise<CertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const hostnames = this.checkHostnames(tenant, body.hostnames);
    const keyring = this.keyring;
    const material =
      body.type === 'platform-ca'
        ? issueCertificate(await this.caKeyAndCert(), { hostnames, validDays: body.validDays ?? AUTO_VALID_DAYS })
        : createSelfSigned({ hostnames, validDays: body.validDays ?? AUTO_VALID_DAYS });
    const id = randomUUID();
    const kind = body.type === 'platform-ca' ? 'issued' : 'self-signed';
    const row = await this.create(actor, tenant, { ...this.rowData(id, material, keyring), tenantId: tenant.id, name: body.name, kind }, 'certificate.issue');
    return this.view(row);
  }

  async upload(actor: Actor, tenantSlug: string, body: UploadCertificateBody): Promise<CertificateResponse> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const keyring = this.keyring;
    const v = validate(body.certificatePem, body.privateKeyPem, (body.hostnames ?? []).map((h) => normalizeHostname(h) ?? h));
    const id = randomUUID();
    const row = await this.create(
      actor,
      tenant,
      {
        id,
        tenantId: tenant.id,
        name: body.name,
        kind: 'uploaded',
        hostnames: v.hostnames,
        certPem: v.chainPem,
        keyCiphertext: keyring.encrypt(v.keyPem, id),
        keyType: v.keyType,
        fingerprint: v.fingerprint,
        notBefore: v.notBefore,
        notAfter: v.notAfter,
      },
      'certificate.upload',
    );
    return this.view(row);
  }

  private async create(actor: Actor, tenant: Tenant, data: Prisma.CertificateUncheckedCreateInput, action: string): Promise<WithRoutes> {
    try {
      return await this.deps.prisma.$transaction(async (tx) => {
        const c = await tx.certificate.create({ data, include: { routes: { select: { id: true, hostname: true, tlsMode: true } } } });
        await recordAudit(tx, actor, { tenantId: tenant.id, action, targetType: 'certificate', targetId: c.id, changes: auditView(c) });
        return c;
      });
    } catch (err) {
      throw nameTaken(err, data.name);
    }
  }

  /**
   * Replaces a certificate's content under the same id. Routes using it get a new config
   * version in the same transaction, so proxies load the new context for new handshakes.
   */
  async replace(
    actor: Actor,
    tenantSlug: string,
    id: string,
    body: ReplaceCertificateBody,
    opts: { wait: boolean; timeoutMs?: number },
  ): Promise<{ certificate: CertificateResponse; propagation: Propagation | null }> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const current = await this.find(tenant, id);
    const keyring = this.keyring;
    const routeHosts = current.routes.map((r) => r.hostname);
    let data: Prisma.CertificateUncheckedUpdateInput;
    if (current.kind === 'uploaded') {
      // validDays re-issues; an uploaded certificate keeps the validity its issuer gave it, so
      // accepting it would answer 200 for something that was not done.
      const details = [
        ...(body.validDays !== undefined ? [{ field: 'body.validDays', message: 'only for issued and self-signed certificates; an uploaded one keeps the validity its issuer gave it' }] : []),
        ...(['certificatePem', 'privateKeyPem'] as const).filter((f) => !body[f]).map((f) => ({ field: `body.${f}`, message: 'is required to replace an uploaded certificate' })),
      ];
      if (details.length > 0) {
        throw new AppError('SY_VALIDATION', `An uploaded certificate is replaced by uploading certificatePem and privateKeyPem${body.validDays !== undefined ? ' (validDays is for re-issuing issued and self-signed ones)' : ''}`, details);
      }
      const v = validate(body.certificatePem!, body.privateKeyPem!, routeHosts, 'body.certificatePem');
      data = { hostnames: v.hostnames, certPem: v.chainPem, keyCiphertext: keyring.encrypt(v.keyPem, id), keyType: v.keyType, fingerprint: v.fingerprint, notBefore: v.notBefore, notAfter: v.notAfter };
    } else if (current.kind === 'issued' || current.kind === 'self-signed') {
      if (body.certificatePem || body.privateKeyPem) {
        throw new AppError('SY_VALIDATION', 'Issued certificates are re-issued, not uploaded; send {} or {"validDays": n}', [
          { field: body.certificatePem ? 'body.certificatePem' : 'body.privateKeyPem', message: 'only for uploaded certificates' },
        ]);
      }
      const opts = { hostnames: current.hostnames, validDays: body.validDays ?? AUTO_VALID_DAYS };
      const material = current.kind === 'issued' ? issueCertificate(await this.caKeyAndCert(), opts) : createSelfSigned(opts);
      const { id: _id, ...rest } = this.rowData(id, material, keyring);
      data = rest;
    } else {
      throw new AppError(
        'SY_CONFLICT',
        current.kind === 'acme'
          ? 'ACME certificates are renewed by the platform; to renew now: POST /api/v1/tenants/:tenant/acme-certificates/:id/renew'
          : 'The platform CA cannot be replaced through this endpoint',
      );
    }
    const { row, version } = await this.swapContent(actor, tenant.id, current, data, 'certificate.replace');
    if (version === null) return { certificate: this.view(row), propagation: null };
    const timeout = Math.min(opts.timeoutMs ?? this.deps.propagationTimeoutMs, this.deps.propagationTimeoutMs);
    const propagation = opts.wait ? await this.deps.propagation.waitFor(version, timeout) : await this.deps.propagation.status(version);
    return { certificate: this.view(row), propagation };
  }

  /**
   * The replace path: new content under the same id, its audit event and one config-version
   * bump per route using it, in one transaction (the bump last). Proxies build the new
   * context for new handshakes; established sessions keep theirs. Also used by ACME renewal.
   */
  async swapContent(
    actor: Actor,
    tenantId: string,
    current: Certificate,
    data: Prisma.CertificateUncheckedUpdateInput,
    action: string,
  ): Promise<{ row: WithRoutes; version: number | null }> {
    return this.deps.prisma.$transaction(async (tx) => {
      const row = await tx.certificate.update({ where: { id: current.id }, data, include: { routes: { select: { id: true, hostname: true, tlsMode: true } } } });
      await recordAudit(tx, actor, {
        tenantId,
        action,
        targetType: 'certificate',
        targetId: current.id,
        changes: { fingerprint: { from: current.fingerprint, to: row.fingerprint }, notAfter: { from: current.notAfter.toISOString(), to: row.notAfter.toISOString() } },
      });
      // Last statement: the version bump holds the config lock only until COMMIT.
      const version = row.routes.length > 0 ? await recordRouteChanges(tx, row.routes.map((r) => ({ routeId: r.id, hostname: r.hostname, op: 'upsert' as const }))) : null;
      return { row, version };
    });
  }

  async remove(actor: Actor, tenantSlug: string, id: string): Promise<void> {
    const tenant = await this.deps.tenants.resolve(actor, tenantSlug, 'admin');
    const current = await this.find(tenant, id);
    if (current.routes.length > 0) {
      throw new AppError('SY_CERTIFICATE_IN_USE', `The certificate is attached to ${current.routes.map((r) => r.hostname).join(', ')}; attach another one first`, [
        { field: 'certificateId', message: 'is attached to routes', routes: current.routes.map((r) => r.hostname) },
      ]);
    }
    // An ACME request that renews it would be left `issued` with no certificate (the reference
    // is set null) and order a first certificate at its renewal time, taking the route back
    // from whatever the tenant attached meanwhile.
    const renewedBy = await this.deps.prisma.acmeCertificate.findMany({ where: { certificateId: id }, select: { hostname: true } });
    if (renewedBy.length > 0) {
      const names = renewedBy.map((a) => a.hostname);
      throw new AppError(
        'SY_CERTIFICATE_IN_USE',
        `The certificate is renewed by the ACME certificate of ${names.join(', ')}; stop that first (DELETE /api/v1/tenants/${tenant.slug}/acme-certificates/:id), then delete it`,
        [{ field: 'certificateId', message: 'is renewed by ACME', acmeHostnames: names }],
      );
    }
    await this.deps.prisma.$transaction(async (tx) => {
      await tx.certificate.delete({ where: { id } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'certificate.delete', targetType: 'certificate', targetId: id, changes: auditView(current) });
    });
  }

  // ── for external access ──────────────────────────────────────────────────────────────

  /**
   * Mints (outside any transaction: RSA key generation takes tens of milliseconds) a leaf
   * from the platform CA for a route switched to terminate without a certificate.
   */
  async mintForRoute(hostname: string): Promise<Prisma.CertificateUncheckedCreateInput> {
    const keyring = this.keyring;
    const ca = await this.caKeyAndCert();
    const material = issueCertificate(ca, { hostnames: [hostname], validDays: AUTO_VALID_DAYS });
    return { ...this.rowData(randomUUID(), material, keyring), name: `auto ${hostname} ${Date.now().toString(36)}`, kind: 'issued', auto: true };
  }

  private rowData(id: string, material: KeyAndCert, keyring: Keyring) {
    const info = certificateInfo(material.certPem);
    return {
      id,
      hostnames: info.hostnames,
      certPem: material.certPem,
      keyCiphertext: keyring.encrypt(material.keyPem, id),
      keyType: 'rsa-2048',
      fingerprint: info.fingerprint,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
    };
  }

  /**
   * Names a tenant may have signed by the platform CA: its own subdomain of the base domain
   * and its allowed custom domains. Anything else would let one tenant mint a certificate
   * that clients of another tenant trust.
   */
  private checkHostnames(tenant: Tenant, names: string[]): string[] {
    const own = `${tenant.slug}.${this.deps.baseDomain}`;
    const checked = names.map((raw, i) => {
      const h = normalizeHostname(raw);
      const field = `body.hostnames.${i}`;
      if (!h || !(isValidHostname(h) || isValidWildcardHostname(h))) {
        throw new AppError('SY_VALIDATION', `${field} "${raw}" is not a valid host name`, [{ field, message: 'is not a valid host name' }]);
      }
      const bare = h.startsWith('*.') ? h.slice(2) : h;
      const allowed = isUnderDomain(bare, own) || bare === own || tenant.allowedCustomDomains.some((d) => bare === d || isUnderDomain(bare, d));
      if (!allowed) {
        throw new AppError('SY_HOSTNAME_NOT_ALLOWED', `${h} is not under ${own} or the tenant’s allowed domains`, [{ field, message: 'is not under the tenant’s domains' }]);
      }
      return h;
    });
    // One subjectAltName per name: `["a", "A."]` is one name, listed once.
    return [...new Set(checked)];
  }

  /**
   * Re-encrypts every stored private key that was sealed with a non-active key (rotation).
   * Proxies need no reload: they open keys with any key in their keyring.
   */
  static async reencryptAll(prisma: PrismaClient, keyring: Keyring, batch = 200): Promise<{ reencrypted: number; total: number }> {
    let reencrypted = 0;
    let total = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await prisma.certificate.findMany({ where: { id: { gt: after }, keyCiphertext: { not: null } }, select: { id: true, keyCiphertext: true }, orderBy: { id: 'asc' }, take: batch });
      if (rows.length === 0) break;
      total += rows.length;
      for (const r of rows) {
        if (!keyring.isStale(r.keyCiphertext!)) continue;
        const next = keyring.reencrypt(r.keyCiphertext!, r.id);
        // Compare-and-set: a concurrent replace wins.
        const n = await prisma.certificate.updateMany({ where: { id: r.id, keyCiphertext: r.keyCiphertext }, data: { keyCiphertext: next } });
        reencrypted += n.count;
      }
      after = rows[rows.length - 1]!.id;
    }
    return { reencrypted, total };
  }
}

/**
 * `hostnamesField`: where a name the certificate does not cover came from — `body.hostnames`
 * of an upload, or (replacing) the routes using the certificate, which the request does not
 * name: then the new `body.certificatePem` is what is wrong.
 */
function validate(chainPem: string, keyPem: string, hostnames: string[], hostnamesField: 'body.hostnames' | 'body.certificatePem' = 'body.hostnames') {
  try {
    return validateCertificateChain({ chainPem, keyPem, hostnames });
  } catch (err) {
    if (err instanceof CertificateValidationError) {
      const field = err.field === 'certificate' ? 'body.certificatePem' : err.field === 'key' ? 'body.privateKeyPem' : hostnamesField;
      const message = err.code === 'hostname_not_covered' && hostnamesField === 'body.certificatePem' ? `${err.message}, a host name of a route using this certificate` : err.message;
      throw new AppError(VALIDATION_CODES[err.code], message, [{ field, message, ...(err.index !== undefined ? { chainIndex: err.index } : {}) }]);
    }
    throw err;
  }
}

let roots: X509Certificate[] | null = null;

/** Whether the chain ends at a root in Node's bundled (Mozilla) trust store. */
export function isPubliclyTrusted(chainPem: string): boolean {
  roots ??= rootCertificates.map((p) => new X509Certificate(p));
  const chain = splitPemChain(chainPem);
  const last = chain.length > 0 ? new X509Certificate(chain[chain.length - 1]!) : null;
  if (!last) return false;
  return roots.some((r) => r.fingerprint256 === last.fingerprint256 || (last.checkIssued(r) && last.verify(r.publicKey)));
}

/** Covers check used when attaching a certificate to a route. */
export function coversHostname(c: Pick<Certificate, 'certPem'>, hostname: string): boolean {
  return certificateCovers(c.certPem, hostname);
}

function auditView(c: Certificate): Record<string, { from: unknown; to: unknown }> {
  return {
    name: { from: null, to: c.name },
    kind: { from: null, to: c.kind },
    hostnames: { from: null, to: c.hostnames },
    fingerprint: { from: null, to: c.fingerprint },
    notAfter: { from: null, to: c.notAfter.toISOString() },
  };
}

function nameTaken(err: unknown, name: unknown): unknown {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
    return new AppError('SY_CERTIFICATE_EXISTS', `A certificate named ${String(name)} already exists in the tenant`, [{ field: 'body.name', message: 'is already taken' }]);
  }
  return err;
}

