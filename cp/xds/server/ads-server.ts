/**
 * The Aggregated Discovery Service (xDS v3) over gRPC (./grpc-h2, node:http2): state-of-the-world
 * (StreamAggregatedResources) and incremental (DeltaAggregatedResources) streams.
 * The cache owns state, the server owns streams: each stream is one small state
 * machine with a fresh nonce per response and, per type, the last version sent and
 * ACKed (https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol).
 *
 * NACKs: a client that rejects a version keeps its last good config. The server logs
 * the rejection, never re-sends the rejected version, and waits a growing backoff
 * before the next push of that type - a client that rejects everything (or a generator
 * bug that produces something every client rejects) then costs one response per
 * backoff period, not a hot loop.
 */
import * as grpc from '@grpc/grpc-js';
import { Backoff } from '../../../lib/backoff';
import { KumaError, AuthError, NotFoundError, ValidationError } from '../../../lib/errors';
import type { Logger } from '../../../lib/logger';
import { fromStruct, TypeUrl } from '../../../proto/index';
import type { SnapshotCache } from '../cache/snapshot-cache';
import type { Snapshot, SnapshotResource } from '../cache/snapshot';
import { PUSH_ORDER } from '../generators/types';
import { encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire';
import type { ServerStreamCall, StreamMethod } from './grpc-h2';

/** The ADS node, decoded: what the server and the authenticator read. */
export interface NodeInfo {
  id: string;
  cluster: string;
  userAgentName: string;
  userAgentVersion: string;
  /** node.client_features (what the client says it supports). */
  clientFeatures: string[];
  /** node.metadata as plain JSON. */
  metadata: Record<string, unknown>;
}

/** An authenticated, registered proxy for the lifetime of one stream. */
export interface ProxySession {
  /** Cache key of the proxy's snapshots. */
  nodeId: string;
  /** When the credential expires; the stream is closed then. */
  expiresAt?: Date;
  /** Mesh of the proxy (absent for zone ingresses), for AdsServer.endStreams. */
  mesh?: string;
  /** Id (jti) of the token the stream authenticated with, for revocation. */
  tokenId?: string;
  /** Key (revocationListKey) of the list that can revoke that token: the stream ends when it does. */
  revocationList?: string;
  /** Called once when the stream ends. */
  release(): void;
}

/** Authenticates the first request of a stream and registers the proxy; throws AuthError/NotFoundError/ValidationError to refuse. */
export type Authenticator = (node: NodeInfo, metadata: grpc.Metadata, peer: string) => Promise<ProxySession>;

/** Options of the ADS server. */
export interface AdsServerOptions {
  cache: SnapshotCache;
  authenticate: Authenticator;
  log: Logger;
  /** NACK backoff; defaults 1 s doubling to 30 s. */
  nackBackoff?: { initialMs: number; maxMs: number };
  /** Closes streams that send nothing for this long (default FIRST_REQUEST_TIMEOUT_MS). */
  firstRequestTimeoutMs?: number;
  /** Observer of stream events (status provider, metrics). */
  onEvent?: (ev: StreamEvent) => void;
}

/** What the server reports about streams. */
export type StreamEvent =
  | { kind: 'connect'; nodeId: string; streamId: number; delta: boolean }
  | { kind: 'disconnect'; nodeId: string; streamId: number }
  | { kind: 'ack'; nodeId: string; streamId: number; typeUrl: string; version: string }
  | { kind: 'nack'; nodeId: string; streamId: number; typeUrl: string; version: string; error: string }
  | { kind: 'send'; nodeId: string; streamId: number; typeUrl: string; version: string; count: number };

const SERVED = new Set<string>(PUSH_ORDER);
/** How long a new stream may stay silent before it is closed. */
export const FIRST_REQUEST_TIMEOUT_MS = 30_000;
// LDS and CDS are wildcard types: an empty name list means "everything" (xDS protocol, "How the client specifies what resources to return").
const WILDCARD_TYPES = new Set<string>([TypeUrl.Listener, TypeUrl.Cluster]);

function nodeInfo(n: any): NodeInfo {
  return {
    id: String(n?.id ?? ''),
    cluster: String(n?.cluster ?? ''),
    userAgentName: String(n?.user_agent_name ?? ''),
    userAgentVersion: String(n?.user_agent_version ?? ''),
    clientFeatures: Array.isArray(n?.client_features) ? n.client_features.map(String) : [],
    metadata: fromStruct(n?.metadata),
  };
}

function statusOf(err: unknown): { code: grpc.status; details: string } {
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof AuthError) return { code: err.status === 403 ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, details: msg };
  if (err instanceof NotFoundError) return { code: grpc.status.NOT_FOUND, details: msg };
  if (err instanceof ValidationError) return { code: grpc.status.INVALID_ARGUMENT, details: msg };
  if (err instanceof KumaError) return { code: grpc.status.FAILED_PRECONDITION, details: msg };
  return { code: grpc.status.INTERNAL, details: msg };
}

