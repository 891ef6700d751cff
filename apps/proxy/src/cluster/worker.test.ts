import { describe, expect, it } from 'vitest';
import { workerClientRate } from './worker.js';

describe('workerClientRate', () => {
  it('gives each worker its share of the per-client rate and burst', () => {
    expect(workerClientRate({ ratePerSec: 20, burst: 20, maxTracked: 1000 }, 2)).toEqual({ ratePerSec: 10, burst: 10, maxTracked: 1000 });
    expect(workerClientRate({ ratePerSec: 1, burst: 3, maxTracked: 1000 }, 4)).toEqual({ ratePerSec: 0.25, burst: 1, maxTracked: 1000 });
    expect(workerClientRate({ ratePerSec: 5, burst: 10, maxTracked: 1000 }, 1)).toEqual({ ratePerSec: 5, burst: 10, maxTracked: 1000 });
  });
});
