/**
 * metav1.Condition bookkeeping: lastTransitionTime changes only when a condition's status
 * flips, and "did anything change" ignores it, so an unchanged status is never written
 * (no write loops between replicas, with the API, or with ourselves).
 */
import type { Condition } from '../translate/objects.js';
import type { PlannedCondition } from '../translate/translate.js';

export function withTransitions(next: PlannedCondition[], previous: Condition[] | undefined, now: string): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now };
  });
}

/** Deep equality of two statuses, ignoring lastTransitionTime and key order. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      if (k === 'lastTransitionTime') continue;
      const x = (v as Record<string, unknown>)[k];
      if (x === null || x === undefined) continue;
      out[k] = canon(x);
    }
    return out;
  }
  return v;
}
