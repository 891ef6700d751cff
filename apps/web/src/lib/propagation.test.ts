import { describe, expect, it } from 'vitest';
import { describePropagation, type PropagationReport } from './propagation';

const proxies = (applied: boolean[]) => applied.map((a, i) => ({ id: `proxy-${String.fromCharCode(97 + i)}`, appliedVersion: a ? 7 : 6, applied: a }));
const report = (state: PropagationReport['state'], applied: boolean[]): PropagationReport => ({ version: 7, state, proxies: proxies(applied) });
const at = { pendingSinceMs: 1_000, boundMs: 10_000, now: 2_000 };

describe('describePropagation', () => {
  it('says applying with progress while proxies catch up', () => {
    expect(describePropagation(true, report('pending', [true, true, false]), at)).toMatchObject({ phase: 'applying', text: 'Applying… live on 2 of 3 proxies', applied: 2, total: 3 });
    expect(describePropagation(false, report('pending', [false, true]), at).text).toBe('Applying… off on 1 of 2 proxies');
  });

  it('says live on N of N only when every live proxy applied it', () => {
    expect(describePropagation(true, report('applied', [true, true, true]), at)).toMatchObject({ phase: 'live', text: 'Live on 3 of 3 proxies', lagging: [] });
    expect(describePropagation(false, report('applied', [true]), at)).toMatchObject({ phase: 'off', text: 'Off on 1 of 1 proxy' });
  });

  it('names the proxies that missed the bound', () => {
    const late = describePropagation(true, report('pending', [true, false, false]), { ...at, now: 11_000 });
    expect(late).toMatchObject({ phase: 'late', lagging: ['proxy-b', 'proxy-c'] });
    expect(late.text).toBe('Live on 1 of 3 proxies; not applied after 10 s: proxy-b, proxy-c');
    expect(describePropagation(true, report('timeout', [false]), at).phase).toBe('late');
  });

  it('says when no proxy runs, and never claims live without a report', () => {
    expect(describePropagation(true, report('no-proxies', []), at).phase).toBe('no-proxies');
    expect(describePropagation(true, undefined, at).phase).toBe('unknown');
    expect(describePropagation(false, null, at).phase).toBe('off');
  });
});
