/**
 * Users, managed by platform admins: create (with a password or a generated one shown once),
 * rename, change address, grant or drop platform admin, disable, reset the password, delete.
 * Disabling, resetting or deleting ends the user's sessions in the same transaction; disabling,
 * deleting or dropping platform admin revokes the tokens the user created beyond the access
 * left (tokens/token-revocation.ts). The last enabled platform admin stays one.
 * Passwords and hashes never reach the audit trail.
 */
import { Prisma, type PrismaClient, type TxClient, type User } from '@switchyard/db';
import { requirePlatformAdmin, type Actor } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { generatePassword, hashPassword } from '../../lib/passwords.js';
import { diff, recordAudit } from '../audit/audit.service.js';
import { normalizeEmail } from '../auth/auth.service.js';
import { REVOKE_REASONS, revokeTokensBeyondAccess } from '../tokens/token-revocation.js';
import type { CreateUserBody, UpdateUserBody, UserResponse } from './users.schemas.js';

type UserWithMemberships = User & { memberships: Array<{ role: string; tenant: { slug: string } }> };

const withMemberships = { memberships: { select: { role: true, tenant: { select: { slug: true } } }, orderBy: { createdAt: 'asc' } } } as const;

function view(u: UserWithMemberships): UserResponse {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    isPlatformAdmin: u.isPlatformAdmin,
    disabled: u.disabledAt !== null,
    hasPassword: u.passwordHash !== null,
    lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
    createdAt: u.createdAt.toISOString(),
    updatedAt: u.updatedAt.toISOString(),
    memberships: u.memberships.map((m) => ({ tenant: m.tenant.slug, role: m.role })),
  };
}

/** What the audit trail may see of a user: no password material. */
function auditView(u: User): Record<string, unknown> {
  return { email: u.email, name: u.name, isPlatformAdmin: u.isPlatformAdmin, disabled: u.disabledAt !== null };
}

/**
 * Refuses when the user is the only (enabled) owner of some tenant: deleting or disabling
 * them would leave it ownerless. Every membership change takes the tenant's row lock first
 * (here and in MembersService), so two concurrent removals of two owners cannot both see
 * the other one and both succeed.
 */
export async function assertNotLastOwner(tx: TxClient, userId: string): Promise<void> {
  await tx.$queryRaw`
    SELECT t.id FROM tenants t JOIN memberships m ON m.tenant_id = t.id
    WHERE m.user_id = ${userId}::uuid AND m.role = 'owner'
    ORDER BY t.id FOR UPDATE OF t`;
  const rows = await tx.$queryRaw<Array<{ slug: string }>>`
    SELECT t.slug FROM memberships m JOIN tenants t ON t.id = m.tenant_id
    WHERE m.user_id = ${userId}::uuid AND m.role = 'owner'
      AND NOT EXISTS (
        SELECT 1 FROM memberships o JOIN users u ON u.id = o.user_id
        WHERE o.tenant_id = m.tenant_id AND o.role = 'owner' AND o.user_id <> m.user_id AND u.disabled_at IS NULL)
    ORDER BY t.slug`;
  if (rows.length > 0) {
    throw new AppError('SY_LAST_OWNER', `The user is the last owner of ${rows.map((r) => r.slug).join(', ')}; make someone else owner first`);
  }
}

/**
 * Refuses when `user` is the last enabled platform admin user: without one, only the bootstrap
 * token (if it is configured at all) or platform tokens could administer the platform, and
 * nobody could sign in to the admin pages. The enabled admins' rows are locked first, so two
 * concurrent demotions of the last two cannot both see the other one and both succeed (the
 * second re-reads the first one's committed row and no longer counts it).
 */
export async function assertNotLastPlatformAdmin(tx: TxClient, user: Pick<User, 'id' | 'email'>): Promise<void> {
  const admins = await tx.$queryRaw<Array<{ id: string }>>`
    SELECT id FROM users WHERE is_platform_admin AND disabled_at IS NULL ORDER BY id FOR UPDATE`;
  if (!admins.some((a) => a.id !== user.id)) {
    throw new AppError('SY_LAST_PLATFORM_ADMIN', `${user.email} is the last enabled platform admin; make another user platform admin first`);
  }
}

export class UsersService {
  constructor(private readonly prisma: PrismaClient) {}

  private async find(id: string): Promise<UserWithMemberships> {
    const u = await this.prisma.user.findUnique({ where: { id }, include: withMemberships });
    if (!u) throw new AppError('SY_USER_NOT_FOUND');
    return u;
  }

