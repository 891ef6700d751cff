/**
 * A tenant's usage against the limits its platform admin set (docs/accounts.md "Limits"):
 * "3 of 5 databases", or "3 databases" without a limit. Usage may exceed a limit that was
 * lowered below it ("6 of 5"): nothing was taken away, only growth is refused.
 */

export interface LimitLine {
  /** e.g. "databases", "dedicated ports". */
  what: string;
  used: number;
  max: number | null;
}

export function usageText({ what, used, max }: LimitLine): string {
  return max === null ? `${used} ${what}` : `${used} of ${max} ${what}`;
}

/** The tenant's three limited counts, in the order the dashboard shows them. */
export function limitLines(t: {
  maxDatabases: number | null;
  maxExternalAccess: number | null;
  maxDedicatedPorts: number | null;
  usage: { databases: number; externalAccess: number; dedicatedPorts: number };
}): LimitLine[] {
  return [
    { what: 'databases', used: t.usage.databases, max: t.maxDatabases },
    { what: 'with external access', used: t.usage.externalAccess, max: t.maxExternalAccess },
    { what: 'dedicated ports', used: t.usage.dedicatedPorts, max: t.maxDedicatedPorts },
  ];
}

/** At the limit or past it: the next one of these is refused. */
export function atLimit({ used, max }: LimitLine): boolean {
  return max !== null && used >= max;
}