interface TypeState {
  /** Subscribed names; `wildcard` for everything. */
  wildcard: boolean;
  names: Set<string>;
  /** SotW: the subscription as one string ('*' or the sorted names), set with `names`. */
  namesKey: string;
  /** Last response: version, nonce and the subscription it answered. */
  sentVersion?: string;
  sentNonce?: string;
  sentNamesKey?: string;
  ackedVersion?: string;
  /** Delta: name -> version the client holds (as far as we know). */
  held: Map<string, string>;
  /** SotW, named subscriptions: what the last response carried, by name (make-before-break, see pushSotw). */
  lastSent?: Map<string, SnapshotResource>;
  /** SotW: answer the next request of this type even if nothing changed (EDS after a CDS push: cluster warming). */
  answerNextRequest?: boolean;
  backoff: Backoff;
  blockedUntil: number;
  timer?: NodeJS.Timeout;
}

let streamCounter = 0;

/** One ADS stream's state machine (SotW or delta). */
class AdsStream {
  readonly id = ++streamCounter;
  private session?: ProxySession;
  private node?: NodeInfo;
  private snapshot?: Snapshot;
  private unwatch?: () => void;
  private readonly types = new Map<string, TypeState>();
  private nonce = 0;
  private closed = false;
  private expiryTimer?: NodeJS.Timeout;
  private pending: any[] = [];
  private firstRequestTimer?: NodeJS.Timeout;
  private authenticating = false;

  constructor(
    private readonly call: ServerStreamCall,
    private readonly delta: boolean,
    private readonly opts: AdsServerOptions,
    private readonly onClosed: (s: AdsStream) => void = () => undefined,
  ) {
    // A stream that never says who it is holds a connection for nothing.
    const silentMs = opts.firstRequestTimeoutMs ?? FIRST_REQUEST_TIMEOUT_MS;
    this.firstRequestTimer = setTimeout(() => this.fail(grpc.status.DEADLINE_EXCEEDED, `no DiscoveryRequest within ${silentMs} ms of opening the stream`), silentMs);
    this.firstRequestTimer.unref();
    call.on('data', (req) => this.onRequest(req));
    call.on('end', () => this.close());
    call.on('close', () => this.close());
  }

  private get log(): Logger {
    return this.opts.log;
  }

  /** The authenticated session, once the first request has been accepted. */
  get proxy(): ProxySession | undefined {
    return this.session;
  }

  /** Ends the stream with a gRPC status (the proxy reconnects and is authenticated afresh). */
  end(code: grpc.status, details: string): void {
    this.fail(code, details);
  }

