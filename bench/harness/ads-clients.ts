/**
 * A worker process holding many simulated dataplanes, each one real SotW ADS stream on
 * its own HTTP/2 connection, as N Envoys would have. Each client behaves like Envoy on a
 * TCP-only dataplane: it asks for CDS and LDS (wildcard), subscribes to the EDS names of
 * the EDS clusters it receives, and ACKs every response with its version and nonce.
 *
 * Two transports: `h2` (default) speaks gRPC over node:http2 directly (length-prefixed
 * messages, grpc-status in the trailers) and reads responses from the wire; `grpc` uses
 * @grpc/grpc-js channels (a local subchannel pool each). Thousands of simulated proxies
 * share one core here, where real Envoys would each have their own: with grpc-js the
 * clients needed as much CPU per change as the CP and their queueing showed up in the
 * latencies. Both send the same requests in the same order.
 *
 * The parent talks to it over IPC (child_process.fork):
 *   -> {cmd:'connect', address, nodes, ratePerSec, transport}  <- {ev:'configured', clients:[...]}
 *   -> {cmd:'mark', marker, present}                 (start watching for a change: the first
 *                                                     CDS where some cluster name contains
 *                                                     `marker` (present) or none does (!present))
 *   -> {cmd:'status'}                                <- {ev:'status', lastResponseAt, ...}
 *   -> {cmd:'change-report'}                         <- {ev:'change-report', clients:[...]}
 *   -> {cmd:'close'}                                 (closes every stream and exits)
 * Times are wall-clock milliseconds (performance.timeOrigin + now) so that several
 * processes on one machine share a clock.
 */
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { decode, encode, grpcPackageDefinition, lookupType, TypeUrl } from '../../proto/index';

/** Wall-clock ms with sub-ms resolution, comparable across processes on one host. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One simulated dataplane as the parent describes it. */
export interface SimNode {
  id: string;
  name: string;
}

/** Per-client outcome of the initial connection. */
export interface ConnectOutcome {
  name: string;
  startedAt: number;
  /** When the ACK completing CDS + EDS + LDS was written; undefined on failure. */
  configuredAt?: number;
  error?: string;
  clusters: number;
  listeners: number;
}

/** Per-client outcome of a watched change. */
export interface ChangeOutcome {
  name: string;
  /** When the client first ACKed a CDS containing the marker. */
  markerAckedAt?: number;
  /** When the client last ACKed anything after the mark. */
  lastAckAt?: number;
  responsesAfterMark: number;
}

const CLA = TypeUrl.ClusterLoadAssignment;

/** What the client reads of a Cluster: its name and, for EDS clusters, the CLA name to subscribe to. */
interface ClusterBrief {
  name: string;
  eds: boolean;
  serviceName: string;
}

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let x = 0;
  let mul = 1;
  for (;;) {
    const c = b[pos++];
    if (c === undefined) throw new Error('truncated varint');
    x += (c & 0x7f) * mul;
    if (c < 0x80) return [x, pos];
    mul *= 128;
  }
}

/** Walks one message's fields, calling `f` for each (wire types 0 and 2 carry value or bytes). */
function fields(b: Uint8Array, f: (field: number, varint: number, bytes: Uint8Array | undefined) => void): void {
  let pos = 0;
  while (pos < b.length) {
    let tag: number;
    [tag, pos] = readVarint(b, pos);
    const wt = tag & 7;
    const field = Math.floor(tag / 8);
    if (wt === 0) {
      let v: number;
      [v, pos] = readVarint(b, pos);
      f(field, v, undefined);
    } else if (wt === 2) {
      let len: number;
      [len, pos] = readVarint(b, pos);
      f(field, 0, b.subarray(pos, pos + len));
      pos += len;
    } else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else throw new Error(`unexpected wire type ${wt}`);
  }
}

/**
 * Reads Cluster.name (1), Cluster.type (2; EDS = 3) and eds_cluster_config (3) ->
 * service_name (2) straight from the wire. A full decode of every cluster of every CDS
 * response was the biggest single cost of the client workers, which share one core for
 * thousands of simulated proxies: the benchmark should measure the CP, not them.
 * The first responses are cross-checked against a full decode (checkBrief).
 */
