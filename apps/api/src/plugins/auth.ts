/**
 * Bearer-token authentication for /api/v1. Sets `request.actor`; routes marked
 * `config: { public: true }` skip it. Unknown, malformed, expired and revoked tokens all get
 * the same 401 so a caller learns nothing about which tokens exist.
 */
import { timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@switchyard/db';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Actor, Principal, TenantRole } from '../lib/access.js';
import { AppError } from '../lib/errors.js';
import { hashToken, parseToken, safeEqualHex } from '../lib/tokens.js';

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
}

/** Refresh last_used_at at most this often per token, to keep reads cheap. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new AppError('SY_UNAUTHENTICATED');
  return request.actor;
}

export const authPlugin = fp<AuthOptions>(async (app: FastifyInstance, opts) => {
  const adminHash = opts.adminToken ? Buffer.from(hashToken(opts.adminToken), 'hex') : null;

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
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      opts.prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date(now) } }).catch(() => {});
    }
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
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new AppError('SY_UNAUTHENTICATED');
    const principal = await principalFor(m[1]!);
    if (!principal) throw new AppError('SY_UNAUTHENTICATED', 'The bearer token is invalid, expired or revoked');
    request.actor = { principal, requestId: request.id, clientAddress: request.ip };
  });
});
