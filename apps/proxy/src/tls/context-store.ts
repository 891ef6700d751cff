/**
 * Prebuilt TLS server contexts for routes in terminate mode, keyed by route id.
 *
 * Contexts are built when a route table is built or derived (`apply`, called from the table
 * swap, off the hot path): the private key is decrypted with the keyring and handed to
 * OpenSSL once. The hot path only does a map lookup. A certificate that cannot be used
 * (no keyring, unknown key id, key that does not match, unparsable PEM) yields an error
 * entry for *its* routes only; every other route keeps working. Replacing a certificate
 * replaces the entry: new handshakes use the new context, established TLS sessions keep the
 * one they were created with.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { AcmeChallengeRecord, RouteCertificate } from '@switchyard/core';
import type { Keyring } from '@switchyard/pki';
import type { Logger } from 'pino';
import type { RouteTable, TouchedRoute } from '../router/route-table.js';

export type TlsEntry =
  | { ok: true; context: SecureContext; certificateId: string; fingerprint: string; notAfter: number }
  | { ok: false; certificateId: string | null; reason: string };

export interface TableSwap {
  table: RouteTable;
  kind: 'full' | 'delta';
}

export class SecureContextStore {
  private byRoute = new Map<string, TlsEntry>();
  /**
   * TLS-ALPN-01 challenge contexts (RFC 8737) by route id, built with the table like route
   * contexts, so an `acme-tls/1` hello costs one map lookup.
   */
  private challenges = new Map<string, SecureContext>();
  /** One context per certificate version, shared by the routes that use it. */
  private byCertificate = new Map<string, TlsEntry>();

  constructor(
    private readonly keyring: Keyring | null,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.byRoute.size;
  }

  /** Hot path: the entry for a terminate route (undefined when the route is not terminated). */
  get(routeId: string): TlsEntry | undefined {
    return this.byRoute.get(routeId);
  }

  /** Hot path: the TLS-ALPN-01 challenge context of a route (undefined: no pending challenge). */
  challenge(routeId: string): SecureContext | undefined {
    return this.challenges.get(routeId);
  }

  /** Rebuilds entries of the routes a table change touched. Runs before the table is used. */
  apply(change: TableSwap, touched: readonly TouchedRoute[]): void {
    const previousCerts = this.byCertificate;
    if (change.kind === 'full') {
      this.byRoute = new Map();
      this.byCertificate = new Map();
      this.challenges = new Map();
    }
    for (const { id, after: r } of touched) {
      this.applyChallenge(id, r?.acmeChallenge ?? null, r?.hostname ?? null);
      if (!r || r.tlsMode !== 'terminate') {
        this.byRoute.delete(id);
        continue;
      }
      const key = r.certificate ? certKey(r.certificate) : null;
      let entry = key ? (this.byCertificate.get(key) ?? previousCerts.get(key)) : undefined;
      if (!entry) {
        entry = this.build(r.certificate);
        if (!entry.ok) this.log.warn({ route: r.hostname, certificateId: entry.certificateId, reason: entry.reason }, 'route certificate unusable; its host name is refused');
      }
      if (key) this.byCertificate.set(key, entry);
      this.byRoute.set(id, entry);
    }
    if (change.kind === 'delta' && this.byCertificate.size > 2 * this.byRoute.size + 16) this.prune();
  }

  private applyChallenge(routeId: string, ch: AcmeChallengeRecord | null, hostname: string | null): void {
    if (!ch || ch.type !== 'tls-alpn-01' || !ch.certPem || !ch.keyCiphertext || !this.keyring) {
      this.challenges.delete(routeId);
      return;
    }
    try {
      const key = this.keyring.decrypt(ch.keyCiphertext, ch.id);
      // Only the challenge certificate is ever offered with it, and only to acme-tls/1 hellos.
      this.challenges.set(routeId, createSecureContext({ cert: ch.certPem, key, minVersion: 'TLSv1.2' }));
    } catch (err) {
      this.challenges.delete(routeId);
      this.log.warn({ route: hostname, challengeId: ch.id, reason: (err as Error).message }, 'ACME challenge certificate unusable; acme-tls/1 for this host name is refused');
    }
  }

  private build(cert: RouteCertificate | null): TlsEntry {
    if (!cert) return { ok: false, certificateId: null, reason: 'no certificate attached' };
    if (!cert.keyCiphertext) return { ok: false, certificateId: cert.id, reason: 'the certificate has no private key' };
    if (!this.keyring) return { ok: false, certificateId: cert.id, reason: 'no keyring configured (SWITCHYARD_KEYS / SWITCHYARD_KEYS_FILE)' };
    let keyPem: string;
    try {
      keyPem = this.keyring.decrypt(cert.keyCiphertext, cert.id);
    } catch (err) {
      return { ok: false, certificateId: cert.id, reason: (err as Error).message };
    }
    try {
      const context = createSecureContext({ cert: cert.certPem, key: keyPem, minVersion: 'TLSv1.2' });
      return { ok: true, context, certificateId: cert.id, fingerprint: cert.fingerprint, notAfter: cert.notAfter };
    } catch (err) {
      // OpenSSL's message ("key values mismatch", "no start line") names no secret.
      return { ok: false, certificateId: cert.id, reason: `certificate or key rejected by OpenSSL: ${(err as Error).message}` };
    }
  }

  private prune(): void {
    const live = new Set(this.byRoute.values());
    for (const [k, e] of this.byCertificate) if (!live.has(e)) this.byCertificate.delete(k);
  }
}

function certKey(c: RouteCertificate): string {
  return `${c.id}\u0000${c.fingerprint}\u0000${c.keyCiphertext ?? ''}`;
}
