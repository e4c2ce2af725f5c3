/**
 * A zone's KDS client: keeps one connection to global with both streams open,
 * receiving global's resources (DeltaReceiver on GlobalToZoneSync) and sending the
 * zone's dataplanes and ingresses (DeltaSender on ZoneToGlobalSync). When global is
 * unreachable the zone keeps serving from its own store; the client retries with
 * capped exponential backoff and, on reconnect, both sides resync from their
 * `initial_resource_versions`, so nothing is lost or duplicated.
 */
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Backoff, sleep } from '../../lib/backoff';
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import type { ResourceStore } from '../store/store';
import { describeError } from './codec';
import { DeltaReceiver } from './delta-receiver';
import { DeltaSender } from './delta-sender';
import { createKdsClient, KdsMetadata, KEEPALIVE, type KdsClient } from './grpc-service';
import { GLOBAL_TO_ZONE_TYPES, ZONE_TO_GLOBAL_TYPES } from './kds-types';
import { watchKdsTypes, zoneSinkFor, zoneSourceFor } from './store-bindings';

/** Options of the zone's KDS client. */
export interface KdsClientOptions {
  store: ResourceStore;
  log: Logger;
  zone: string;
  /** `grpcs://host:port` (TLS) or `grpc://host:port` (plaintext, tests of the protocol only). */
  globalAddress: string;
  /** CA that must have signed global's certificate, PEM; without it the certificate is not verified. */
  rootCaPem?: string;
  /** Reads the zone token for each connect attempt (so a rotated token file is picked up). */
  token: () => string | undefined;
  /** Reconnect backoff; defaults 500 ms doubling to 10 s. */
  backoff?: { initialMs: number; maxMs: number };
  debounceMs?: number;
}

/** The zone side of KDS, as a Component. `start` returns at once: a zone never waits for global. */
export class KdsZoneClient implements Component {
  readonly name = 'kds-zone-client';
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private client?: KdsClient;
  private connectedFlag = false;
  private endCurrent?: () => void;

  constructor(private readonly opts: KdsClientOptions) {}

  /** True while both streams are open and global has answered. */
  get connected(): boolean {
    return this.connectedFlag;
  }

  async start(): Promise<void> {
    const url = new URL(this.opts.globalAddress);
    // URL.host keeps IPv6 brackets ("[::1]:5685"), which is the form gRPC targets take.
    const target = url.host;
    let creds: grpc.ChannelCredentials;
    if (url.protocol === 'grpc:') {
      creds = grpc.credentials.createInsecure();
    } else if (this.opts.rootCaPem) {
      creds = grpc.credentials.createSsl(Buffer.from(this.opts.rootCaPem));
    } else {
      this.opts.log.warn('no KDS root CA configured (KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE): global\'s certificate is not verified');
      creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
    }
    this.client = createKdsClient(target, creds, {
      ...KEEPALIVE,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    });
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.opts.backoff ?? { initialMs: 500, maxMs: 10_000 });
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const outcome = await this.session();
      if (signal.aborted) break;
      if (outcome.synced) backoff.reset();
      const delay = backoff.next();
      this.opts.log.warn(
        { zone: this.opts.zone, reason: outcome.reason, code: outcome.code, retryInMs: delay, attempt: backoff.attempts },
        outcome.code === grpc.status.UNAUTHENTICATED ? 'KDS: global refused this zone (authentication)' : 'KDS connection to global lost; retrying',
      );
      await sleep(delay, signal).catch(() => undefined);
    }
  }

  /** One connection: both streams until either ends. */
  private session(): Promise<{ synced: boolean; reason: string; code?: number }> {
    const { store, zone } = this.opts;
    const session = crypto.randomUUID();
    const log = this.opts.log.child({ zone, session });
    const md = new grpc.Metadata();
    md.set(KdsMetadata.zone, zone);
    md.set(KdsMetadata.session, session);
    let token: string | undefined;
    try {
      token = this.opts.token();
    } catch (err) {
      log.error({ err: describeError(err) }, 'could not read the zone token');
    }
    if (token) md.set(KdsMetadata.authorization, `Bearer ${token}`);
    const g2z = this.client!.GlobalToZoneSync(md);
    const z2g = this.client!.ZoneToGlobalSync(md);
    const write = (call: grpc.ClientDuplexStream<any, any>) => (msg: unknown) => {
      if (!call.writableEnded && !call.destroyed) call.write(msg);
    };
    const receiver = new DeltaReceiver({ types: GLOBAL_TO_ZONE_TYPES, sink: zoneSinkFor(store, zone), send: write(g2z), nodeId: zone, log });
    const sender = new DeltaSender({ types: ZONE_TO_GLOBAL_TYPES, source: zoneSourceFor(store, zone), send: write(z2g), log });
    const unwatch = watchKdsTypes(store, this.opts.debounceMs ?? 50, (types) => sender.changed(types));
    let synced = false;
    return new Promise((resolve) => {
      let done = false;
      const finish = (reason: string, code?: number) => {
        if (done) return;
        done = true;
        this.connectedFlag = false;
        this.endCurrent = undefined;
        unwatch();
        receiver.close();
        sender.close();
        g2z.cancel();
        z2g.cancel();
        resolve({ synced, reason, code });
      };
      this.endCurrent = () => finish('closing');
      g2z.on('data', (resp) => {
        if (!synced) {
          synced = true;
          this.connectedFlag = true;
          log.info('KDS connected to global');
        }
        void receiver.handleResponse(resp);
      });
      z2g.on('data', (req) => sender.handleRequest(req));
      for (const [name, call] of [['GlobalToZoneSync', g2z], ['ZoneToGlobalSync', z2g]] as const) {
        call.on('error', (err: grpc.ServiceError) => finish(`${name}: ${err.details || err.message}`, err.code));
        call.on('status', (st: grpc.StatusObject) => finish(`${name} ended: ${st.details || grpc.status[st.code]}`, st.code));
      }
      void receiver.subscribe().catch((err) => finish(`could not subscribe: ${describeError(err)}`));
    });
  }

  async close(): Promise<void> {
    this.abort.abort(new Error('closing'));
    this.endCurrent?.();
    await this.loop;
    this.client?.close();
  }

  destroy(): void {
    this.abort.abort(new Error('destroyed'));
    this.endCurrent?.();
    this.client?.close();
  }
}
