/**
 * Audit trail writes. Called inside the transaction that makes the change, so an audited
 * change and its audit event commit (or roll back) together. The table is append-only.
 */
import type { TxClient } from '@switchyard/db';
import type { Actor } from '../../lib/access.js';

export interface AuditEntry {
  tenantId?: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  changes?: Record<string, unknown> | null;
}

/** The audit_events row of one entry, as both writers store it. */
function auditRow(actor: Actor, entry: AuditEntry) {
  return {
    actorType: actor.principal.actorType,
    actorId: actor.principal.actorId,
    tenantId: entry.tenantId ?? null,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId ?? null,
    changes: (entry.changes ?? undefined) as never,
    clientAddress: actor.clientAddress,
    requestId: actor.requestId,
  };
}

export async function recordAudit(tx: TxClient, actor: Actor, entry: AuditEntry): Promise<void> {
  // Every write transaction records its audit event here: a fenced actor (the controller)
  // proves in the same transaction that it may still write (lib/access.ts).
  await actor.fence?.(tx);
  await tx.auditEvent.create({ data: auditRow(actor, entry) });
}

/** Several events in one statement (a batch change): the same rows `recordAudit` writes. */
export async function recordAudits(tx: TxClient, actor: Actor, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await actor.fence?.(tx);
  await tx.auditEvent.createMany({
    data: entries.map((entry) => auditRow(actor, entry)),
  });
}

/** Field-by-field difference, for `changes`. Secrets must never be passed in. */
export function diff(before: Record<string, unknown> | null, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const [k, v] of Object.entries(after)) {
    const prev = before?.[k];
    if (JSON.stringify(prev) !== JSON.stringify(v)) out[k] = { from: prev ?? null, to: v };
  }
  return out;
}
