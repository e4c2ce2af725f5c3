/**
 * A small state-of-the-world ADS server for tests, on @grpc/grpc-js with the real
 * Envoy protos: resources are written in proto3 JSON (as in the golden files) and
 * encoded strictly, so what the engine receives is byte-for-byte what a CP would send.
 * Records every request (ACK/NACK, error_detail, the authorization metadata).
 */
import * as grpc from '@grpc/grpc-js';
import { grpcPackageDefinition, TypeUrl } from '../../../../proto/index';
import { encodeProtoJson } from '../../../../proto/json';

/** One request the server received. */
export interface SeenRequest {
  node?: string;
  typeUrl: string;
  version: string;
  nonce: string;
  names: string[];
  error?: string;
  authorization?: string;
}

interface StreamState {
  call: grpc.ServerDuplexStream<any, any>;
  node: string;
  first: boolean;
  /** Every nonce sent on this stream, with the version it carried, per type. */
  sentNonces: Map<string, { typeUrl: string; version: string }>;
  sent: Map<string, { version: string; nonce: string; names: string[] }>;
  wanted: Map<string, string[]>;
}

/** Envoy type name per short key. */
export const T = TypeUrl;

/** The test ADS server. */
export class TestAdsServer {
  private readonly server = new grpc.Server();
  private readonly resources = new Map<string, Map<string, { json: any; bytes: Uint8Array }[]>>();
  private readonly versions = new Map<string, number>();
  private readonly streams = new Set<StreamState>();
  private nonce = 0;
  readonly requests: SeenRequest[] = [];
  /**
   * Broken xDS protocol rules seen from clients (go-control-plane's fake-stream habit):
   * a nonce we never sent on that stream, an ACKed version we never sent, the node
   * missing from a stream's first request. Tests assert this stays empty.
   */
  readonly violations: string[] = [];
  port = 0;

  constructor() {
    const pkg = grpc.loadPackageDefinition(grpcPackageDefinition()) as any;
    this.server.addService(pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<any, any>) => this.onStream(call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<any, any>) => call.end(),
    });
  }

  /** Listens on 127.0.0.1:0 with TLS (`cert`, `key`) or plaintext. */
  async start(tls?: { cert: string; key: string }): Promise<void> {
    const creds = tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], false) : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', creds, (err, port) => (err ? reject(err) : resolve(port))));
  }

  /** Replaces the resources of one type for one node (proto3 JSON), bumps the version and pushes. */
  set(node: string, typeUrl: string, items: any[]): void {
    const byNode = this.resources.get(node) ?? new Map();
    this.resources.set(node, byNode);
    byNode.set(typeUrl, items.map((json) => ({ json, bytes: encodeProtoJson(typeUrl, json) })));
    const key = `${node}|${typeUrl}`;
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    for (const s of this.streams) if (s.node === node && s.wanted.has(typeUrl)) this.push(s, typeUrl);
  }

  /** NACK messages received so far. */
  nacks(): SeenRequest[] {
    return this.requests.filter((r) => r.error !== undefined);
  }

  /** Drops every open stream (the CP "goes away" without stopping). */
  kickAll(): void {
    for (const s of this.streams) s.call.end();
    this.streams.clear();
  }

  private onStream(call: grpc.ServerDuplexStream<any, any>): void {
    const st: StreamState = { call, node: '', first: true, sentNonces: new Map(), sent: new Map(), wanted: new Map() };
    this.streams.add(st);
    const auth = call.metadata.get('authorization')[0]?.toString();
    call.on('data', (req: any) => {
      if (st.first && !req.node?.id) this.violations.push(`first request of a stream has no node (type ${req.type_url})`);
      st.first = false;
      if (req.node?.id) st.node = req.node.id;
      if (req.response_nonce) {
        const sent = st.sentNonces.get(req.response_nonce);
        if (!sent) this.violations.push(`${st.node}: nonce ${req.response_nonce} was never sent on this stream`);
        else if (sent.typeUrl !== req.type_url) this.violations.push(`${st.node}: nonce ${req.response_nonce} belongs to ${sent.typeUrl}, request is for ${req.type_url}`);
        else if (!req.error_detail && req.version_info !== sent.version) this.violations.push(`${st.node}: ACK of nonce ${req.response_nonce} carries version ${req.version_info}, sent ${sent.version}`);
      }
      const names: string[] = req.resource_names ?? [];
      this.requests.push({ node: st.node, typeUrl: req.type_url, version: req.version_info ?? '', nonce: req.response_nonce ?? '', names, error: req.error_detail?.message, authorization: auth });
      const prev = st.sent.get(req.type_url);
      if (prev && req.response_nonce && req.response_nonce !== prev.nonce) return; // stale
      st.wanted.set(req.type_url, names);
      const changed = !prev || prev.names.join('\0') !== [...names].sort().join('\0');
      const version = String(this.versions.get(`${st.node}|${req.type_url}`) ?? 0);
      if (changed || prev.version !== version) this.push(st, req.type_url);
    });
    call.on('error', () => this.streams.delete(st));
    call.on('end', () => {
      this.streams.delete(st);
      call.end();
    });
  }

  private push(st: StreamState, typeUrl: string): void {
    const names = st.wanted.get(typeUrl) ?? [];
    const version = String(this.versions.get(`${st.node}|${typeUrl}`) ?? 0);
    const all = this.resources.get(st.node)?.get(typeUrl) ?? [];
    const items = names.length ? all.filter((r) => names.includes(r.json.name ?? r.json.cluster_name)) : all;
    const nonce = String(++this.nonce);
    st.sent.set(typeUrl, { version, nonce, names: [...names].sort() });
    st.sentNonces.set(nonce, { typeUrl, version });
    st.call.write({ version_info: version, type_url: typeUrl, nonce, resources: items.map((r) => ({ type_url: typeUrl, value: Buffer.from(r.bytes) })) });
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    for (const s of this.streams) s.call.destroy();
    this.server.forceShutdown();
  }
}
