/**
 * Tenant members. Platform admins, owners and admins manage them; nobody grants, changes or
 * removes a role above their own (so only owners touch owners); anyone may leave. A tenant
 * that has an owner keeps one: removing or demoting the last enabled owner is SY_LAST_OWNER.
 * Each change locks the tenant row first, so concurrent changes see each other. Removing or
 * lowering a membership revokes, in the same transaction, the tokens the user created in the
 * tenant above the access left (tokens/token-revocation.ts).
 */
import { Prisma, type Membership, type PrismaClient, type Tenant, type TxClient, type User } from '@switchyard/db';
import { requireTenantRole, roleAtLeast, type Actor, type TenantRole } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { normalizeEmail } from '../auth/auth.service.js';
import type { TenantsService } from '../tenants/tenants.service.js';
import { REVOKE_REASONS, revokeTokensBeyondAccess } from '../tokens/token-revocation.js';
import type { AddMemberBody, MemberResponse, UpdateMemberBody } from './members.schemas.js';

function view(m: Membership & { user: User }): MemberResponse {
  return {
    userId: m.userId,
    email: m.user.email,
    name: m.user.name,
    role: m.role,
    disabled: m.user.disabledAt !== null,
    createdAt: m.createdAt.toISOString(),
  };
}

export class MembersService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tenants: Pick<TenantsService, 'resolve'>,
  ) {}

  /** The caller may grant (or act on a member holding) `role` in the tenant. */
  private requireGrant(actor: Actor, tenant: Tenant, role: TenantRole): void {
    const mine = requireTenantRole(actor, tenant.id, 'admin');
    if (mine !== 'platform-admin' && !roleAtLeast(mine, role)) {
      throw new AppError('SY_FORBIDDEN', `Only a tenant ${role} or a platform admin can grant, change or remove the ${role} role; you are ${mine}`);
    }
  }

  private async lockTenant(tx: TxClient, tenantId: string): Promise<void> {
    await tx.$queryRaw`SELECT id FROM tenants WHERE id = ${tenantId}::uuid FOR UPDATE`;
  }

  /** Throws SY_LAST_OWNER unless another enabled owner remains besides `userId`. */
  private async requireOtherOwner(tx: TxClient, tenantId: string, userId: string): Promise<void> {
    const others = await tx.membership.count({ where: { tenantId, role: 'owner', userId: { not: userId }, user: { disabledAt: null } } });
    if (others === 0) throw new AppError('SY_LAST_OWNER');
  }

  async list(actor: Actor, slug: string): Promise<MemberResponse[]> {
    const tenant = await this.tenants.resolve(actor, slug, 'member');
    const rows = await this.prisma.membership.findMany({ where: { tenantId: tenant.id }, include: { user: true }, orderBy: { createdAt: 'asc' } });
    return rows.map(view);
  }

  async add(actor: Actor, slug: string, body: AddMemberBody): Promise<MemberResponse> {
    const tenant = await this.tenants.resolve(actor, slug, 'admin');
    this.requireGrant(actor, tenant, body.role);
    const user = await this.prisma.user.findUnique({ where: { email: normalizeEmail(body.email) } });
    if (!user) throw new AppError('SY_USER_NOT_FOUND', 'No user has this email address; a platform admin creates users');
    try {
      const m = await this.prisma.$transaction(async (tx) => {
        const created = await tx.membership.create({ data: { tenantId: tenant.id, userId: user.id, role: body.role }, include: { user: true } });
        await recordAudit(tx, actor, {
          tenantId: tenant.id,
          action: 'member.add',
          targetType: 'user',
          targetId: user.id,
          changes: { email: { from: null, to: user.email }, role: { from: null, to: body.role } },
        });
        return created;
      });
      return view(m);
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_MEMBER_EXISTS');
      throw err;
    }
  }

  async update(actor: Actor, slug: string, userId: string, body: UpdateMemberBody): Promise<MemberResponse> {
    const tenant = await this.tenants.resolve(actor, slug, 'admin');
    this.requireGrant(actor, tenant, body.role);
    const m = await this.prisma.$transaction(async (tx) => {
      await this.lockTenant(tx, tenant.id);
      const before = await tx.membership.findUnique({ where: { userId_tenantId: { userId, tenantId: tenant.id } } });
      if (!before) throw new AppError('SY_MEMBER_NOT_FOUND');
      this.requireGrant(actor, tenant, before.role as TenantRole);
      if (before.role === body.role) return tx.membership.findUniqueOrThrow({ where: { id: before.id }, include: { user: true } });
      if (before.role === 'owner') await this.requireOtherOwner(tx, tenant.id, userId);
      const after = await tx.membership.update({ where: { id: before.id }, data: { role: body.role }, include: { user: true } });
      const lowered = !roleAtLeast(body.role, before.role as TenantRole);
      const tokensRevoked = lowered ? await revokeTokensBeyondAccess(tx, actor, userId, REVOKE_REASONS.lowered) : 0;
      await recordAudit(tx, actor, {
        tenantId: tenant.id,
        action: 'member.update',
        targetType: 'user',
        targetId: userId,
        changes: { role: { from: before.role, to: body.role }, ...(tokensRevoked > 0 ? { tokensRevoked } : {}) },
      });
      return after;
    });
    return view(m);
  }

  async remove(actor: Actor, slug: string, userId: string): Promise<void> {
    const leaving = actor.principal.actorType === 'user' && actor.principal.actorId === userId;
    const tenant = await this.tenants.resolve(actor, slug, leaving ? 'member' : 'admin');
    await this.prisma.$transaction(async (tx) => {
      await this.lockTenant(tx, tenant.id);
      const before = await tx.membership.findUnique({ where: { userId_tenantId: { userId, tenantId: tenant.id } }, include: { user: true } });
      if (!before) throw new AppError('SY_MEMBER_NOT_FOUND');
      if (!leaving) this.requireGrant(actor, tenant, before.role as TenantRole);
      if (before.role === 'owner') await this.requireOtherOwner(tx, tenant.id, userId);
      await tx.membership.delete({ where: { id: before.id } });
      const tokensRevoked = await revokeTokensBeyondAccess(tx, actor, userId, REVOKE_REASONS.left);
      await recordAudit(tx, actor, {
        tenantId: tenant.id,
        action: 'member.remove',
        targetType: 'user',
        targetId: userId,
        changes: { email: { from: before.user.email, to: null }, role: { from: before.role, to: null }, ...(tokensRevoked > 0 ? { tokensRevoked } : {}) },
      });
    });
  }
}
