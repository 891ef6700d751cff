/**
 * Tenant API tokens for automation: created with a role no higher than the creator's,
 * shown once, stored hashed, revocable at once.
 */
import type { ApiToken, PrismaClient, TxClient } from '@switchyard/db';
import { requirePlatformAdmin, requireTenantRole, roleAtLeast, type Actor, type TenantRole } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { generateToken } from '../../lib/tokens.js';
import { recordAudit } from '../audit/audit.service.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { CreatePlatformTokenBody, CreateTokenBody, TokenCreatedBy, TokenResponse } from './tokens.schemas.js';

function futureExpiry(expiresAt: string | undefined): Date | null {
  const at = expiresAt ? new Date(expiresAt) : null;
  if (at && at.getTime() <= Date.now()) {
    throw new AppError('SY_VALIDATION', 'body.expiresAt must be in the future', [{ field: 'body.expiresAt', message: 'must be in the future' }]);
  }
  return at;
}

const UNKNOWN_CREATOR: TokenCreatedBy = { kind: 'unknown', userId: null, email: null, tokenId: null, tokenName: null };

/**
 * Who created each token. A user is on the row (`created_by_id`); a token or the bootstrap
 * token only in the creation's audit event, written in the same transaction (so at the same
 * instant: the lookup reads a one-minute window of the `at` index, not the whole trail). A
 * deleted user is named by the audit event's id, without an email.
 */
async function creators(db: Pick<TxClient, 'user' | 'apiToken' | '$queryRaw'>, rows: ApiToken[]): Promise<Map<string, TokenCreatedBy>> {
  const out = new Map<string, TokenCreatedBy>();
  const unknown = rows.filter((t) => t.createdById === null).map((t) => t.id);
  const audited = unknown.length === 0 ? [] : await db.$queryRaw<Array<{ id: string; actorType: string; actorId: string }>>`
    SELECT t.id::text AS id, a.actor_type AS "actorType", a.actor_id AS "actorId"
      FROM api_tokens t
      CROSS JOIN LATERAL (
        SELECT actor_type, actor_id FROM audit_events a
         WHERE a.at BETWEEN t.created_at - interval '1 minute' AND t.created_at + interval '1 minute'
           AND a.target_type = 'api_token' AND a.target_id = t.id::text AND a.action IN ('token.create', 'platform_token.create')
         LIMIT 1) a
     WHERE t.id = ANY(${unknown}::uuid[])`;
  const userIds = new Set([...rows.flatMap((t) => (t.createdById ? [t.createdById] : [])), ...audited.filter((a) => a.actorType === 'user').map((a) => a.actorId)]);
  const tokenIds = audited.filter((a) => a.actorType === 'token').map((a) => a.actorId);
  const [users, tokens] = await Promise.all([
    userIds.size === 0 ? [] : db.user.findMany({ where: { id: { in: [...userIds] } }, select: { id: true, email: true } }),
    tokenIds.length === 0 ? [] : db.apiToken.findMany({ where: { id: { in: tokenIds } }, select: { id: true, name: true, tenantId: true } }),
  ]);
  const emails = new Map(users.map((u) => [u.id, u.email]));
  const byToken = new Map(tokens.map((t) => [t.id, t]));
  const byUser = (userId: string): TokenCreatedBy => ({ kind: 'user', userId, email: emails.get(userId) ?? null, tokenId: null, tokenName: null });
  for (const t of rows) if (t.createdById) out.set(t.id, byUser(t.createdById));
  for (const a of audited) {
    if (a.actorType === 'user') out.set(a.id, byUser(a.actorId));
    else if (a.actorType === 'admin-token') out.set(a.id, { ...UNKNOWN_CREATOR, kind: 'bootstrap-token' });
    else if (a.actorType === 'token') {
      const creator = byToken.get(a.actorId);
      out.set(a.id, { kind: creator && creator.tenantId !== null ? 'api-token' : 'platform-token', userId: null, email: null, tokenId: a.actorId, tokenName: creator?.name ?? null });
    }
  }
  return out;
}

function view(t: ApiToken, createdBy: TokenCreatedBy): TokenResponse {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    createdBy,
  };
}

