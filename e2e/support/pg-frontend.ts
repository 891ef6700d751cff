/**
 * A minimal PostgreSQL frontend over any connected stream (a TLS socket through the proxy),
 * for what the installed clients cannot do: choose the protocol version (3.2, 3.9999),
 * send `_pq_` options, read NegotiateProtocolVersion and BackendKeyData as sent, and cancel
 * over TLS. Authentication is SCRAM-SHA-256 (RFC 5802/7677, no channel binding), as the
 * embedded PostgreSQL requires.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { buildStartupMessage, parseBackendMessage, parseErrorFields, type BackendMessage } from '@switchyard/wire';

export interface StartupOptions {
  user: string;
  password: string;
  database: string;
  protocolVersion: number;
  /** Extra startup parameters, e.g. `_pq_.` protocol options. */
  extra?: Record<string, string>;
}

export class PgError extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(`${fields.C}: ${fields.M}`);
  }
}

function frontend(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** Reads backend messages off a stream, one at a time. */
export class MessageReader {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private ended = false;
  /** Every message read so far, in order (type and body as sent by the server). */
  readonly log: BackendMessage[] = [];

  constructor(private readonly stream: Duplex) {
    stream.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async next(): Promise<BackendMessage> {
    for (;;) {
      const r = parseBackendMessage(this.buf);
      if (r.status === 'ok') {
        this.buf = this.buf.subarray(r.consumed);
        this.log.push(r.value);
        return r.value;
      }
      if (r.status === 'error') throw new Error(r.message);
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((res) => this.waiters.push(res));
    }
  }
}

export interface NegotiateProtocolVersion {
  /** The newest version the server supports for the requested major, e.g. 196610 (3.2). */
  newestVersion: number;
  unrecognized: string[];
}

export interface PgSession {
  stream: Duplex;
  reader: MessageReader;
  negotiated: NegotiateProtocolVersion | null;
  key: { processId: number; secretKey: Buffer };
  /** Simple query; resolves with the rows (text) or rejects with the server's error. */
  query(sql: string): Promise<Array<Array<string | null>>>;
  close(): void;
}

function cstrings(b: Buffer): string[] {
  return b.toString('utf8').split('\0').slice(0, -1);
}

/** Sends a StartupMessage and completes authentication; returns at the first ReadyForQuery. */
export async function pgStartup(stream: Duplex, opts: StartupOptions): Promise<PgSession> {
  const reader = new MessageReader(stream);
  stream.write(buildStartupMessage({ user: opts.user, database: opts.database, ...opts.extra }, opts.protocolVersion));
  let negotiated: NegotiateProtocolVersion | null = null;
  let key: PgSession['key'] | null = null;
  let scram: { nonce: string; clientFirstBare: string; serverSignature?: string } | null = null;
  for (;;) {
    const m = await reader.next();
    if (m.type === 'E') throw new PgError(parseErrorFields(m.body));
    if (m.type === 'v') {
      const count = m.body.readInt32BE(4);
      negotiated = { newestVersion: m.body.readInt32BE(0), unrecognized: cstrings(m.body.subarray(8)).slice(0, count) };
    } else if (m.type === 'K') {
      key = { processId: m.body.readInt32BE(0), secretKey: Buffer.from(m.body.subarray(4)) };
    } else if (m.type === 'R') {
      const code = m.body.readInt32BE(0);
      if (code === 10) {
        const mechanisms = cstrings(m.body.subarray(4));
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error(`no SCRAM-SHA-256 among ${mechanisms.join(',')}`);
        const nonce = randomBytes(18).toString('base64');
        const clientFirstBare = `n=,r=${nonce}`;
        scram = { nonce, clientFirstBare };
        const first = Buffer.from(`n,,${clientFirstBare}`);
        const len = Buffer.alloc(4);
        len.writeInt32BE(first.length);
        stream.write(frontend('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), len, first])));
      } else if (code === 11 && scram) {
        const serverFirst = m.body.subarray(4).toString();
        const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
        if (!attrs.r?.startsWith(scram.nonce)) throw new Error('SCRAM: server nonce does not extend ours');
        const salted = pbkdf2Sync(opts.password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
        const clientKey = createHmac('sha256', salted).update('Client Key').digest();
        const storedKey = createHash('sha256').update(clientKey).digest();
        const withoutProof = `c=biws,r=${attrs.r}`;
        const authMessage = `${scram.clientFirstBare},${serverFirst},${withoutProof}`;
        const signature = createHmac('sha256', storedKey).update(authMessage).digest();
        const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
        const serverKey = createHmac('sha256', salted).update('Server Key').digest();
        scram.serverSignature = createHmac('sha256', serverKey).update(authMessage).digest('base64');
        stream.write(frontend('p', Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)));
      } else if (code === 12 && scram) {
        if (m.body.subarray(4).toString() !== `v=${scram.serverSignature}`) throw new Error('SCRAM: server signature mismatch');
      } else if (code !== 0) {
        throw new Error(`unsupported authentication request ${code}`);
      }
    } else if (m.type === 'Z') {
      if (!key) throw new Error('no BackendKeyData before ReadyForQuery');
      const k = key;
      return {
        stream,
        reader,
        negotiated,
        key: k,
        query: async (sql) => {
          stream.write(frontend('Q', Buffer.from(`${sql}\0`)));
          const rows: Array<Array<string | null>> = [];
          let error: PgError | null = null;
          for (;;) {
            const r = await reader.next();
            if (r.type === 'D') {
              const n = r.body.readInt16BE(0);
              const row: Array<string | null> = [];
              let p = 2;
              for (let i = 0; i < n; i++) {
                const len = r.body.readInt32BE(p);
                p += 4;
                if (len < 0) row.push(null);
                else {
                  row.push(r.body.subarray(p, p + len).toString());
                  p += len;
                }
              }
              rows.push(row);
            } else if (r.type === 'E') {
              error = new PgError(parseErrorFields(r.body));
            } else if (r.type === 'Z') {
              if (error) throw error;
              return rows;
            }
          }
        },
        close: () => {
          stream.end(frontend('X', Buffer.alloc(0)));
        },
      };
    }
  }
}
