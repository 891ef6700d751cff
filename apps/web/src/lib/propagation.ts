/**
 * What the access switch says about a change: the API reports, per live proxy, whether it
 * serves the route's version; this turns that into one honest line. "Live" only when every
 * live proxy applied it; past the bound, the proxies that did not are named.
 */

export interface PropagationReport {
  version: number;
  state: 'applied' | 'pending' | 'timeout' | 'no-proxies';
  proxies: Array<{ id: string; appliedVersion: number; applied: boolean }>;
}

export type Phase = 'live' | 'off' | 'applying' | 'late' | 'no-proxies' | 'unknown';

export interface PropagationView {
  phase: Phase;
  /** One line for the page and screen readers. */
  text: string;
  applied: number;
  total: number;
  /** Proxies that have not applied the change (named once the bound passed). */
  lagging: string[];
}

export function describePropagation(
  enabled: boolean,
  report: PropagationReport | undefined | null,
  opts: { pendingSinceMs: number | null; boundMs: number; now: number },
): PropagationView {
  if (!report) return { phase: 'unknown', text: enabled ? 'Enabled; propagation not known yet' : 'Off', applied: 0, total: 0, lagging: [] };
  const total = report.proxies.length;
  const applied = report.proxies.filter((p) => p.applied).length;
  const lagging = report.proxies.filter((p) => !p.applied).map((p) => p.id);
  const what = enabled ? 'live' : 'off';
  if (report.state === 'no-proxies') {
    return { phase: 'no-proxies', text: 'No proxy is running: nothing serves this route until one starts', applied, total, lagging };
  }
  if (report.state === 'applied') {
    return { phase: enabled ? 'live' : 'off', text: `${enabled ? 'Live' : 'Off'} on ${total} of ${total} ${total === 1 ? 'proxy' : 'proxies'}`, applied, total, lagging: [] };
  }
  const late = report.state === 'timeout' || (opts.pendingSinceMs !== null && opts.now - opts.pendingSinceMs >= opts.boundMs);
  const progress = `${what} on ${applied} of ${total} ${total === 1 ? 'proxy' : 'proxies'}`;
  if (late) {
    return {
      phase: 'late',
      text: `${progress[0]!.toUpperCase()}${progress.slice(1)}; not applied after ${Math.round(opts.boundMs / 1000)} s: ${lagging.join(', ')}`,
      applied,
      total,
      lagging,
    };
  }
  return { phase: 'applying', text: `Applying… ${progress}`, applied, total, lagging };
}
