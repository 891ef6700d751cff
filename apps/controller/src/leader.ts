/**
 * One active controller replica: a PostgreSQL session advisory lock in the control database
 * (the database every route write goes to anyway, so a replica that cannot reach it could not
 * write either). The holder checks its connection every `checkMs`; losing it means losing the
 * lock (PostgreSQL releases session locks when the session ends), and the replica stops
 * acting at once. Others try every `checkMs`, so one takes over within seconds.
 *
 * Fencing: noticing a lost session takes up to `checkMs`, and a write may already be under
 * way. So every write transaction of the controller runs `fence()` (the API calls it with the
 * transaction's audit event): it takes the write barrier in shared mode and checks, in the
 * database, that the lock is still held by *our* session (pid and backend start). A new
 * leader takes the barrier exclusively once before acting, so it waits for the old leader's
 * transactions in flight; any the old leader starts later fail the check and roll back.
 */
import type { TxClient } from '@switchyard/db';
import pg from 'pg';

/** Arbitrary, fixed: "switchyard controller". */
export const CONTROLLER_LOCK_KEY = 0x5357_4b38;
/** The write barrier (shared by every fenced write, exclusive for a new leader once). */
export const CONTROLLER_BARRIER_KEY = 0x5357_4b39;

/** A write transaction refused because this replica is not (or no longer) the leader. */
export class NotLeaderError extends Error {
  constructor(message = 'this controller replica is not the leader: write refused') {
    super(message);
  }
}

/** Longest wait for the previous leader's transactions (the API's batch timeout is 60 s). */
const BARRIER_TIMEOUT_MS = 70_000;

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
  /** The lock session (pid, backend start in µs) while we lead: what `fence` checks. */
  private token: { pid: number; startedUs: string } | null = null;

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

  /**
   * Run inside a write transaction (before COMMIT): throws NotLeaderError unless the lock is
   * held by this replica's session right now. Holds the barrier in shared mode until COMMIT.
   */
  readonly fence = async (tx: Pick<TxClient, '$queryRaw' | '$executeRaw'>): Promise<void> => {
    const t = this.token;
    if (!this.leader || !t) throw new NotLeaderError();
    // Barrier first, then the check: a new leader cannot slip in between the two.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${CONTROLLER_BARRIER_KEY}::bigint)`;
    const rows = await tx.$queryRaw<Array<{ ok: boolean }>>`
      SELECT EXISTS (
        SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ${CONTROLLER_LOCK_KEY}::bigint::oid AND l.objsubid = 1
           AND l.pid = ${t.pid}::int AND (extract(epoch FROM a.backend_start) * 1000000)::bigint = ${t.startedUs}::bigint
      ) AS ok`;
    if (!rows[0]?.ok) {
      this.lose('fenced: the lock is no longer held by this replica');
      throw new NotLeaderError('this controller replica lost the leader lock: write refused');
    }
  };

  private lose(reason: string): void {
    this.token = null;
    if (!this.leader) return;
    this.leader = false;
    this.events.onLost(reason);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (!this.client) {
        // query_timeout (client side): on a dead network a query never errors by itself, and a
        // check that hangs would keep `leader` true forever.
        const timeout = Math.max(1000, this.checkMs * 3);
        const c = new pg.Client({ connectionString: this.connectionString, application_name: 'switchyard-controller-leader', connectionTimeoutMillis: timeout, query_timeout: timeout });
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
        const me = await this.client.query<{ pid: number; started: string }>(
          `SELECT pg_backend_pid() AS pid, (extract(epoch FROM backend_start) * 1000000)::bigint::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
        );
        // Wait for the previous leader's write transactions still in flight (they hold the
        // barrier shared until COMMIT); every later one of theirs fails its fence.
        await this.client.query('BEGIN');
        await this.client.query(`SET LOCAL statement_timeout = ${BARRIER_TIMEOUT_MS}`);
        // pg honours a per-query query_timeout (its types do not declare it): the session's
        // own is far shorter than this wait may be.
        const barrier: pg.QueryConfig & { query_timeout: number } = { text: 'SELECT pg_advisory_xact_lock($1)', values: [CONTROLLER_BARRIER_KEY], query_timeout: BARRIER_TIMEOUT_MS + 5000 };
        await this.client.query(barrier);
        await this.client.query('COMMIT');
        this.token = { pid: me.rows[0]!.pid, startedUs: me.rows[0]!.started };
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
