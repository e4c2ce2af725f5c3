/**
 * The ADS client: one StreamAggregatedResources stream (state of the world) to the
 * CP. LDS and CDS are wildcard subscriptions; EDS, RDS and SDS ask for the names the
 * applied config references. Every response is decoded with the real Envoy protos and
 * handed to the engine as a whole; the engine's verdict becomes an ACK (version_info +
 * response_nonce) or a NACK (previous version, the nonce, error_detail). While the CP
 * is away the stream is retried with capped backoff and the last config keeps serving.
 * https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#ack-nack-and-resource-type-instance-version
 */
import { Backoff } from '../../../../lib/backoff';
import type { Logger } from '../../../../lib/logger';
import { ADS_SERVICE, grpcServiceDefinition, TypeUrl, unpackAny } from '../../../../proto/index';
import type { ControlPlaneStats } from '../admin/stats';
import { GrpcChannel, type ChannelOptions, type ClientStream, type GrpcStatusEvent } from './grpc-stream';

/** The engine's verdict on an update: undefined to ACK, a message to NACK. */
export type UpdateHandler = (typeUrl: string, resources: Map<string, any>, version: string) => Promise<string | undefined>;

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;
/** The message cap of error_detail we send (the CP logs it; keep it readable). */
const MAX_ERROR_DETAIL = 16 * 1024;

/** Options of the client. */
export interface AdsClientOptions {
  /** Where the CP is and how to reach it (TLS, server name, keepalive). */
  channel: ChannelOptions;
  token?: string;
  node: Record<string, unknown>;
  log: Logger;
  stats: ControlPlaneStats;
  onUpdate: UpdateHandler;
  backoff?: Backoff;
}

interface Subscription {
  wildcard: boolean;
  names: string[];
  version: string;
  nonce: string;
}

/** Order in which subscriptions are (re)sent on a new stream: clusters before listeners, like Envoy. */
const ORDER = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Secret];

