/**
 * Who is calling and what they may do. Services receive an `Actor` (never the request):
 * the principal plus what the audit trail needs.
 */
import type { TxClient } from '@switchyard/db';
import { AppError } from './errors.js';
import type { KubernetesOwner } from './ownership.js';

export const TENANT_ROLES = ['owner', 'admin', 'member'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

const RANK: Record<TenantRole, number> = { member: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: TenantRole, min: TenantRole): boolean {
  return RANK[role] >= RANK[min];
}

export interface Principal {
  /** admin-token: the bootstrap token from the environment; controller: the Kubernetes controller. */
  actorType: 'admin-token' | 'token' | 'user' | 'controller';
  actorId: string;
  isPlatformAdmin: boolean;
  /** tenant id → role. */
  tenantRoles: ReadonlyMap<string, TenantRole>;
}

export interface Actor {
  principal: Principal;
  requestId: string;
  clientAddress: string;
  /** Set when the caller authenticated with the session cookie (never for bearer tokens). */
  session?: ActorSession;
  /**
   * Set only by the Kubernetes controller acting for one object: what it creates is owned
   * by that object, and it may change what that object owns (lib/ownership.ts).
   */
  owner?: KubernetesOwner;
  /**
   * Set only by the Kubernetes controller: run inside every write transaction made for this
   * actor (with its audit event, so before COMMIT); it throws when this replica is no longer
   * the active controller, which rolls the transaction back. A fencing check by the database
   * itself, so a replica that lost its leadership without noticing yet cannot write.
   */
  fence?: (tx: Pick<TxClient, '$queryRaw' | '$executeRaw'>) => Promise<void>;
}

export interface ActorSession {
  /** SHA-256 of the cookie (the sessions row id). */
  id: string;
  /** The CSRF token for this session (derived from the cookie; returned by login and /auth/me). */
  csrfToken: string;
  expiresAt: Date;
}

/** The signed-in user's id; SY_FORBIDDEN for token callers, which have no user. */
export function requireUser(actor: Actor): string {
  if (actor.principal.actorType !== 'user') throw new AppError('SY_FORBIDDEN', 'Only a signed-in user can do this (not an API token)');
  return actor.principal.actorId;
}

export function requirePlatformAdmin(actor: Actor): void {
  if (!actor.principal.isPlatformAdmin) throw new AppError('SY_FORBIDDEN', 'Only platform admins may do this');
}

/**
 * Checks the actor's role in a tenant. A caller with no role in the tenant is told the
 * tenant does not exist (404), so tenant names cannot be probed.
 */
export function requireTenantRole(actor: Actor, tenantId: string, min: TenantRole): TenantRole | 'platform-admin' {
  if (actor.principal.isPlatformAdmin) return 'platform-admin';
  const role = actor.principal.tenantRoles.get(tenantId);
  if (!role) throw new AppError('SY_TENANT_NOT_FOUND');
  if (!roleAtLeast(role, min)) throw new AppError('SY_FORBIDDEN', `This action needs the ${min} role in the tenant; you are ${role}`);
  return role;
}
