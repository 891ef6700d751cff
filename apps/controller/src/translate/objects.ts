/**
 * The Kubernetes objects the controller reads, as the API server sends them (JSON), reduced
 * to the fields used. Everything optional the server may omit is optional here.
 */

export const GROUP = 'switchyard.io';
export const VERSION = 'v1alpha1';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** GatewayClass.spec.controllerName that marks a Gateway as Switchyard's. */
export const GATEWAY_CONTROLLER_NAME = 'switchyard.io/gateway-controller';
/** Namespace label naming the tenant the namespace belongs to. */
export const TENANT_LABEL = 'switchyard.io/tenant';
/** Field manager for status writes (server-side field ownership). */
export const FIELD_MANAGER = 'switchyard-controller';
/**
 * Annotation of a TLSRoute, written by the controller only: per hostname it routes, the Services
 * its last accepted generation resolved to (JSON, AcceptedBackends). TLSRoute's status is the
 * Gateway API's (a schema with no place for them: unknown fields are pruned), and a route kept
 * while a later generation is refused for its own spec follows their pods.
 */
export const LAST_ACCEPTED_BACKENDS = 'switchyard.io/last-accepted-backends';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  finalizers?: string[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export type Namespace = KubeObject;

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  spec?: { type?: string; clusterIP?: string; ports?: ServicePort[]; selector?: Record<string, string> };
}

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }; targetRef?: { kind?: string; name?: string } }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ExternalAccessSpec {
  service?: { name: string; port: number | string; namespace?: string };
  endpoints?: { host: string; port: number }[];
  /** endpoints (default): ready addresses from the EndpointSlices; service: the Service's cluster DNS name. */
  upstream?: 'endpoints' | 'service';
  engine?: string;
  tlsMode?: 'passthrough' | 'terminate';
  hostname?: string;
  sourceCidrs?: string[];
  maxConnections?: number;
  disableBehavior?: 'drain' | 'close';
  enabled?: boolean;
  /** Terminate mode: TLS (default) or plaintext from the proxy to the database. */
  upstreamTls?: boolean;
  /** Terminate mode: a certificate of the tenant by name; omitted: one issued by the platform CA. */
  certificate?: { name: string };
  /** Terminate mode with upstreamTls: PEM CA certificate(s) the database's certificate must chain to; omitted: not verified. */
  upstreamCa?: string;
  /**
   * Terminate mode with upstreamTls: the DNS name sent as SNI and checked against the database's
   * certificate; omitted: the Service's DNS name with `upstream: endpoints`, else the upstream host.
   */
  upstreamServerName?: string;
}

/**
 * The Service an ExternalAccess's last accepted spec named (spec.service, its namespace filled
 * in, and spec.upstream): status.lastAcceptedService, written with every accepted route and
 * kept while later generations are refused, so a kept route's endpoints follow its pods.
 */
export interface AcceptedService {
  namespace: string;
  name: string;
  /** As spec.service.port has it: a number, or a port name. */
  port: number | string;
  upstream: 'endpoints' | 'service';
}

export interface ExternalAccessStatus {
  conditions?: Condition[];
  hostname?: string;
  port?: number;
  connectionStrings?: Record<string, string>;
  observedGeneration?: number;
  certificateExpiry?: string;
  database?: string;
  configVersion?: number;
  /** The generation whose spec the route serves: the last accepted one (kept while later ones are refused for their own spec). */
  lastAcceptedGeneration?: number;
  /** The Service of that generation's spec (absent: it named explicit endpoints, or a controller without the field wrote it). */
  lastAcceptedService?: AcceptedService;
}

export interface ExternalAccess extends KubeObject {
  spec: ExternalAccessSpec;
  status?: ExternalAccessStatus;
}

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}

export interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

/** A backendRef of a TLSRoute's accepted generation that resolved: the Service and its port. */
export interface AcceptedBackend {
  namespace: string;
  name: string;
  port: number;
}

/** The LAST_ACCEPTED_BACKENDS annotation: hostname of a route → the backends it was written with. */
export type AcceptedBackends = Record<string, AcceptedBackend[]>;

export interface TLSRoute extends KubeObject {
  spec: { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: { name?: string; backendRefs?: BackendRef[] }[] };
  status?: { parents?: RouteParentStatus[] };
}

export interface Gateway extends KubeObject {
  spec: {
    gatewayClassName: string;
    listeners?: {
      name: string;
      protocol: string;
      port: number;
      hostname?: string;
      tls?: { mode?: string };
      allowedRoutes?: { namespaces?: { from?: 'All' | 'Same' | 'Selector'; selector?: { matchLabels?: Record<string, string> } }; kinds?: { group?: string; kind: string }[] };
    }[];
  };
  status?: { conditions?: Condition[]; listeners?: { name: string; supportedKinds: { group?: string; kind: string }[]; attachedRoutes: number; conditions: Condition[] }[] };
}

/**
 * Gateway API ReferenceGrant (v1beta1, standard channel), in the namespace of the referenced
 * object: which kinds from which namespaces may reference which of its objects.
 */
export interface ReferenceGrant extends KubeObject {
  spec: { from: { group: string; kind: string; namespace: string }[]; to: { group: string; kind: string; name?: string }[] };
}

export interface GatewayClass extends KubeObject {
  spec: { controllerName: string };
  status?: { conditions?: Condition[] };
}

export function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}
