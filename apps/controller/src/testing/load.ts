/** Multi-document YAML (manifests, fixtures) → the translator's input, bucketed by kind. */
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../translate/objects.js';
import type { TranslateInput } from '../translate/translate.js';

const BUCKETS: Record<string, keyof TranslateInput> = {
  Namespace: 'namespaces',
  Service: 'services',
  EndpointSlice: 'endpointSlices',
  ExternalAccess: 'externalAccesses',
  TLSRoute: 'tlsRoutes',
  Gateway: 'gateways',
  GatewayClass: 'gatewayClasses',
  ReferenceGrant: 'referenceGrants',
};

export function emptyInput(): TranslateInput {
  return { namespaces: [], services: [], endpointSlices: [], externalAccesses: [], tlsRoutes: [], gateways: [], gatewayClasses: [], referenceGrants: [] };
}

export function loadObjects(texts: string[]): TranslateInput {
  const out = emptyInput();
  for (const text of texts) {
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as KubeObject | null;
      if (!o?.kind) continue;
      const bucket = BUCKETS[o.kind];
      if (!bucket) throw new Error(`unknown kind ${o.kind}`);
      (out[bucket] as KubeObject[]).push(o);
    }
  }
  return out;
}
