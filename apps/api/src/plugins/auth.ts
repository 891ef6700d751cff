/**
 * Authentication for /api/v1. Sets `request.actor`; routes marked `config: { public: true }`
 * skip it. Two ways in:
 *
 * - `Authorization: Bearer <token>` (automation): the bootstrap admin token or an API token.
 *   Unknown, malformed, expired and revoked tokens all get the same 401 so a caller learns
 *   nothing about which tokens exist. Bearer requests need no CSRF token: browsers never
 *   attach the header on their own.
 * - The session cookie (the dashboard). Browsers attach cookies to cross-site requests, so
 *   every change (any method but GET/HEAD/OPTIONS) made with the cookie must also carry the
 *   session's `X-CSRF-Token`, which a cross-site page cannot read. SameSite=Strict is a second
 *   fence, not the only one.
 *
 * A bearer header wins over a cookie when both are sent.
 */
import { timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@switchyard/db';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Actor, Principal, TenantRole } from '../lib/access.js';
import { readCookie } from '../lib/cookies.js';
import { AppError } from '../lib/errors.js';
import { hashToken, parseToken, safeEqualHex } from '../lib/tokens.js';
import { SECURE_SESSION_COOKIE, SESSION_COOKIE, SessionStore } from '../modules/auth/sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
  interface FastifyContextConfig {
    public?: boolean;
  }
}

export interface AuthOptions {
  prisma: PrismaClient;
  adminToken: string | null;
  sessions: SessionStore;
  /** Whether the session cookie is issued with Secure (and the __Host- name) for this request. */
  secureCookies: (request: FastifyRequest) => boolean;
}

/** Refresh last_used_at at most this often per token, to keep reads cheap. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** Tokens whose last write this process remembers; past it the memory starts over (one extra write each). */
const LAST_USED_MEMORY = 10_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new AppError('SY_UNAUTHENTICATED');
  return request.actor;
}

/** The session cookie's name for this request: only the __Host- cookie counts over TLS. */
export function sessionCookieName(secure: boolean): string {
  return secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

export const authPlugin = fp<AuthOptions>(async (app: FastifyInstance, opts) => {
  const adminHash = opts.adminToken ? Buffer.from(hashToken(opts.adminToken), 'hex') : null;
  /**
   * When this process last wrote each token's last_used_at. A burst of requests all read the
   * same stale row before the first write lands, and each of them wrote (20 requests, 20
   * writes); the memory is set before the write goes out, so one request writes. The write's
   * own condition does the same across API replicas: a row written in the last minute is
   * left alone.
   */
  const lastUsedWrites = new Map<string, number>();

  function touchLastUsed(id: string, lastUsedAt: Date | null, now: number): void {
    const written = Math.max(lastUsedAt?.getTime() ?? 0, lastUsedWrites.get(id) ?? 0);
    if (now - written <= LAST_USED_RESOLUTION_MS) return;
    if (lastUsedWrites.size >= LAST_USED_MEMORY) lastUsedWrites.clear();
    lastUsedWrites.set(id, now);
    const stale = new Date(now - LAST_USED_RESOLUTION_MS);
    opts.prisma.apiToken
      .updateMany({ where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: stale } }] }, data: { lastUsedAt: new Date(now) } })
      .catch(() => {});
  }

  async function principalFor(token: string): Promise<Principal | null> {
    if (adminHash && timingSafeEqual(Buffer.from(hashToken(token), 'hex'), adminHash)) {
      return { actorType: 'admin-token', actorId: 'bootstrap-admin', isPlatformAdmin: true, tenantRoles: new Map() };
    }
    const parsed = parseToken(token);
    if (!parsed) return null;
    const row = await opts.prisma.apiToken.findUnique({ where: { prefix: parsed.prefix } });
    if (!row || !safeEqualHex(row.hash, hashToken(token))) return null;
    const now = Date.now();
    if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) return null;
    touchLastUsed(row.id, row.lastUsedAt, now);
    if (row.role === 'platform-admin') {
      return { actorType: 'token', actorId: row.id, isPlatformAdmin: true, tenantRoles: new Map() };
    }
    return {
      actorType: 'token',
      actorId: row.id,
      isPlatformAdmin: false,
      tenantRoles: new Map([[row.tenantId!, row.role as TenantRole]]),
    };
  }

  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/api/') || request.routeOptions.config?.public) return;
    const header = request.headers.authorization;
    if (header) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) throw new AppError('SY_UNAUTHENTICATED');
      const principal = await principalFor(m[1]!);
      if (!principal) throw new AppError('SY_UNAUTHENTICATED', 'The bearer token is invalid, expired or revoked');
      request.actor = { principal, requestId: request.id, clientAddress: request.ip };
      return;
    }
    const cookie = readCookie(request.headers.cookie, sessionCookieName(opts.secureCookies(request)));
    if (!cookie) throw new AppError('SY_UNAUTHENTICATED');
    const session = await opts.sessions.authenticate(cookie);
    if (!session) throw new AppError('SY_UNAUTHENTICATED', 'The session has ended; sign in again');
    if (!SAFE_METHODS.has(request.method)) {
      const presented = request.headers['x-csrf-token'];
      if (!SessionStore.csrfMatches(typeof presented === 'string' ? presented : undefined, session.csrfHash)) {
        throw new AppError('SY_CSRF_FAILED');
      }
    }
    request.actor = {
      principal: session.principal,
      requestId: request.id,
      clientAddress: request.ip,
      session: { id: session.id, csrfToken: session.csrfToken, expiresAt: session.expiresAt },
    };
  });
});
