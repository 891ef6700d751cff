/**
 * The reconcile trigger: an event is a signal, not a delta. Fires `waitMs` after the last
 * signal, but never later than `maxMs` after the first signal of a burst, so a steady stream
 * of events (an EndpointSlice flapping) cannot starve the reconcile.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | null = null;
  private firstAt = 0;

  constructor(
    private readonly waitMs: number,
    private readonly maxMs: number,
    private readonly fire: () => void,
  ) {}

  get pending(): boolean {
    return this.timer !== null;
  }

  signal(): void {
    const now = Date.now();
    if (this.timer) clearTimeout(this.timer);
    else this.firstAt = now;
    const wait = Math.max(0, Math.min(this.waitMs, this.firstAt + this.maxMs - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, wait);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
