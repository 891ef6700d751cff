/**
 * The stack's ordered stop, safe at any moment of start-up. Ctrl-C may arrive while a
 * database is still starting: that start is awaited and the server stopped too (instead of
 * being left running with nobody to stop it), and nothing is started once the stop began
 * (a process launched then would outlive the stack, talking to a stopped database).
 */

/** Raised by a start attempted after the stop began; the start-up code just ends. */
export class StackStopping extends Error {
  override readonly name = 'StackStopping';
  constructor() {
    super('the stack is stopping');
  }
}
export interface Stoppable {
  stop(): Promise<void>;
}

export class Lifecycle {
  /** Stopped first, all at once (the API and proxy: they drain). */
  private readonly processes: Stoppable[] = [];
  /** Stopped last, newest first (the databases the processes use). */
  private readonly databases: Stoppable[] = [];
  private readonly starting = new Set<Promise<unknown>>();
  private stopped: Promise<void> | null = null;

  /** Nothing was started (a stop then has nothing to do). */
  get idle(): boolean {
    return this.processes.length === 0 && this.databases.length === 0 && this.starting.size === 0;
  }

  get stopping(): boolean {
    return this.stopped !== null;
  }

  /** Starts a process (synchronously: it is stopped by a stop that begins later); refused while stopping. */
  startProcess<T extends Stoppable>(start: () => T): T {
    if (this.stopping) throw new StackStopping();
    const p = start();
    this.processes.push(p);
    return p;
  }

  /**
   * Starts a database; refused while stopping. One that comes up after the stop began is
   * stopped with the others (the stop waits for it), and its caller gets StackStopping.
   */
  async startDatabase<T extends Stoppable>(start: () => Promise<T>): Promise<T> {
    if (this.stopping) throw new StackStopping();
    const starting = start();
    this.starting.add(starting);
    let db: T;
    try {
      db = await starting;
    } finally {
      this.starting.delete(starting);
    }
    this.databases.push(db);
    if (this.stopping) throw new StackStopping();
    return db;
  }

  /** Stops everything in order; every later call returns the same promise. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.all(this.processes.map((p) => p.stop().catch(() => {})));
      // A database that is still starting is stopped once it is up.
      await Promise.allSettled([...this.starting]);
      for (const d of this.databases.reverse()) await d.stop().catch(() => {});
    })();
    return this.stopped;
  }
}
