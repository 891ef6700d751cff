/**
 * ACME challenges answered by the proxy itself (docs/certificates.md "ACME").
 *
 * TLS-ALPN-01 (RFC 8737): the CA opens TLS to the host name on port 443 offering only the
 * ALPN protocol `acme-tls/1`; the server must select it and present a self-signed
 * certificate for the name carrying the critical acmeIdentifier extension (SHA-256 of the key
 * authorization). The challenge certificate is made by the control plane and arrives with
 * the route table; its SecureContext is prebuilt (tls/context-store.ts). Here the sniffed
 * hello is pushed back and OpenSSL completes the handshake with it — nothing is forwarded.
 *
 * HTTP-01 (RFC 8555 §8.3): `GET /.well-known/acme-challenge/<token>` on port 80 is answered
 * with the key authorization (listener/connection.ts).
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';

/** RFC 8737 §6.2: the ALPN protocol ID of TLS-ALPN-01 validation. */
export const ACME_TLS_ALPN = 'acme-tls/1';
/** RFC 8555 §8.3: where HTTP-01 validation fetches the key authorization. */
export const ACME_HTTP_PREFIX = '/.well-known/acme-challenge/';

export function answerAcmeTlsAlpn(socket: Socket, helloBytes: Buffer, context: SecureContext, onTlsSocket: (tls: TLSSocket) => void): TLSSocket {
  socket.unshift(helloBytes);
  const tls = new TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: [ACME_TLS_ALPN] });
  // As in terminate.ts: outside a tls.Server, TLS errors arrive only as '_tlsError'.
  tls.on('_tlsError', (err: Error) => tls.destroy(err));
  tls.on('error', () => {});
  onTlsSocket(tls);
  return tls;
}
