/**
 * Writes routes straight into a control database the way the API does (route row +
 * recordRouteChange in one transaction), for proxy tests that do not need the API.
 */
import { randomUUID } from 'node:crypto';
import { createPrisma, Prisma, recordRouteChange, recordRouteChanges, type PrismaClient, type TxClient } from '@switchyard/db';
import type { Engine } from '@switchyard/core';
import { certificateInfo, type KeyAndCert, type Keyring } from '@switchyard/pki';
import { testKeyring } from './certs.js';

export interface RouteSpec {
  tenant?: string;
  database: string;
  engine: Engine;
  upstream: { host: string; port: number };
  hostname: string;
  listener: string;
  enabled?: boolean;
  disableBehavior?: 'drain' | 'close';
  sourceCidrs?: string[];
  maxConnections?: number | null;
  /** Every endpoint (default: just `upstream`). */
  endpoints?: Array<{ host: string; port: number }>;
  balance?: 'round-robin' | 'least-connections' | 'source-hash';
  healthCheck?: { type: 'tcp' | 'tls'; intervalMs: number; timeoutMs: number; rise: number; fall: number } | null;
  proxyProtocol?: 'v1' | 'v2' | null;
  dedicatedPort?: number | null;
  destination?: string | null;
  sourceAddress?: string | null;
  tlsMode?: 'passthrough' | 'terminate';
  /** Terminate mode: the certificate to present (stored with its key sealed by the keyring). */
  certificate?: KeyAndCert;
  /** Terminate mode: store this exact key ciphertext instead (broken-certificate tests). */
  keyCiphertext?: string;
  upstreamTls?: boolean;
  upstreamCa?: string | null;
}

export class ControlDb {
  readonly prisma: PrismaClient;
  constructor(
    url: string,
    readonly keyring: Keyring = testKeyring(),
  ) {
    this.prisma = createPrisma(url, { max: 4 });
  }

  private async storeCertificate(tx: TxClient, tenantId: string, cert: KeyAndCert, keyCiphertext?: string): Promise<string> {
    const info = certificateInfo(cert.certPem);
    const id = randomUUID();
    await tx.certificate.create({
      data: {
        id,
        tenantId,
        name: `test-${id}`,
        kind: 'uploaded',
        hostnames: info.hostnames,
        certPem: cert.certPem,
        keyCiphertext: keyCiphertext ?? this.keyring.encrypt(cert.keyPem, id),
        fingerprint: info.fingerprint,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
      },
    });
    return id;
  }

  /** Replaces a route's certificate content in place (same id), like the API's replace. */
  async replaceCertificate(routeId: string, cert: KeyAndCert): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const route = await tx.route.findUniqueOrThrow({ where: { id: routeId } });
      const info = certificateInfo(cert.certPem);
      const id = route.certificateId!;
      await tx.certificate.update({
        where: { id },
        data: { certPem: cert.certPem, keyCiphertext: this.keyring.encrypt(cert.keyPem, id), fingerprint: info.fingerprint, notBefore: info.notBefore, notAfter: info.notAfter },
      });
      const routes = await tx.route.findMany({ where: { certificateId: id }, select: { id: true, hostname: true } });
      return recordRouteChanges(tx, routes.map((r) => ({ routeId: r.id, hostname: r.hostname, op: 'upsert' as const })));
    });
  }

  async putRoute(spec: RouteSpec): Promise<{ routeId: string; version: number }> {
    return this.prisma.$transaction(async (tx) => {
      const slug = spec.tenant ?? 'acme';
      const tenant = await tx.tenant.upsert({ where: { slug }, update: {}, create: { slug, name: slug } });
      const upstream = {
        upstreamHost: spec.upstream.host,
        upstreamPort: spec.upstream.port,
        endpoints: spec.endpoints ?? [spec.upstream],
        balancePolicy: spec.balance ?? 'round-robin',
        healthCheck: spec.healthCheck ?? Prisma.DbNull,
      };
      const db = await tx.database.upsert({
        where: { tenantId_name: { tenantId: tenant.id, name: spec.database } },
        update: upstream,
        create: { tenantId: tenant.id, name: spec.database, engine: spec.engine, ...upstream },
      });
      const certificateId = spec.certificate ? await this.storeCertificate(tx, tenant.id, spec.certificate, spec.keyCiphertext) : null;
      const data = {
        hostname: spec.hostname,
        listener: spec.listener,
        tlsMode: spec.tlsMode ?? 'passthrough',
        certificateId,
        upstreamTls: spec.upstreamTls ?? true,
        upstreamCa: spec.upstreamCa ?? null,
        enabled: spec.enabled ?? true,
        disableBehavior: spec.disableBehavior ?? 'drain',
        sourceCidrs: spec.sourceCidrs ?? [],
        maxConnections: spec.maxConnections ?? null,
        proxyProtocol: spec.proxyProtocol ?? null,
        dedicatedPort: spec.dedicatedPort ?? null,
        destination: spec.destination ?? null,
        sourceAddress: spec.sourceAddress ?? null,
      };
      const route = await tx.route.upsert({ where: { databaseId: db.id }, update: data, create: { ...data, databaseId: db.id, tenantId: tenant.id } });
      const version = await recordRouteChange(tx, { routeId: route.id, hostname: route.hostname, op: 'upsert' });
      return { routeId: route.id, version };
    });
  }

  async setEnabled(routeId: string, enabled: boolean): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.route.update({ where: { id: routeId }, data: { enabled } });
      return recordRouteChange(tx, { routeId, hostname: r.hostname, op: 'upsert' });
    });
  }

  async deleteRoute(routeId: string): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.route.delete({ where: { id: routeId } });
      return recordRouteChange(tx, { routeId, hostname: r.hostname, op: 'delete' });
    });
  }

  close(): Promise<void> {
    return this.prisma.$disconnect();
  }
}