function clusterBrief(b: Uint8Array): ClusterBrief {
  const out: ClusterBrief = { name: '', eds: false, serviceName: '' };
  const utf8 = (x: Uint8Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('utf8');
  fields(b, (field, v, bytes) => {
    if (field === 1 && bytes) out.name = utf8(bytes);
    else if (field === 2 && !bytes) out.eds = v === 3;
    else if (field === 3 && bytes) fields(bytes, (f2, _v, b2) => {
      if (f2 === 2 && b2) out.serviceName = utf8(b2);
    });
  });
  return out;
}

let checksLeft = 50;

/** Compares clusterBrief with protobufjs on the first responses; a mismatch ends the worker. */
function checkBrief(value: Uint8Array, brief: ClusterBrief): void {
  if (checksLeft <= 0) return;
  checksLeft--;
  const c = decode(TypeUrl.Cluster, value);
  const want = { name: c.name, eds: c.type === 'EDS' || c.type === 3, serviceName: c.eds_cluster_config?.service_name ?? '' };
  if (JSON.stringify(want) !== JSON.stringify(brief)) {
    process.stderr.write(`ads-clients: clusterBrief ${JSON.stringify(brief)} != decode ${JSON.stringify(want)}\n`);
    process.exit(70);
  }
}

let Ctor: any;

/** A DiscoveryResponse as the client reads it: what it ACKs and the resources' bytes. */
interface Response {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: { value: Uint8Array }[];
}

/** One ADS stream: writes DiscoveryRequests, delivers DiscoveryResponses. */
interface AdsTransport {
  write(req: Record<string, unknown>): void;
  close(): void;
}

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';

/** DiscoveryResponse fields 1 (version_info), 2 (resources: Any, value = 2), 4 (type_url), 5 (nonce) from the wire. */
function readResponse(b: Uint8Array): Response {
  const utf8 = (x: Uint8Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('utf8');
  const out: Response = { version_info: '', nonce: '', type_url: '', resources: [] };
  fields(b, (field, _v, bytes) => {
    if (!bytes) return;
    if (field === 1) out.version_info = utf8(bytes);
    else if (field === 4) out.type_url = utf8(bytes);
    else if (field === 5) out.nonce = utf8(bytes);
    else if (field === 2) {
      let value: Uint8Array = new Uint8Array(0);
      fields(bytes, (f2, _v2, b2) => {
        if (f2 === 2 && b2) value = b2;
      });
      out.resources.push({ value });
    }
  });
  return out;
}

let responseChecksLeft = 50;

/** Compares readResponse with protobufjs on the first responses; a mismatch ends the worker. */
function checkResponse(frame: Uint8Array, r: Response): void {
  if (responseChecksLeft <= 0) return;
  responseChecksLeft--;
  const d = lookupType('envoy.service.discovery.v3.DiscoveryResponse').decode(frame) as any;
  const same =
    (d.version_info ?? '') === r.version_info &&
    (d.nonce ?? '') === r.nonce &&
    (d.type_url ?? '') === r.type_url &&
    (d.resources ?? []).length === r.resources.length &&
    (d.resources ?? []).every((a: any, i: number) => Buffer.from(a.value ?? []).equals(Buffer.from(r.resources[i].value)));
  if (!same) {
    process.stderr.write('ads-clients: readResponse disagrees with protobufjs\n');
    process.exit(70);
  }
}

/** gRPC over node:http2: one connection and one stream per simulated proxy. */
function h2Transport(address: string, onResponse: (r: Response) => void, onError: (msg: string) => void): AdsTransport {
  const session = http2.connect(`http://${address}`);
  session.on('error', (e) => onError(`connection error: ${e.message}`));
  const stream = session.request({ ':method': 'POST', ':path': ADS_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  let buf: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 5) {
      if (buf[0] !== 0) return onError('compressed gRPC message');
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      const frame = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      const r = readResponse(frame);
      checkResponse(frame, r);
      onResponse(r);
    }
  });
  stream.on('trailers', (t) => {
    const code = Number(t['grpc-status'] ?? 0);
    if (code !== grpc.status.OK && code !== grpc.status.CANCELLED) onError(`stream ended: ${code} ${t['grpc-message'] ?? ''}`);
  });
  stream.on('error', (e) => onError(`stream error: ${e.message}`));
  return {
    write(req) {
      const body = encode(REQUEST, req);
      const frame = Buffer.allocUnsafe(5 + body.length);
      frame[0] = 0;
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      stream.write(frame);
    },
    close() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
    },
  };
}

