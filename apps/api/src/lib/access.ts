/**
 * Who is calling and what they may do. Services receive an `Actor` (never the request):
 * the principal plus what the audit trail needs.
 */
import { AppError } from './errors.js';

export const TENANT_ROLES = ['owner', 'admin', 'member'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

const RANK: Record<TenantRole, number> = { member: 1, admin: 2, owner: 3 };

export function roleAtLeast(role: TenantRole, min: TenantRole): boolean {
  return RANK[role] >= RANK[min];
}

export interface Principal {
  /** admin-token: the bootstrap token from the environment. */
  actorType: 'admin-token' | 'token' | 'user';
  actorId: string;
  isPlatformAdmin: boolean;
  /** tenant id → role. */
  tenantRoles: ReadonlyMap<string, TenantRole>;
}

export interface Actor {
  principal: Principal;
  requestId: string;
  clientAddress: string;
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
