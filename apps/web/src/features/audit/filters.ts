/** The audit page's URL filters and how `changes` reads as before/after. Pure: unit-tested. */
export const RANGES = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 } as const;

export interface AuditFilters {
  range?: keyof typeof RANGES;
  action?: string;
  targetType?: string;
  actorId?: string;
  tenant?: string;
}

export function parseAuditFilters(s: Record<string, unknown>): AuditFilters {
  const out: AuditFilters = {};
  if (typeof s.range === 'string' && s.range in RANGES) out.range = s.range as AuditFilters['range'];
  for (const k of ['action', 'targetType', 'actorId', 'tenant'] as const) if (typeof s[k] === 'string' && (s[k]).trim()) out[k] = (s[k]).trim();
  return out;
}

/** `changes` as rows of field / before / after (a plain value when it is not a diff). */
export function changeRows(changes: unknown): Array<{ field: string; from: string; to: string }> {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return [];
  const show = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  return Object.entries(changes as Record<string, unknown>).map(([field, v]) =>
    v && typeof v === 'object' && !Array.isArray(v) && 'from' in v && 'to' in v ? { field, from: show((v as { from: unknown }).from), to: show((v as { to: unknown }).to) } : { field, from: '', to: show(v) },
  );
}

