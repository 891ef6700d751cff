/**
 * Dashboard sessions. The cookie carries 256 random bits; the database keeps only its SHA-256
 * (the row id), so a copy of the sessions table cannot be replayed. The CSRF token is derived
 * from the cookie with a second, domain-separated hash: the API can give it back on every
 * `/auth/me` without storing it, while the table holds only the token's own SHA-256.
 *
 * A session ends at its absolute expiry (login + SESSION_TTL), after SESSION_IDLE without a
 * request, at logout, when its user is disabled or deleted, and (all other sessions) when the
 * password changes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient, TxClient } from '@switchyard/db';
import type { Principal, TenantRole } from '../../lib/access.js';

/** last_seen_at is refreshed at most this often per session, to keep reads cheap. */
const TOUCH_RESOLUTION_MS = 60_000;

export const SESSION_COOKIE = 'sy_session';
/** The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and host-only. */
export const SECURE_SESSION_COOKIE = '__Host-sy_session';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sessionIdOf(cookie: string): string {
  return sha256(cookie);
}

export function csrfTokenOf(cookie: string): string {
  return createHash('sha256').update('switchyard-csrf\0').update(cookie).digest('base64url');
}

export interface NewSession {
  cookie: string;
  id: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface AuthenticatedSession {
  id: string;
  userId: string;
  csrfToken: string;
  csrfHash: string;
  expiresAt: Date;
  principal: Principal;
}

export class SessionStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly ttlMs: number,
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get maxAgeSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /** Creates a session inside the caller's transaction (the login and its audit event commit together). */
  async create(tx: TxClient, userId: string, meta: { clientAddress: string; userAgent: string | null }): Promise<NewSession> {
    const cookie = randomBytes(32).toString('base64url');
    const id = sessionIdOf(cookie);
    const csrfToken = csrfTokenOf(cookie);
    const now = this.now();
    const expiresAt = new Date(now + this.ttlMs);
    await tx.session.create({
      data: {
        id,
        userId,
        csrfHash: sha256(csrfToken),
        expiresAt,
        lastSeenAt: new Date(now),
        clientAddress: meta.clientAddress,
        userAgent: meta.userAgent?.slice(0, 500) ?? null,
      },
    });
    return { cookie, id, csrfToken, expiresAt };
  }

  /** The live session for a cookie with its user's roles, or null (unknown, expired, idle, disabled). */
  async authenticate(cookie: string): Promise<AuthenticatedSession | null> {
    const id = sessionIdOf(cookie);
    const row = await this.prisma.session.findUnique({
      where: { id },
      include: { user: { include: { memberships: { select: { tenantId: true, role: true } } } } },
    });
    if (!row) return null;
    const now = this.now();
    if (row.expiresAt.getTime() <= now || row.lastSeenAt.getTime() + this.idleMs <= now || row.user.disabledAt) {
      this.prisma.session.deleteMany({ where: { id } }).catch(() => {});
      return null;
    }
    if (now - row.lastSeenAt.getTime() > TOUCH_RESOLUTION_MS) {
      this.prisma.session.updateMany({ where: { id }, data: { lastSeenAt: new Date(now) } }).catch(() => {});
    }
    return {
      id,
      userId: row.userId,
      csrfToken: csrfTokenOf(cookie),
      csrfHash: row.csrfHash,
      expiresAt: row.expiresAt,
      principal: {
        actorType: 'user',
        actorId: row.userId,
        isPlatformAdmin: row.user.isPlatformAdmin,
        tenantRoles: new Map(row.user.memberships.map((m) => [m.tenantId, m.role as TenantRole])),
      },
    };
  }

  /** Whether a presented X-CSRF-Token belongs to the session (constant-time compare of hashes). */
  static csrfMatches(presented: string | undefined, csrfHash: string): boolean {
    if (!presented || presented.length > 200) return false;
    const a = Buffer.from(sha256(presented), 'hex');
    const b = Buffer.from(csrfHash, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Deletes a user's ended sessions (housekeeping at login; authenticate() refuses them anyway). */
  async pruneUser(tx: TxClient, userId: string): Promise<number> {
    const now = this.now();
    const r = await tx.session.deleteMany({
      where: { userId, OR: [{ expiresAt: { lte: new Date(now) } }, { lastSeenAt: { lte: new Date(now - this.idleMs) } }] },
    });
    return r.count;
  }
}
