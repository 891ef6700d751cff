/**
 * metav1.Condition bookkeeping: lastTransitionTime changes only when a condition's status
 * flips, and "did anything change" ignores it, so an unchanged status is never written
 * (no write loops between replicas, with the API, or with ourselves).
 */
import type { Condition, ExternalAccess } from '../translate/objects.js';
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

/**
 * The generation whose configuration an ExternalAccess's route serves: `status.lastAcceptedGeneration`
 * (written with every accepted route, kept while later generations are refused), or — for a
 * status written before that field existed — the generation its Accepted=True condition was
 * for. Null when the object's status does not say. Read from the object itself, so it survives
 * controller restarts like everything else the controller knows.
 */
export function lastAcceptedGeneration(o: Pick<ExternalAccess, 'status'>): number | null {
  const st = o.status;
  if (typeof st?.lastAcceptedGeneration === 'number') return st.lastAcceptedGeneration;
  const accepted = st?.conditions?.find((c) => c.type === 'Accepted');
  if (accepted?.status === 'True') return accepted.observedGeneration ?? st?.observedGeneration ?? null;
  return null;
}

/** The generation as messages name it. */
export function generationName(generation: number | null): string {
  return generation === null ? 'the last accepted generation' : `generation ${generation} (the last accepted)`;
}

/**
 * Accepted's message for a refused generation whose route is kept: the refusal (field first),
 * then what keeps serving — so `kubectl describe` says both what is wrong and that nothing was
 * lost. `follows`: the Service (`<namespace>/<name>`) whose ready pods the kept route's endpoints
 * follow, the one thing of it that changes.
 */
export function keptMessage(refusal: string, generation: number | null, route: { hostname: string; port: number; enabled: boolean }, follows: string | null = null): string {
  const state = route.enabled
    ? `keeps serving ${route.hostname}:${route.port} ${follows ? `unchanged but for its endpoints, which follow Service ${follows}` : 'unchanged'}`
    : `is kept unchanged but disabled (spec.enabled is false): ${route.hostname}:${route.port} refuses new connections${follows ? `; its endpoints follow Service ${follows}` : ''}`;
  return `${refusal}; the route of ${generationName(generation)} ${state}`;
}
