/**
 * The PROXY protocol step of a listener with `proxy-protocol=<CIDRs>` (docs/proxy.md):
 * a pure state machine fed the first bytes of a connection, before the sniffer.
 *
 * - From a trusted source the header is parsed and its client address replaces the
 *   socket's for policy and audit. Without a header (a balancer's own TCP health check)
 *   the bytes go to the sniffer unchanged — unless the listener routes by the header
 *   (`destination`), which then refuses.
 * - From any other source a PROXY header is refused: otherwise any client could claim any
 *   address and walk through source-CIDR allowlists. Other bytes pass through untouched.
 */
import { looksLikeProxyHeader, parseProxyHeader, PROXY_V2_SIGNATURE, type ProxyHeader } from '@switchyard/wire';
import type { RefusalCode } from '../errors.js';
import { ByteAccumulator } from '../sniff/byte-accumulator.js';

export type PreludeResult =
  | { type: 'need-more' }
  /** Header parsed (or absent: null); `rest` are the bytes after it, for the sniffer. */
  | { type: 'done'; header: ProxyHeader | null; rest: Buffer }
  | { type: 'refuse'; code: RefusalCode; detail?: string };

const NEED_MORE: PreludeResult = { type: 'need-more' };

export class ProxyPrelude {
  private readonly acc = new ByteAccumulator(128);

  constructor(
    private readonly trusted: boolean,
    private readonly required: boolean,
  ) {}

  feed(chunk: Uint8Array): PreludeResult {
    this.acc.append(chunk);
    const view = this.acc.view();
    if (!this.trusted) {
      if (!looksLikeProxyHeader(view)) return { type: 'done', header: null, rest: this.acc.take() };
      // "PROXY " (6 bytes) or the 12-byte v2 signature settles it.
      const decisive = view[0] === PROXY_V2_SIGNATURE[0] ? PROXY_V2_SIGNATURE.length : 6;
      return view.length >= decisive ? { type: 'refuse', code: 'proxy_header_untrusted' } : NEED_MORE;
    }
    const r = parseProxyHeader(view);
    if (r.status === 'need-more') return NEED_MORE;
    if (r.status === 'error') {
      if (r.code === 'not-proxy' || (r.code === 'bad-signature' && !looksLikeProxyHeader(view))) {
        if (this.required) return { type: 'refuse', code: 'proxy_header_required' };
        return { type: 'done', header: null, rest: this.acc.take() };
      }
      return { type: 'refuse', code: 'proxy_header_invalid', detail: r.code };
    }
    const all = this.acc.take();
    return { type: 'done', header: r.value, rest: all.subarray(r.consumed) };
  }
}