  private fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    this.log.warn({ msg: 'ADS stream refused', node: this.node?.id, code: grpc.status[code], details }, 'ADS stream refused');
    this.call.end(code, details);
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(this);
    for (const st of this.types.values()) clearTimeout(st.timer);
    clearTimeout(this.expiryTimer);
    clearTimeout(this.firstRequestTimer);
    this.unwatch?.();
    if (this.session) {
      this.opts.onEvent?.({ kind: 'disconnect', nodeId: this.session.nodeId, streamId: this.id });
      try {
        this.session.release();
      } catch (err) {
        this.log.error({ err, node: this.session.nodeId }, 'releasing proxy session failed');
      }
    }
  }

  private onRequest(req: any): void {
    if (this.closed) return;
    clearTimeout(this.firstRequestTimer);
    if (!this.session) {
      // Requests that arrive while the first one is being authenticated wait for it.
      this.pending.push(req);
      if (!this.authenticating) void this.authenticate(req);
      return;
    }
    try {
      if (this.delta) this.onDelta(req);
      else this.onSotw(req);
    } catch (err) {
      this.log.error({ err, node: this.node?.id }, 'ADS request handling failed');
      this.fail(grpc.status.INTERNAL, (err as Error).message);
    }
  }

  private async authenticate(first: any): Promise<void> {
    this.authenticating = true;
    if (!first?.node?.id) {
      this.fail(grpc.status.INVALID_ARGUMENT, 'the first DiscoveryRequest of a stream must carry node.id ("<mesh>.<name>")');
      return;
    }
    this.node = nodeInfo(first.node);
    let session: ProxySession;
    try {
      session = await this.opts.authenticate(this.node, this.call.metadata, this.call.getPeer());
    } catch (err) {
      const s = statusOf(err);
      this.fail(s.code, s.details);
      return;
    }
    if (this.closed) {
      session.release();
      return;
    }
    this.session = session;
    this.opts.onEvent?.({ kind: 'connect', nodeId: session.nodeId, streamId: this.id, delta: this.delta });
    this.log.info({ node: this.node.id, stream: this.id, delta: this.delta }, 'ADS stream connected');
    if (session.expiresAt) {
      const ms = session.expiresAt.getTime() - Date.now();
      // setTimeout caps at ~24.8 days; a longer-lived token is re-checked on reconnect anyway.
      if (ms <= 0) return this.fail(grpc.status.UNAUTHENTICATED, 'dataplane token expired');
      if (ms < 2 ** 31 - 1) this.expiryTimer = setTimeout(() => this.fail(grpc.status.UNAUTHENTICATED, 'dataplane token expired'), ms);
    }
    this.unwatch = this.opts.cache.watch(session.nodeId, (snap) => {
      this.snapshot = snap;
      for (const t of PUSH_ORDER) if (this.types.has(t)) this.push(t);
    });
    const queued = this.pending;
    this.pending = [];
    for (const r of queued) this.onRequest(r);
  }

  private state(type: string): TypeState {
    let st = this.types.get(type);
    if (!st) {
      const b = this.opts.nackBackoff ?? { initialMs: 1000, maxMs: 30_000 };
      st = { wildcard: false, names: new Set(), namesKey: '', held: new Map(), backoff: new Backoff(b), blockedUntil: 0 };
      this.types.set(type, st);
    }
    return st;
  }

  private onNack(type: string, st: TypeState, version: string, detail: any): void {
    const error = String(detail?.message ?? '');
    this.log.warn({ msg: 'NACK', node: this.node?.id, type, version, error_detail: { code: detail?.code ?? 0, message: error } }, 'NACK');
    this.opts.onEvent?.({ kind: 'nack', nodeId: this.session!.nodeId, streamId: this.id, typeUrl: type, version, error });
    st.blockedUntil = Date.now() + st.backoff.next();
  }

  private onAck(type: string, st: TypeState, version: string): void {
    st.ackedVersion = version;
    st.backoff.reset();
    this.opts.onEvent?.({ kind: 'ack', nodeId: this.session!.nodeId, streamId: this.id, typeUrl: type, version });
  }

  private onSotw(req: any): void {
    const type = String(req.type_url ?? '');
    if (!SERVED.has(type)) {
      this.log.debug({ node: this.node?.id, type }, 'request for a type this CP does not serve; ignored');
      return;
    }
    const st = this.state(type);
    const nonce = String(req.response_nonce ?? '');
    if (nonce) {
      // A request that answers an older response is stale: the client will answer the newest too.
      if (nonce !== st.sentNonce) return;
      if (req.error_detail) this.onNack(type, st, st.sentVersion ?? '', req.error_detail);
      else this.onAck(type, st, String(req.version_info ?? ''));
    }
    const names: string[] = (req.resource_names ?? []).map(String);
    st.wildcard = WILDCARD_TYPES.has(type) && (names.length === 0 || names.includes('*'));
    st.names = new Set(names.filter((n) => n !== '*'));
    st.namesKey = st.wildcard ? '*' : [...st.names].sort().join('\u0000');
    this.push(type, true);
  }

  private onDelta(req: any): void {
    const type = String(req.type_url ?? '');
    if (!SERVED.has(type)) return;
    const first = !this.types.has(type);
    const st = this.state(type);
    const subscribe: string[] = (req.resource_names_subscribe ?? []).map(String);
    const unsubscribe: string[] = (req.resource_names_unsubscribe ?? []).map(String);
    if (first) {
      st.wildcard = WILDCARD_TYPES.has(type) && (subscribe.length === 0 || subscribe.includes('*'));
      for (const [n, v] of Object.entries(req.initial_resource_versions ?? {})) st.held.set(n, String(v));
    }
    for (const n of subscribe) {
      if (n === '*') st.wildcard = true;
      else st.names.add(n);
    }
    for (const n of unsubscribe) {
      if (n === '*') st.wildcard = false;
      st.names.delete(n);
      st.held.delete(n);
    }
    const nonce = String(req.response_nonce ?? '');
    if (nonce && nonce === st.sentNonce) {
      if (req.error_detail) this.onNack(type, st, st.sentVersion ?? '', req.error_detail);
      else this.onAck(type, st, st.sentVersion ?? '');
    }
    this.push(type);
  }

  /** Sends the type's current resources if the client lacks them and no NACK backoff is running. */
  private push(type: string, request = false): void {
    if (this.closed || !this.snapshot) return;
    const st = this.types.get(type)!;
    const wait = st.blockedUntil - Date.now();
    if (wait > 0) {
      clearTimeout(st.timer);
      st.timer = setTimeout(() => this.push(type, request), wait);
      return;
    }
    if (this.delta) this.pushDelta(type, st);
    else this.pushSotw(type, st, request);
  }

  /** `request`: answering a DiscoveryRequest (else a new snapshot). */
  private pushSotw(type: string, st: TypeState, request: boolean): void {
    const snap = this.snapshot!;
    const version = snap.version(type);
    const namesKey = st.namesKey;
    const force = request && st.answerNextRequest === true;
    if (!force && version === st.sentVersion && namesKey === st.sentNamesKey) return;
    if (!st.wildcard && st.names.size === 0 && st.sentNamesKey === undefined) return; // nothing asked for yet
    const all = snap.of(type);
    // Make before break (xDS protocol, "Eventual consistency considerations"): a named
    // resource that vanished from the snapshot while the client still subscribes to it is
    // still referenced by the client's current routes or listeners. Saying "does not exist"
    // now would fail its requests until the new RDS/LDS arrives (gRPC clients report
    // UNAVAILABLE "Cluster resource X does not exist"). Keep sending the last version until
    // the client, having applied the new references, unsubscribes from the name.
    const resources = st.wildcard ? [...all.values()] : [...st.names].sort().flatMap((n) => {
      const r = all.get(n) ?? st.lastSent?.get(n);
      return r ? [r] : [];
    });
    // A named subscription's type version moves whenever any resource of the type changes
    // (a new subset cluster's CLA, say), but the client holds only what it named: when
    // that is unchanged, a response would only cost it a decode and an ACK. Mesh-wide
    // changes would otherwise send every proxy one such EDS response.
    if (!force && !st.wildcard && namesKey === st.sentNamesKey && sameResources(resources, st.lastSent)) return;
    if (force) st.answerNextRequest = false;
    if (!st.wildcard) st.lastSent = new Map(resources.map((r) => [r.name, r]));
    const nonce = String(++this.nonce);
    st.sentVersion = version;
    st.sentNonce = nonce;
    st.sentNamesKey = namesKey;
    this.call.writeFrame(encodeDiscoveryResponse({ version_info: version, resources, type_url: type, nonce }, true));
    if (type === TypeUrl.Cluster) {
      // An updated cluster warms until it sees its ClusterLoadAssignment, and Envoy asks
      // for it again with unchanged names and version: the next EDS request must be
      // answered even if nothing changed (go-control-plane/Envoy "cluster warming" caveat).
      const eds = this.types.get(TypeUrl.ClusterLoadAssignment);
      if (eds) eds.answerNextRequest = true;
    }
    this.opts.onEvent?.({ kind: 'send', nodeId: this.session!.nodeId, streamId: this.id, typeUrl: type, version, count: resources.length });
  }

  private pushDelta(type: string, st: TypeState): void {
    const snap = this.snapshot!;
    const all = snap.of(type);
    const wanted = st.wildcard ? [...all.keys()] : [...st.names].filter((n) => all.has(n)).sort();
    const resources = wanted.filter((n) => st.held.get(n) !== all.get(n)!.version).map((n) => all.get(n)!);
    // Make before break, as in pushSotw: a named resource that left the snapshot while the
    // client still subscribes to it is still referenced by the client's current clusters
    // or listeners. Removing it now would break them until the new CDS/LDS is applied; the
    // client unsubscribes once it no longer needs the name, and keeps its last version
    // until then. Wildcard types (LDS, CDS) are how removals are learnt: they are sent.
    const removed = [...st.held.keys()].filter((n) => (st.wildcard ? !all.has(n) : !st.names.has(n))).sort();
    if (resources.length === 0 && removed.length === 0) return;
    for (const r of resources) st.held.set(r.name, r.version);
    for (const n of removed) st.held.delete(n);
    const nonce = String(++this.nonce);
    const version = snap.version(type);
    st.sentVersion = version;
    st.sentNonce = nonce;
    this.call.writeFrame(encodeDeltaDiscoveryResponse({ system_version_info: version, resources, type_url: type, removed_resources: removed, nonce }, true));
    this.opts.onEvent?.({ kind: 'send', nodeId: this.session!.nodeId, streamId: this.id, typeUrl: type, version, count: resources.length });
  }
}

