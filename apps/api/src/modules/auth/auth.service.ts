/**
 * Login, logout, "who am I" and password changes. Login answers one way for an unknown
 * address, a wrong password and a disabled account (SY_INVALID_CREDENTIALS), and spends one
 * Argon2id verification in every case, so neither the answer nor its timing tells which
 * accounts exist. Attempts are throttled per account (failures) and per client address
 * (all attempts).
 */
import type { PrismaClient, User } from '@switchyard/db';
import { requireUser, type Actor, type TenantRole } from '../../lib/access.js';
import { AppError } from '../../lib/errors.js';
import { hashPassword, verifyDummy, verifyPassword } from '../../lib/passwords.js';
import { addressKey, WindowCounter } from '../../lib/rate-limit.js';
import { recordAudit } from '../audit/audit.service.js';
import type { ChangePasswordBody, LoginBody, MeResponse } from './auth.schemas.js';
import type { NewSession, SessionStore } from './sessions.js';

export interface LoginLimits {
  maxFailuresPerAccount: number;
  maxAttemptsPerAddress: number;
  windowMs: number;
}

export interface RequestMeta {
  requestId: string;
  clientAddress: string;
  userAgent: string | null;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function userActor(user: Pick<User, 'id' | 'isPlatformAdmin'>, meta: RequestMeta): Actor {
  return {
    principal: { actorType: 'user', actorId: user.id, isPlatformAdmin: user.isPlatformAdmin, tenantRoles: new Map() },
    requestId: meta.requestId,
    clientAddress: meta.clientAddress,
  };
}

export class AuthService {
  private readonly failuresByAccount: WindowCounter;
  private readonly attemptsByAddress: WindowCounter;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionStore,
    limits: LoginLimits,
  ) {
    this.failuresByAccount = new WindowCounter(limits.maxFailuresPerAccount, limits.windowMs);
    this.attemptsByAddress = new WindowCounter(limits.maxAttemptsPerAddress, limits.windowMs);
  }

  /**
   * Refuses an attempt over either budget, else counts it against both. The account's count
   * is taken before the password is verified and given back only by a success (`reset`): a
   * failure counted after the verification let any number of concurrent guesses pass the
   * check while the first ones were still being verified.
   */
  private throttle(accountKey: string, address: string): void {
    for (const d of [this.attemptsByAddress.check(addressKey(address)), this.failuresByAccount.check(accountKey)]) {
      if (!d.allowed) {
        throw new AppError('SY_RATE_LIMITED', `Too many sign-in attempts; try again in ${d.retryAfterSeconds} s`, undefined, {
          'retry-after': String(d.retryAfterSeconds),
        });
      }
    }
    this.attemptsByAddress.hit(addressKey(address));
    this.failuresByAccount.hit(accountKey);
  }

  /**
   * `presentedSessionId`: the session whose cookie the browser sent along, if any. It ends
   * here — the new cookie replaces it in the browser, and a copy of the old one (taken on a
   * shared computer, or planted) must not stay valid until it idles out.
   */
  async login(body: LoginBody, meta: RequestMeta, presentedSessionId: string | null = null): Promise<{ session: NewSession; me: MeResponse }> {
    const email = normalizeEmail(body.email);
    this.throttle(`login:${email}`, meta.clientAddress);
    const user = await this.prisma.user.findUnique({ where: { email } });
    const ok = user?.passwordHash ? await verifyPassword(user.passwordHash, body.password) : await verifyDummy(body.password);
    if (!ok || !user || user.disabledAt) {
      if (user) {
        // Only for real accounts: a mistyped address field often holds a password. Not awaited:
        // an unknown address has no such write, so waiting for it would tell the two apart by
        // the time of the answer (a failed login changes nothing that the event must commit with).
        this.prisma
          .$transaction((tx) =>
            recordAudit(tx, userActor(user, meta), { action: 'auth.login_failed', targetType: 'user', targetId: user.id, changes: { reason: user.disabledAt ? 'disabled' : 'password' } }),
          )
          .catch(() => {});
      }
      throw new AppError('SY_INVALID_CREDENTIALS');
    }
    this.failuresByAccount.reset(`login:${email}`);
    const actor = userActor(user, meta);
    const session = await this.prisma.$transaction(async (tx) => {
      const now = new Date();
      if (presentedSessionId) await tx.session.deleteMany({ where: { id: presentedSessionId } });
      // Housekeeping: the user's own ended sessions go when they sign in again.
      await this.sessions.pruneUser(tx, user.id);
      await tx.user.update({ where: { id: user.id }, data: { lastLoginAt: now } });
      const s = await this.sessions.create(tx, user.id, meta);
      await recordAudit(tx, actor, { action: 'auth.login', targetType: 'session', targetId: s.id.slice(0, 16), changes: { userAgent: { from: null, to: meta.userAgent?.slice(0, 200) ?? null } } });
      return s;
    });
    const me = await this.me({ ...actor, session: { id: session.id, csrfToken: session.csrfToken, expiresAt: session.expiresAt } });
    return { session, me };
  }