/** A state-of-the-world ADS client. */
export class AdsClient {
  private readonly subs = new Map<string, Subscription>();
  private readonly channel: GrpcChannel;
  private readonly method: { path: string; requestSerialize: (m: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };
  private readonly backoff: Backoff;
  private call?: ClientStream;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private nodeSent = false;

  constructor(private readonly o: AdsClientOptions) {
    // Only the ADS service, not the whole bundle through proto-loader (idle RSS, issue 4).
    this.method = (grpcServiceDefinition(ADS_SERVICE)[ADS_SERVICE] as Record<string, any>).StreamAggregatedResources;
    this.channel = new GrpcChannel({ keepaliveTimeMs: 30_000, ...o.channel });
    this.backoff = o.backoff ?? new Backoff({ initialMs: 250, maxMs: 10_000 });
    this.subs.set(TypeUrl.Cluster, { wildcard: true, names: [], version: '', nonce: '' });
    this.subs.set(TypeUrl.Listener, { wildcard: true, names: [], version: '', nonce: '' });
  }

  /** Opens the stream (and keeps reopening it until close). */
  start(): void {
    this.open();
  }

  /** Sets the names wanted for a named type (EDS/RDS/SDS); sends a request when they change. */
  setNames(typeUrl: string, names: string[]): void {
    const sorted = [...names].sort();
    let sub = this.subs.get(typeUrl);
    if (!sub) {
      if (sorted.length === 0) return;
      this.subs.set(typeUrl, (sub = { wildcard: false, names: [], version: '', nonce: '' }));
    }
    if (sub.names.length === sorted.length && sub.names.every((n, i) => n === sorted[i])) return;
    sub.names = sorted;
    this.send(typeUrl);
  }

  /** The last accepted version per type. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [t, s] of this.subs) out[t] = s.version;
    return out;
  }

  private open(): void {
    if (this.stopped) return;
    const md: Record<string, string> = this.o.token ? { authorization: this.o.token } : {};
    const call = this.channel.openStream(this.method.path, md, this.method.requestSerialize, this.method.responseDeserialize);
    this.call = call;
    this.nodeSent = false;
    for (const s of this.subs.values()) s.nonce = '';
    call.on('data', (resp: any) => {
      this.queue = this.queue.then(() => this.onResponse(call, resp)).catch((err) => this.o.log.error({ err }, 'ADS response handling failed'));
    });
    const onGone = (why: string) => {
      if (this.call !== call) return;
      this.call = undefined;
      this.o.stats.connected_state = 0;
      if (this.stopped) return;
      this.o.stats.stream_restarts++;
      const delay = this.backoff.next();
      this.o.log.warn({ reason: why, retryInMs: delay }, 'ADS stream lost; serving the last config and retrying');
      this.retryTimer = setTimeout(() => this.open(), delay);
    };
    // 'status' always ends a call (OK included): the server's, or the connection's loss.
    call.on('status', (st: GrpcStatusEvent) => onGone(`status ${st.code}: ${st.details}`));
    for (const t of ORDER) if (this.subs.has(t)) this.send(t);
  }

  private send(typeUrl: string, errorDetail?: string): void {
    const call = this.call;
    const sub = this.subs.get(typeUrl);
    if (!call || !sub) return;
    const req: Record<string, unknown> = {
      version_info: sub.version,
      response_nonce: sub.nonce,
      type_url: typeUrl,
      resource_names: sub.wildcard ? [] : sub.names,
    };
    if (!this.nodeSent) {
      req.node = this.o.node;
      this.nodeSent = true;
    }
    if (errorDetail !== undefined) req.error_detail = { code: INVALID_ARGUMENT, message: errorDetail.slice(0, MAX_ERROR_DETAIL) };
    call.write(req);
  }

  private async onResponse(call: ClientStream, resp: any): Promise<void> {
    if (call !== this.call) return;
    this.backoff.reset();
    this.o.stats.connected_state = 1;
    const typeUrl: string = resp.type_url;
    const sub = this.subs.get(typeUrl);
    if (!sub) {
      this.o.log.warn({ typeUrl }, 'ADS response for a type we did not ask for; ignored');
      return;
    }
    const version = String(resp.version_info ?? '');
    const nonce = String(resp.nonce ?? '');
    let problem: string | undefined;
    const resources = new Map<string, any>();
    const problems: string[] = [];
    (resp.resources ?? []).forEach((any: any, i: number) => {
      if (any.type_url !== typeUrl) {
        problems.push(`resources[${i}]: type ${any.type_url} differs from the response type ${typeUrl}`);
        return;
      }
      try {
        const obj = unpackAny({ type_url: any.type_url, value: any.value });
        const name = obj.name ?? obj.cluster_name;
        if (!name) problems.push(`resources[${i}]: resource has no name`);
        else if (resources.has(name)) problems.push(`resources[${i}]: duplicate resource "${name}"`);
        else resources.set(name, obj);
      } catch (err) {
        problems.push(`resources[${i}]: cannot decode ${typeUrl}: ${(err as Error).message}`);
      }
    });
    if (problems.length) problem = problems.join('; ');
    else {
      try {
        problem = await this.o.onUpdate(typeUrl, resources, version);
      } catch (err) {
        problem = `applying the update failed: ${(err as Error).message}`;
      }
    }
    if (call !== this.call) return;
    sub.nonce = nonce;
    if (problem) {
      this.o.stats.update_rejected++;
      this.o.log.warn({ typeUrl, version, nonce, error: problem }, 'NACK: update rejected; last good config stays in force');
      this.send(typeUrl, problem);
    } else {
      sub.version = version;
      this.o.stats.config_updates++;
      this.o.log.debug({ typeUrl, version, nonce, resources: resources.size }, 'ACK');
      this.send(typeUrl);
    }
  }

  /** Stops the stream and reconnects. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.channel.close();
  }
}