/** True when `resources` are exactly what `last` held (same names, same content versions). */
function sameResources(resources: SnapshotResource[], last: Map<string, SnapshotResource> | undefined): boolean {
  if (!last || last.size !== resources.length) return false;
  for (const r of resources) {
    const l = last.get(r.name);
    if (!l || (l !== r && l.version !== r.version)) return false;
  }
  return true;
}

/** The ADS service implementation: its two methods, for a GrpcH2Server (`methods`). */
export class AdsServer {
  private readonly streams = new Set<AdsStream>();

  constructor(private readonly opts: AdsServerOptions) {}

  /** envoy.service.discovery.v3.AggregatedDiscoveryService's methods by path. */
  methods(): Record<string, StreamMethod> {
    // Imported lazily so that pure users of this module do not load every proto.
    const { grpcServiceDefinition } = require('../../../proto/index') as typeof import('../../../proto/index');
    const service = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
    const def = grpcServiceDefinition(service)[service] as Record<string, { path: string; requestDeserialize: (b: Buffer) => unknown }>;
    const method = (name: string, delta: boolean): [string, StreamMethod] => [
      def[name].path,
      {
        deserialize: def[name].requestDeserialize,
        handler: (call) => {
          const s = new AdsStream(call, delta, this.opts, (closed) => this.streams.delete(closed));
          this.streams.add(s);
        },
      },
    ];
    return Object.fromEntries([method('StreamAggregatedResources', false), method('DeltaAggregatedResources', true)]);
  }

  /** Ends every authenticated stream whose session matches, with the given status; returns how many. */
  endStreams(match: (session: ProxySession) => boolean, code: grpc.status, details: (session: ProxySession) => string): number {
    let n = 0;
    for (const s of [...this.streams]) {
      const session = s.proxy;
      if (session && match(session)) {
        s.end(code, details(session));
        n++;
      }
    }
    return n;
  }
}