  async logout(actor: Actor): Promise<void> {
    const session = actor.session;
    if (!session) return; // Bearer tokens have nothing to end; revoke the token instead.
    await this.prisma.$transaction(async (tx) => {
      await tx.session.deleteMany({ where: { id: session.id } });
      await recordAudit(tx, actor, { action: 'auth.logout', targetType: 'session', targetId: session.id.slice(0, 16) });
    });
  }

  async me(actor: Actor): Promise<MeResponse> {
    const p = actor.principal;
    let user: MeResponse['user'] = null;
    let roles = p.tenantRoles;
    if (p.actorType === 'user') {
      // Fresh from the database: roles may have changed since the session was read.
      const u = await this.prisma.user.findUnique({ where: { id: p.actorId }, include: { memberships: true } });
      if (!u) throw new AppError('SY_UNAUTHENTICATED');
      user = { id: u.id, email: u.email, name: u.name, isPlatformAdmin: u.isPlatformAdmin };
      roles = new Map(u.memberships.map((m) => [m.tenantId, m.role as TenantRole]));
    }
    const tenants = await this.prisma.tenant.findMany({ where: { id: { in: [...roles.keys()] } }, orderBy: { slug: 'asc' } });
    return {
      // 'controller' never comes over HTTP (only the Kubernetes controller builds such actors).
      actorType: p.actorType as MeResponse['actorType'],
      user,
      isPlatformAdmin: user?.isPlatformAdmin ?? p.isPlatformAdmin,
      tenants: tenants.map((t) => ({ id: t.id, slug: t.slug, name: t.name, role: roles.get(t.id)! })),
      csrfToken: actor.session?.csrfToken ?? null,
      sessionExpiresAt: actor.session?.expiresAt.toISOString() ?? null,
      clientAddress: actor.clientAddress,
    };
  }

  /** Changes the caller's password and ends every other session of theirs. */
  async changePassword(actor: Actor, body: ChangePasswordBody): Promise<{ sessionsRevoked: number }> {
    const userId = requireUser(actor);
    const key = `password:${userId}`;
    this.throttle(key, actor.clientAddress);
    const user = await this.prisma.user.findUnique({ where: { id: userId } });
    if (!user) throw new AppError('SY_UNAUTHENTICATED');
    const ok = user.passwordHash ? await verifyPassword(user.passwordHash, body.currentPassword) : await verifyDummy(body.currentPassword);
    if (!ok) {
      throw new AppError('SY_VALIDATION', 'body.currentPassword is not your current password', [
        { field: 'body.currentPassword', message: 'is not your current password' },
      ]);
    }
    this.failuresByAccount.reset(key);
    const passwordHash = await hashPassword(body.newPassword);
    return this.prisma.$transaction(async (tx) => {
      await tx.user.update({ where: { id: userId }, data: { passwordHash } });
      const revoked = await tx.session.deleteMany({ where: { userId, ...(actor.session ? { id: { not: actor.session.id } } : {}) } });
      // Never the hashes: only the fact and its consequence.
      await recordAudit(tx, actor, { action: 'user.password_change', targetType: 'user', targetId: userId, changes: { sessionsRevoked: revoked.count } });
      return { sessionsRevoked: revoked.count };
    });
  }
}
