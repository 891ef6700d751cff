import { act, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PropagationReport } from '../../lib/propagation';
import { renderUi } from '../../test/render';
import { PropagationIndicator } from './PropagationIndicator';

const report = (state: PropagationReport['state'], applied: boolean[]): PropagationReport => ({
  version: 9,
  state,
  proxies: applied.map((a, i) => ({ id: `proxy-${i + 1}`, appliedVersion: a ? 9 : 8, applied: a })),
});

afterEach(() => vi.useRealTimers());

describe('PropagationIndicator', () => {
  it('shows progress, then live on N of N, announced as a status', () => {
    const since = Date.now();
    const view = renderUi(<PropagationIndicator enabled report={report('pending', [true, true, false])} pendingSinceMs={since} boundMs={10_000} />);
    const status = screen.getByRole('status');
    expect(status).toHaveTextContent('Applying… live on 2 of 3 proxies');
    expect(status).toHaveAttribute('aria-live', 'polite');
    view.rerender(<PropagationIndicator enabled report={report('applied', [true, true, true])} pendingSinceMs={null} boundMs={10_000} />);
    expect(screen.getByRole('status')).toHaveTextContent('Live on 3 of 3 proxies');
    expect(screen.getByRole('status')).toHaveAttribute('data-phase', 'live');
  });

  it('names the proxies that have not applied the change once the bound passes, without a new report', async () => {
    vi.useFakeTimers();
    renderUi(<PropagationIndicator enabled report={report('pending', [true, false, false])} pendingSinceMs={Date.now()} boundMs={2_000} />);
    expect(screen.getByRole('status')).toHaveTextContent('Applying… live on 1 of 3 proxies');
    await act(async () => {
      vi.advanceTimersByTime(2_500);
    });
    expect(screen.getByRole('status')).toHaveTextContent('Live on 1 of 3 proxies; not applied after 2 s: proxy-2, proxy-3');
  });

  it('never says live for a disabled route or without proxies', () => {
    const view = renderUi(<PropagationIndicator enabled={false} report={report('applied', [true])} pendingSinceMs={null} boundMs={10_000} />);
    expect(screen.getByRole('status')).toHaveTextContent('Off on 1 of 1 proxy');
    view.rerender(<PropagationIndicator enabled report={report('no-proxies', [])} pendingSinceMs={null} boundMs={10_000} />);
    expect(screen.getByRole('status')).toHaveTextContent('No proxy is running');
  });
});
