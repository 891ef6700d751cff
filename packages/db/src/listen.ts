/**
 * A dedicated connection that LISTENs on some channels and keeps doing so: it reconnects
 * with capped exponential backoff after any error, and tells its owner about every
 * (re)connect so the owner can resync whatever it may have missed meanwhile (notifications
 * sent while nobody listened are lost for good).
 */
import pg from 'pg';

export interface NotificationListenerOptions {
  connectionString: string;
  channels: string[];
  onNotification: (channel: string, payload: string) => void;
  /** Called after LISTEN succeeded on a fresh connection (first connect or reconnect). */
  onConnected?: () => void;
  onDisconnected?: (err: Error) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Interval of a `SELECT 1` ping that detects a silently dead connection. */
  pingIntervalMs?: number;
  applicationName?: string;
}

export class NotificationListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private backoff: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private _connected = false;

  constructor(private readonly opts: NotificationListenerOptions) {
    this.backoff = opts.minBackoffMs ?? 250;
  }

  get connected(): boolean {
    return this._connected;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const c = this.client;
    this.client = null;
    this._connected = false;
    if (c) await c.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const pingMs = this.opts.pingIntervalMs ?? 5000;
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5000,
      query_timeout: Math.max(pingMs, 5000),
      application_name: this.opts.applicationName ?? 'switchyard-listener',
    });
    this.client = client;
    let failed = false;
    const onFail = (err: Error) => {
      if (failed || this.client !== client) return;
      failed = true;
      this.client = null;
      const wasConnected = this._connected;
      this._connected = false;
      if (this.pingTimer) clearInterval(this.pingTimer);
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (wasConnected) this.opts.onDisconnected?.(err);
      this.scheduleReconnect();
    };
    client.on('error', onFail);
    client.on('end', () => onFail(new Error('connection ended')));
    client.on('notification', (n) => {
      this.opts.onNotification(n.channel, n.payload ?? '');
    });
    try {
      await client.connect();
      for (const ch of this.opts.channels) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch (err) {
      onFail(err as Error);
      return;
    }
    if (this.stopped || this.client !== client) return;
    this._connected = true;
    this.backoff = this.opts.minBackoffMs ?? 250;
    this.pingTimer = setInterval(() => {
      client.query('SELECT 1').catch((err: Error) => onFail(err));
    }, pingMs);
    this.pingTimer.unref();
    this.opts.onConnected?.();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    // Jittered (half to all of the backoff): a fleet that lost the database at the same
    // moment would otherwise reconnect, and resync, in lockstep.
    const delay = Math.round(this.backoff * (0.5 + Math.random() / 2));
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 5000);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }
}
