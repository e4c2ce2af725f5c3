/**
 * A small ADS client for tests: opens a SotW or delta stream with the project's proto
 * definitions and asserts xDS protocol invariants on every response it receives
 * (go-control-plane's fake stream): a nonce never seen before on the stream, every
 * resource's type URL equal to the response's, no name twice, and for SotW named
 * subscriptions only names that were asked for (tests check that all that exist came).
 */
import * as grpc from '@grpc/grpc-js';
import { grpcPackageDefinition, decode } from '../../../proto/index';

/** One response as received. */
export interface Received {
  type_url: string;
  version: string;
  nonce: string;
  names: string[];
  removed: string[];
  resources: Record<string, any>[];
}

let ctor: any;
function clientCtor(): any {
  if (!ctor) ctor = (grpc.loadPackageDefinition(grpcPackageDefinition()) as any).envoy.service.discovery.v3.AggregatedDiscoveryService;
  return ctor;
}

/** An ADS stream under test. */
export class AdsTestClient {
  readonly received: Received[] = [];
  readonly violations: string[] = [];
  private readonly nonces = new Set<string>();
  private waiters: (() => void)[] = [];
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<any, any>;
  status?: grpc.StatusObject;
  error?: grpc.ServiceError;
  readonly done: Promise<void>;

  constructor(
    address: string,
    readonly node: Record<string, any>,
    readonly delta = false,
    metadata = new grpc.Metadata(),
    creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    const C = clientCtor();
    this.client = new C(address, creds);
    this.call = delta ? (this.client as any).DeltaAggregatedResources(metadata) : (this.client as any).StreamAggregatedResources(metadata);
    this.done = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.status = s;
        resolve();
        this.wake();
      });
      this.call.on('error', (e: grpc.ServiceError) => {
        this.error = e;
        this.wake();
      });
    });
    this.call.on('data', (res: any) => this.onResponse(res));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onResponse(res: any): void {
    const nonce = String(res.nonce);
    if (this.nonces.has(nonce)) this.violations.push(`nonce ${nonce} reused`);
    if (!nonce) this.violations.push('empty nonce');
    this.nonces.add(nonce);
    const type = res.type_url;
    const anys = this.delta ? (res.resources ?? []).map((r: any) => r.resource) : res.resources ?? [];
    const resources: Record<string, any>[] = [];
    for (const a of anys) {
      if (a.type_url !== type) this.violations.push(`resource of type ${a.type_url} in a ${type} response`);
      resources.push(decode(a.type_url, a.value));
    }
    const names = resources.map((r) => r.name ?? r.cluster_name);
    // SotW: a response to a named subscription carries only names that were asked for.
    const asked = this.subscribed.get(type);
    if (!this.delta && asked && asked.length && !asked.includes('*')) {
      for (const n of names) if (!asked.includes(n)) this.violations.push(`${type} response carries "${n}", which was not subscribed`);
    }
    if (new Set(names).size !== names.length) this.violations.push(`${type} response names a resource twice`);
    if (this.delta) {
      const dn = (res.resources ?? []).map((r: any) => r.name);
      if (JSON.stringify(dn) !== JSON.stringify(names)) this.violations.push(`delta resource names ${dn} differ from the resources' names ${names}`);
    }
    this.received.push({ type_url: type, version: this.delta ? res.system_version_info : res.version_info, nonce, names, removed: res.removed_resources ?? [], resources });
    this.wake();
  }

  /** Sends a SotW request. */
  request(type: string, names: string[] = [], ack?: Received, errorDetail?: string, first = false): void {
    const req: Record<string, any> = { type_url: type, resource_names: names };
    this.subscribed.set(type, names);
    if (first || this.received.length === 0) req.node = this.node;
    if (ack) {
      req.response_nonce = ack.nonce;
      req.version_info = errorDetail ? this.lastAcked.get(type) ?? '' : ack.version;
      if (errorDetail) req.error_detail = { code: 3, message: errorDetail };
      else this.lastAcked.set(type, ack.version);
    }
    this.call.write(req);
  }
  private readonly lastAcked = new Map<string, string>();
  private readonly subscribed = new Map<string, string[]>();

  /** Sends a delta request. */
  deltaRequest(type: string, sub: string[] = [], unsub: string[] = [], ack?: Received, errorDetail?: string): void {
    const req: Record<string, any> = { type_url: type, resource_names_subscribe: sub, resource_names_unsubscribe: unsub };
    if (this.received.length === 0) req.node = this.node;
    if (ack) req.response_nonce = ack.nonce;
    if (errorDetail) req.error_detail = { code: 3, message: errorDetail };
    this.call.write(req);
  }

  /** Waits for the next response of a type after index `from`; rejects after timeoutMs. */
  async next(type: string, from: number, timeoutMs = 3000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.received.slice(from).find((x) => x.type_url === type);
      if (r) return r;
      if (this.status) throw new Error(`stream ended: ${this.status.code} ${this.status.details}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Count of responses of a type. */
  count(type: string): number {
    return this.received.filter((r) => r.type_url === type).length;
  }

  close(): void {
    try {
      this.call.end();
      this.call.cancel();
    } catch {
      // already closed
    }
    this.client.close();
  }
}