  async create(actor: Actor, body: CreateUserBody): Promise<UserResponse & { initialPassword?: string }> {
    requirePlatformAdmin(actor);
    const initialPassword = body.password ? undefined : generatePassword();
    const passwordHash = await hashPassword(body.password ?? initialPassword!);
    try {
      const user = await this.prisma.$transaction(async (tx) => {
        const u = await tx.user.create({
          data: { email: normalizeEmail(body.email), name: body.name, passwordHash, isPlatformAdmin: body.isPlatformAdmin ?? false },
          include: withMemberships,
        });
        await recordAudit(tx, actor, { action: 'user.create', targetType: 'user', targetId: u.id, changes: diff(null, auditView(u)) });
        return u;
      });
      return initialPassword ? { ...view(user), initialPassword } : view(user);
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_USER_EXISTS');
      throw err;
    }
  }

  async list(actor: Actor): Promise<UserResponse[]> {
    requirePlatformAdmin(actor);
    const rows = await this.prisma.user.findMany({ include: withMemberships, orderBy: { email: 'asc' }, take: 10_000 });
    return rows.map(view);
  }

  async get(actor: Actor, id: string): Promise<UserResponse> {
    requirePlatformAdmin(actor);
    return view(await this.find(id));
  }

  async update(actor: Actor, id: string, body: UpdateUserBody): Promise<UserResponse> {
    requirePlatformAdmin(actor);
    const before = await this.find(id);
    const self = actor.principal.actorType === 'user' && actor.principal.actorId === id;
    if (self && (body.disabled === true || body.isPlatformAdmin === false)) {
      throw new AppError('SY_CONFLICT', 'You cannot disable yourself or drop your own platform-admin role');
    }
    const passwordHash = body.password ? await hashPassword(body.password) : undefined;
    try {
      const after = await this.prisma.$transaction(async (tx) => {
        const disabling = body.disabled === true && before.disabledAt === null;
        if (disabling) await assertNotLastOwner(tx, id);
        // An enabled platform admin stops being one when disabled or demoted.
        const losesPlatformAdmin = before.isPlatformAdmin && before.disabledAt === null && (disabling || body.isPlatformAdmin === false);
        if (losesPlatformAdmin) await assertNotLastPlatformAdmin(tx, before);
        const u = await tx.user.update({
          where: { id },
          data: {
            email: body.email === undefined ? undefined : normalizeEmail(body.email),
            name: body.name,
            isPlatformAdmin: body.isPlatformAdmin,
            disabledAt: body.disabled === undefined ? undefined : body.disabled ? (before.disabledAt ?? new Date()) : null,
            passwordHash,
          },
          include: withMemberships,
        });
        let sessionsRevoked = 0;
        if (disabling || passwordHash) sessionsRevoked = (await tx.session.deleteMany({ where: { userId: id } })).count;
        const demoted = before.isPlatformAdmin && body.isPlatformAdmin === false;
        const tokensRevoked = disabling || demoted ? await revokeTokensBeyondAccess(tx, actor, id, disabling ? REVOKE_REASONS.disabled : REVOKE_REASONS.notPlatformAdmin) : 0;
        const changes: Record<string, unknown> = diff(auditView(before), auditView(u));
        if (passwordHash) changes.password = { from: null, to: 'reset' };
        if (sessionsRevoked > 0) changes.sessionsRevoked = sessionsRevoked;
        if (tokensRevoked > 0) changes.tokensRevoked = tokensRevoked;
        await recordAudit(tx, actor, { action: disabling ? 'user.disable' : 'user.update', targetType: 'user', targetId: id, changes });
        return u;
      });
      return view(after);
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError('SY_USER_EXISTS');
      throw err;
    }
  }

  async delete(actor: Actor, id: string): Promise<void> {
    requirePlatformAdmin(actor);
    if (actor.principal.actorType === 'user' && actor.principal.actorId === id) {
      throw new AppError('SY_CONFLICT', 'You cannot delete yourself');
    }
    const before = await this.find(id);
    await this.prisma.$transaction(async (tx) => {
      await assertNotLastOwner(tx, id);
      if (before.isPlatformAdmin && before.disabledAt === null) await assertNotLastPlatformAdmin(tx, before);
      // Before the delete, which clears api_tokens.created_by_id (ON DELETE SET NULL).
      const tokensRevoked = await revokeTokensBeyondAccess(tx, actor, id, REVOKE_REASONS.deleted, { deleting: true });
      // Sessions and memberships go with the user (ON DELETE CASCADE).
      await tx.user.delete({ where: { id } });
      await recordAudit(tx, actor, { action: 'user.delete', targetType: 'user', targetId: id, changes: { email: { from: before.email, to: null }, ...(tokensRevoked > 0 ? { tokensRevoked } : {}) } });
    });
  }
}