/** The same stream through @grpc/grpc-js. */
function grpcTransport(address: string, onResponse: (r: Response) => void, onError: (msg: string) => void): AdsTransport {
  const client: grpc.Client = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const call: grpc.ClientDuplexStream<any, any> = (client as any).StreamAggregatedResources(new grpc.Metadata());
  call.on('data', (res: any) => onResponse({ version_info: res.version_info, nonce: res.nonce, type_url: res.type_url, resources: res.resources ?? [] }));
  call.on('error', (e: grpc.ServiceError) => onError(`stream error: ${e.code} ${e.details}`));
  call.on('status', (st: grpc.StatusObject) => {
    if (st.code !== grpc.status.OK && st.code !== grpc.status.CANCELLED) onError(`stream ended: ${st.code} ${st.details}`);
  });
  return {
    write: (req) => call.write(req),
    close() {
      try {
        call.cancel();
      } catch {
        // already closed
      }
      client.close();
    },
  };
}

class SimClient {
  private readonly call: AdsTransport;
  readonly startedAt = nowMs();
  configuredAt?: number;
  error?: string;
  private acked = new Map<string, { version: string; nonce: string }>();
  private edsNames: string[] = [];
  private edsNamesKey = '';
  private edsAckedKey: string | undefined;
  clusters = 0;
  listeners = 0;
  // change tracking
  marker?: string;
  markerPresent = true;
  markerAckedAt?: number;
  lastAckAt?: number;
  responsesAfterMark = 0;

  constructor(
    address: string,
    private readonly node: SimNode,
    private readonly onConfigured: (c: SimClient) => void,
    private readonly onResponse: () => void,
    transport: 'h2' | 'grpc',
  ) {
    const open = transport === 'grpc' ? grpcTransport : h2Transport;
    this.call = open(address, (res) => this.onData(res), (msg) => this.fail(msg));
    const nodeMsg = {
      id: node.id,
      cluster: node.name,
      user_agent_name: 'envoy',
      user_agent_version: '1.22.0',
      metadata: { fields: { 'dataplane.proxyType': { stringValue: 'dataplane' } } },
    };
    // Envoy's first requests on an ADS stream: CDS then LDS, both wildcard, node on the first.
    this.call.write({ node: nodeMsg, type_url: TypeUrl.Cluster, resource_names: [] });
    this.call.write({ type_url: TypeUrl.Listener, resource_names: [] });
  }

  get name(): string {
    return this.node.name;
  }

  private reported = false;

  private fail(msg: string): void {
    if (!this.error) this.error = msg;
    this.report();
  }

  /** Tells the worker once that this client is done connecting (configured or failed). */
  private report(): void {
    if (this.reported) return;
    this.reported = true;
    this.onConfigured(this);
  }

