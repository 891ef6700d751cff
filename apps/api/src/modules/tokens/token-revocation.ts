/**
 * Tokens do not outlive their creator's access. After a change to a user's access (a
 * membership removed or lowered; the user disabled, deleted or no longer platform admin), the
 * change's own transaction revokes every unrevoked token that user created which now exceeds
 * what the user may do, and audits each one (docs/accounts.md "API tokens"):
 *   - a tenant token stays while its creator is an enabled platform admin, or an enabled
 *     member of its tenant with a role at least the token's;
 *   - a platform token stays while its creator is an enabled platform admin.
 * Tokens created by other tokens or by the bootstrap token have no user behind them and are
 * not touched here. Revocation is final: restoring the access does not bring tokens back.
 */
import type { TxClient } from '@switchyard/db';
import { roleAtLeast, TENANT_ROLES, type Actor, type TenantRole } from '../../lib/access.js';
import { recordAudits } from '../audit/audit.service.js';

export const REVOKE_REASONS = {
  left: 'the creator left the tenant',
  lowered: 'the creator’s role in the tenant was lowered',
  disabled: 'the creator was disabled',
  deleted: 'the creator was deleted',
  notPlatformAdmin: 'the creator is no longer a platform admin',
} as const;

function isTenantRole(role: string): role is TenantRole {
  return (TENANT_ROLES as readonly string[]).includes(role);
}

/**
 * Revokes (in `tx`) the tokens `userId` created beyond the access the user has now, as `tx`
 * sees it; `deleting`: the user is about to be deleted (no access). Returns how many.
 */
export async function revokeTokensBeyondAccess(tx: TxClient, actor: Actor, userId: string, reason: string, opts: { deleting?: boolean } = {}): Promise<number> {
  const tokens = await tx.apiToken.findMany({ where: { createdById: userId, revokedAt: null }, select: { id: true, tenantId: true, role: true, prefix: true } });
  if (tokens.length === 0) return 0;
  const user = opts.deleting
    ? null
    : await tx.user.findUnique({ where: { id: userId }, select: { isPlatformAdmin: true, disabledAt: true, memberships: { select: { tenantId: true, role: true } } } });
  const enabled = user !== null && user.disabledAt === null;
  if (enabled && user.isPlatformAdmin) return 0;
  const roles = new Map(enabled ? user.memberships.map((m) => [m.tenantId, m.role]) : []);
  const beyond = tokens.filter((t) => {
    if (t.tenantId === null) return true;
    const role = roles.get(t.tenantId);
    // An unknown token role (none exists) is kept only by a platform admin, like a platform token.
    return !role || !isTenantRole(role) || !isTenantRole(t.role) || !roleAtLeast(role, t.role);
  });
  if (beyond.length === 0) return 0;
  await tx.apiToken.updateMany({ where: { id: { in: beyond.map((t) => t.id) } }, data: { revokedAt: new Date() } });
  await recordAudits(
    tx,
    actor,
    beyond.map((t) => ({
      tenantId: t.tenantId,
      action: t.tenantId ? 'token.revoke' : 'platform_token.revoke',
      targetType: 'api_token',
      targetId: t.id,
      changes: { prefix: { from: t.prefix, to: null }, reason: { from: null, to: reason } },
    })),
  );
  return beyond.length;
}
