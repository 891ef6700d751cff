/**
 * Tenant API tokens for automation: created with a role no higher than the creator's,
 * shown once, stored hashed, revocable at once.
 */
import type { ApiToken, PrismaClient } from '@switchyard/db';
import { requirePlatformAdmin, requireTenantRole, roleAtLeast, type Actor, type TenantRole } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { generateToken } from '../../lib/tokens.js';
import { recordAudit } from '../audit/audit.service.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import type { CreatePlatformTokenBody, CreateTokenBody, TokenResponse } from './tokens.schemas.js';

function futureExpiry(expiresAt: string | undefined): Date | null {
  const at = expiresAt ? new Date(expiresAt) : null;
  if (at && at.getTime() <= Date.now()) {
    throw new AppError('SY_VALIDATION', 'body.expiresAt must be in the future', [{ field: 'body.expiresAt', message: 'must be in the future' }]);
  }
  return at;
}

function view(t: ApiToken): TokenResponse {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

export class TokensService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
  ) {}

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
      return t;
    });
    return { ...view(row), token };
  }

  async list(actor: Actor, tenantSlug: string): Promise<TokenResponse[]> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const rows = await this.prisma.apiToken.findMany({ where: { tenantId: tenant.id }, orderBy: { createdAt: 'desc' } });
    return rows.map(view);
  }

  async revoke(actor: Actor, tenantSlug: string, tokenId: string): Promise<void> {
    const tenant = await this.tenants.resolve(actor, tenantSlug, 'admin');
    const t = await this.prisma.apiToken.findFirst({ where: { id: tokenId, tenantId: tenant.id } });
    if (!t) throw new AppError('SY_TOKEN_NOT_FOUND');
    const mine = requireTenantRole(actor, tenant.id, 'admin');
    if (mine !== 'platform-admin' && !roleAtLeast(mine, t.role as TenantRole)) {
      throw new AppError('SY_FORBIDDEN', `You cannot revoke a token with a role above your own (${mine})`);
    }
    if (t.revokedAt) return;
    await this.prisma.$transaction(async (tx) => {
      await tx.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
      await recordAudit(tx, actor, { tenantId: tenant.id, action: 'token.revoke', targetType: 'api_token', targetId: t.id, changes: { prefix: { from: t.prefix, to: null } } });
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
      return t;
    });
    return { ...view(row), token };
  }

  async listPlatform(actor: Actor): Promise<TokenResponse[]> {
    requirePlatformAdmin(actor);
    const rows = await this.prisma.apiToken.findMany({ where: { tenantId: null }, orderBy: { createdAt: 'desc' } });
    return rows.map(view);
  }

  async revokePlatform(actor: Actor, tokenId: string): Promise<void> {
    requirePlatformAdmin(actor);
    const t = await this.prisma.apiToken.findFirst({ where: { id: tokenId, tenantId: null } });
    if (!t) throw new AppError('SY_TOKEN_NOT_FOUND');
    if (t.revokedAt) return;
    await this.prisma.$transaction(async (tx) => {
      await tx.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
      await recordAudit(tx, actor, { action: 'platform_token.revoke', targetType: 'api_token', targetId: t.id, changes: { prefix: { from: t.prefix, to: null } } });
    });
  }
}
