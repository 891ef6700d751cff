/**
 * `http` listeners: the first bytes must be an HTTP/1.x request head; the route is chosen by
 * its Host (or absolute-form authority). Pure, like the other sniffers: the listener feeds
 * chunks and replays every byte to the chosen upstream unchanged.
 */
import { hostFromAuthority, parseHttpRequestHead } from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import { ByteAccumulator } from './byte-accumulator.js';
import type { SniffResult } from './sniffer.js';

export type HttpSniffResult =
  | { type: 'need-more' }
  /** A complete request head; `host` is normalised (null: no usable Host); `target` as sent. */
  | { type: 'request'; host: string | null; method: string; target: string; bytes: Buffer }
  | { type: 'refuse'; code: RefusalCode; speak: 'http'; detail?: string };

/** What any sniffer may return; connection.ts handles every case. */
export type AnySniffResult = SniffResult | HttpSniffResult;

const NEED_MORE: HttpSniffResult = { type: 'need-more' };

export class HttpSniffer {
  private readonly acc = new ByteAccumulator();

  constructor(private readonly maxHeadBytes: number) {}

  speaks(): 'http' {
    return 'http';
  }

  endOfInput(): HttpSniffResult | null {
    if (this.acc.length === 0) return null;
    return { type: 'refuse', code: 'http_invalid', speak: 'http', detail: 'truncated' };
  }

  feed(chunk: Uint8Array): HttpSniffResult {
    const searchFrom = this.acc.length;
    this.acc.append(chunk);
    const r = parseHttpRequestHead(this.acc.view(), { maxHeadBytes: this.maxHeadBytes, searchFrom });
    if (r.status === 'need-more') return NEED_MORE;
    if (r.status === 'error') {
      const code: RefusalCode = r.code === 'too-large' ? 'http_head_too_large' : r.code === 'bad-version' ? 'http_version_unsupported' : 'http_invalid';
      return { type: 'refuse', code, speak: 'http', detail: r.code };
    }
    const host = r.value.authority === null ? null : hostFromAuthority(r.value.authority);
    return { type: 'request', host, method: r.value.method, target: r.value.target, bytes: this.acc.take() };
  }
}