export class TokensService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
  ) {}

  private async views(rows: ApiToken[], db: Pick<TxClient, 'user' | 'apiToken' | '$queryRaw'> = this.prisma): Promise<TokenResponse[]> {
    const by = await creators(db, rows);
    return rows.map((t) => view(t, by.get(t.id) ?? UNKNOWN_CREATOR));
  }

  async create(actor: Actor, tenantSlug: string, body: CreateTokenBody): Promise<TokenResponse & { token: string }> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const mine = requireTenantRole(actor, tenant.id, 'admin');
    if (mine !== 'platform-admin' && !roleAtLeast(mine, body.role)) {
      throw new AppError('SY_FORBIDDEN', `You cannot create a token with a role above your own (${mine})`);
    }
    const expiresAt = futureExpiry(body.expiresAt);
    const { token, prefix, hash } = generateToken();
    const row = await this.prisma.$transaction(async (tx) => {
      const t = await tx.apiToken.create({
        data: {
          tenantId: tenant.id,
          name: body.name,
          prefix,
          hash,
          role: body.role,
          expiresAt,
          createdById: actor.principal.actorType === 'user' ? actor.principal.actorId : null,
        },
      });
      await recordAudit(tx, actor, {
        tenantId: tenant.id,
        action: 'token.create',
        targetType: 'api_token',
        targetId: t.id,
        changes: { name: { from: null, to: t.name }, role: { from: null, to: t.role }, prefix: { from: null, to: prefix }, expiresAt: { from: null, to: expiresAt?.toISOString() ?? null } },
      });
      return (await this.views([t], tx))[0]!;
    });
    return { ...row, token };
  }

  async list(actor: Actor, tenantSlug: string): Promise<TokenResponse[]> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const rows = await this.prisma.apiToken.findMany({ where: { tenantId: tenant.id }, orderBy: { createdAt: 'desc' } });
    return this.views(rows);
  }

  async revoke(actor: Actor, tenantSlug: string, tokenId: string): Promise<void> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const t = await this.prisma.apiToken.findFirst({ where: { id: tokenId, tenantId: tenant.id } });
    if (!t) throw new AppError('SY_TOKEN_NOT_FOUND');
    const mine = requireTenantRole(actor, tenant.id, 'admin');
    if (mine !== 'platform-admin' && !roleAtLeast(mine, t.role as TenantRole)) {
      throw new AppError('SY_FORBIDDEN', `You cannot revoke a token with a role above your own (${mine})`);
    }
    await this.revokeOnce(actor, t, tenant.id, 'token.revoke');
  }

  /**
   * Revokes a token that is not revoked yet, with its audit event. Two concurrent revocations
   * both read the row unrevoked: the write's own condition lets only the first one through,
   * so the token keeps its first `revokedAt` and the trail records one revocation, not two.
   */
  private async revokeOnce(actor: Actor, t: ApiToken, tenantId: string | null, action: 'token.revoke' | 'platform_token.revoke'): Promise<void> {
    if (t.revokedAt) return;
    await this.prisma.$transaction(async (tx) => {
      const { count } = await tx.apiToken.updateMany({ where: { id: t.id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) return;
      await recordAudit(tx, actor, { tenantId, action, targetType: 'api_token', targetId: t.id, changes: { prefix: { from: t.prefix, to: null } } });
    });
  }

  /** Platform tokens act as a platform admin; only platform admins manage them. */
  async createPlatform(actor: Actor, body: CreatePlatformTokenBody): Promise<TokenResponse & { token: string }> {
    requirePlatformAdmin(actor);
    const expiresAt = futureExpiry(body.expiresAt);
    const { token, prefix, hash } = generateToken();
    const row = await this.prisma.$transaction(async (tx) => {
      const t = await tx.apiToken.create({
        data: { tenantId: null, name: body.name, prefix, hash, role: 'platform-admin', expiresAt, createdById: actor.principal.actorType === 'user' ? actor.principal.actorId : null },
      });
      await recordAudit(tx, actor, {
        action: 'platform_token.create',
        targetType: 'api_token',
        targetId: t.id,
        changes: { name: { from: null, to: t.name }, role: { from: null, to: t.role }, prefix: { from: null, to: prefix }, expiresAt: { from: null, to: expiresAt?.toISOString() ?? null } },
      });
      return (await this.views([t], tx))[0]!;
    });
    return { ...row, token };
  }

  async listPlatform(actor: Actor): Promise<TokenResponse[]> {
    requirePlatformAdmin(actor);
    const rows = await this.prisma.apiToken.findMany({ where: { tenantId: null }, orderBy: { createdAt: 'desc' } });
    return this.views(rows);
  }

  async revokePlatform(actor: Actor, tokenId: string): Promise<void> {
    requirePlatformAdmin(actor);
    const t = await this.prisma.apiToken.findFirst({ where: { id: tokenId, tenantId: null } });
    if (!t) throw new AppError('SY_TOKEN_NOT_FOUND');
    await this.revokeOnce(actor, t, null, 'platform_token.revoke');
  }
}