  private onData(res: Response): void {
    this.onResponse();
    const type: string = res.type_url;
    if (this.marker !== undefined) this.responsesAfterMark++;
    let sawMarker = false;
    if (type === TypeUrl.Cluster) {
      const names: string[] = [];
      const all: string[] = [];
      for (const a of res.resources) {
        const c = clusterBrief(a.value);
        checkBrief(a.value, c);
        all.push(c.name);
        if (c.eds) names.push(c.serviceName || c.name);
      }
      this.clusters = all.length;
      if (this.marker !== undefined && all.some((n) => n.includes(this.marker!)) === this.markerPresent) sawMarker = true;
      names.sort();
      this.ack(type, res, []);
      if (sawMarker && this.markerAckedAt === undefined) this.markerAckedAt = this.lastAckAt;
      const key = names.join('\u0000');
      if (key !== this.edsNamesKey) {
        this.edsNames = names;
        this.edsNamesKey = key;
        const prev = this.acked.get(CLA);
        // Envoy re-subscribes EDS with its last accepted version and nonce.
        this.call.write({ type_url: CLA, resource_names: names, version_info: prev?.version ?? '', response_nonce: prev?.nonce ?? '' });
      }
    } else if (type === CLA) {
      this.ack(type, res, this.edsNames);
      this.edsAckedKey = this.edsNamesKey;
    } else {
      if (type === TypeUrl.Listener) this.listeners = res.resources.length;
      this.ack(type, res, []);
    }
    this.checkConfigured();
  }

  private ack(type: string, res: Response, names: string[]): void {
    this.acked.set(type, { version: res.version_info, nonce: res.nonce });
    this.call.write({ type_url: type, resource_names: names, version_info: res.version_info, response_nonce: res.nonce });
    const at = nowMs();
    if (this.marker !== undefined) this.lastAckAt = at;
  }

  private checkConfigured(): void {
    if (this.configuredAt !== undefined) return;
    if (!this.acked.has(TypeUrl.Cluster) || !this.acked.has(TypeUrl.Listener)) return;
    if (this.edsNames.length > 0 && this.edsAckedKey !== this.edsNamesKey) return;
    this.configuredAt = nowMs();
    this.report();
  }

  close(): void {
    this.call.close();
  }
}

function main(): void {
  Ctor = (grpc.loadPackageDefinition(grpcPackageDefinition()) as any).envoy.service.discovery.v3.AggregatedDiscoveryService;
  const clients: SimClient[] = [];
  let lastResponseAt = 0;
  let configured = 0;
  let expected = 0;
  const send = (m: unknown) => process.send!(m);

  process.on('message', (msg: any) => {
    switch (msg.cmd) {
      case 'connect': {
        const nodes: SimNode[] = msg.nodes;
        expected = nodes.length;
        const perTick = Math.max(1, Math.round((msg.ratePerSec as number) / 100));
        let i = 0;
        const report = () =>
          send({
            ev: 'configured',
            clients: clients.map((c): ConnectOutcome => ({ name: c.name, startedAt: c.startedAt, configuredAt: c.configuredAt, error: c.error, clusters: c.clusters, listeners: c.listeners })),
          });
        const onConfigured = () => {
          configured++;
          if (configured === expected) report();
        };
        // Connections are opened at ratePerSec in 10 ms ticks (a rolling restart, not one thundering herd).
        const tick = setInterval(() => {
          for (let k = 0; k < perTick && i < nodes.length; k++, i++) {
            clients.push(new SimClient(msg.address, nodes[i], onConfigured, () => (lastResponseAt = nowMs()), msg.transport === 'grpc' ? 'grpc' : 'h2'));
          }
          if (i >= nodes.length) clearInterval(tick);
        }, 10);
        break;
      }
      case 'mark':
        for (const c of clients) {
          c.marker = msg.marker;
          c.markerPresent = msg.present !== false;
          c.markerAckedAt = undefined;
          c.lastAckAt = undefined;
          c.responsesAfterMark = 0;
        }
        break;
      case 'status':
        send({ ev: 'status', lastResponseAt, configured, errors: clients.filter((c) => c.error).length, rssBytes: process.memoryUsage().rss });
        break;
      case 'change-report':
        send({
          ev: 'change-report',
          clients: clients.map((c): ChangeOutcome => ({ name: c.name, markerAckedAt: c.markerAckedAt, lastAckAt: c.lastAckAt, responsesAfterMark: c.responsesAfterMark })),
        });
        break;
      case 'close':
        for (const c of clients) c.close();
        setTimeout(() => process.exit(0), 200).unref();
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready' });
}

if (require.main === module) main();
