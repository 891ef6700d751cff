/**
 * One active controller replica: a PostgreSQL session advisory lock in the control database
 * (the database every route write goes to anyway, so a replica that cannot reach it could not
 * write either). The holder checks its connection every `checkMs`; losing it means losing the
 * lock (PostgreSQL releases session locks when the session ends), and the replica stops
 * acting at once. Others try every `checkMs`, so one takes over within seconds.
 */
import pg from 'pg';

/** Arbitrary, fixed: "switchyard controller". */
export const CONTROLLER_LOCK_KEY = 0x5357_4b38;

export interface LeaderEvents {
  onElected(): void;
  onLost(reason: string): void;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
}

export class AdvisoryLeader {
  private client: pg.Client | null = null;
  private leader = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private busy = false;

  constructor(
    private readonly connectionString: string,
    private readonly checkMs: number,
    private readonly events: LeaderEvents,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.checkMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.lose('stopping');
    const c = this.client;
    this.client = null;
    // Ending the session releases the lock: the next replica takes over on its next try.
    await c?.end().catch(() => undefined);
  }

  private lose(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.events.onLost(reason);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (!this.client) {
        const c = new pg.Client({ connectionString: this.connectionString, application_name: 'switchyard-controller-leader', connectionTimeoutMillis: this.checkMs * 3 });
        c.on('error', (err) => {
          this.events.log('warn', 'leader connection failed', { err: err.message });
          if (this.client === c) this.client = null;
          this.lose('connection lost');
          c.end().catch(() => undefined);
        });
        await c.connect();
        // Queries on this session must never wait long: a stuck session is a lost lock.
        await c.query(`SET statement_timeout = ${Math.max(1000, this.checkMs * 3)}`);
        if (this.stopped) {
          // stop() ran while we connected: this session must not take (or keep) the lock.
          await c.end().catch(() => undefined);
          return;
        }
        this.client = c;
      }
      if (this.leader) {
        await this.client.query('SELECT 1');
        return;
      }
      const r = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [CONTROLLER_LOCK_KEY]);
      if (r.rows[0]?.ok && this.stopped) {
        const c = this.client;
        this.client = null;
        await c?.end().catch(() => undefined);
      } else if (r.rows[0]?.ok) {
        this.leader = true;
        this.events.log('info', 'elected: this replica is the active controller');
        this.events.onElected();
      }
    } catch (err) {
      this.events.log('warn', 'leader check failed', { err: (err as Error).message });
      const c = this.client;
      this.client = null;
      this.lose('check failed');
      await c?.end().catch(() => undefined);
    } finally {
      this.busy = false;
    }
  }
}
