/**
 * Global's KDS server: a gRPC server (TLS) that zone CPs connect to. Every stream is
 * authenticated by the zone token in its metadata before anything is read. On
 * GlobalToZoneSync global sends meshes, policies, secrets and other zones'
 * ingresses (DeltaSender); on ZoneToGlobalSync it receives the zone's dataplanes
 * and ingresses (DeltaReceiver). Zone resources are created on first connect.
 */
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Component } from '../../lib/component';
import { AuthError, ConflictError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { ResourceStore, StoreEvent } from '../store/store';
import { revokedIds } from '../tokens/claims';
import { ZONE_REVOCATIONS } from '../tokens/names';
import type { ZoneInsights } from '../zones/zone-insights';
import { describeError } from './codec';
import { DeltaReceiver } from './delta-receiver';
import { DeltaSender } from './delta-sender';
import { GLOBAL_TO_ZONE_TYPES, ZONE_TO_GLOBAL_TYPES, type KdsResourceType } from './kds-types';
import { KdsMetadata, kdsServiceDefinition, KEEPALIVE } from './grpc-service';
import { globalSinkFor, globalSourceFor, watchKdsTypes } from './store-bindings';

/** What a verified zone credential says about its own end (absent: it does not end). */
export interface ZoneCredential {
  /** Token id (jti): the stream ends when the zone-token revocation list names it. */
  tokenId?: string;
  /** The stream ends when the token expires. */
  expiresAt?: Date;
}

/** Checks a zone's token; throws AuthError when it is missing, bad, or for another zone. */
export type ZoneAuthenticator = (zone: string, token: string | undefined) => Promise<ZoneCredential | void>;

/** Options of the KDS server. */
export interface KdsServerOptions {
  store: ResourceStore;
  log: Logger;
  insights: ZoneInsights;
  authenticate: ZoneAuthenticator;
  /** Listen address; port 0 picks a free port. */
  host: string;
  port: number;
  /** Server certificate and key, PEM. */
  tls: { certPem: string; keyPem: string };
  /** Debounce of store changes before pushing deltas (ms). */
  debounceMs?: number;
}

// Zone names go into tags, SNI and resource names; refuse anything odd before it spreads.
const ZONE_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

function firstMeta(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** The KDS gRPC server of a global CP. */
export class KdsServer implements Component {
  readonly name = 'kds-server';
  private server?: grpc.Server;
  private boundPort?: number;
  private readonly senders = new Set<DeltaSender>();
  private readonly calls = new Set<grpc.ServerDuplexStream<any, any>>();
  /** The credential each open stream was admitted with. */
  private readonly credentials = new Map<grpc.ServerDuplexStream<any, any>, ZoneCredential & { zone: string }>();
  private unwatch?: () => void;
  private unwatchRevocations?: () => void;

  constructor(private readonly opts: KdsServerOptions) {}

  /** The port the server listens on (after start). */
  get port(): number | undefined {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = new grpc.Server({ ...KEEPALIVE });
    server.addService(kdsServiceDefinition(), {
      GlobalToZoneSync: (call: grpc.ServerDuplexStream<any, any>) => void this.globalToZone(call),
      ZoneToGlobalSync: (call: grpc.ServerDuplexStream<any, any>) => void this.zoneToGlobal(call),
    });
    const creds = grpc.ServerCredentials.createSsl(null, [
      { cert_chain: Buffer.from(this.opts.tls.certPem), private_key: Buffer.from(this.opts.tls.keyPem) },
    ]);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${this.opts.host}:${this.opts.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    this.unwatch = watchKdsTypes(this.opts.store, this.opts.debounceMs ?? 50, (types) => {
      for (const s of this.senders) s.changed(types);
    });
    this.unwatchRevocations = this.opts.store.watch((ev) => this.endRevoked(ev));
    this.opts.log.info({ port: this.boundPort, host: this.opts.host }, 'KDS server listening');
  }

  /** Authenticates a stream; on failure ends it with UNAUTHENTICATED and returns undefined. */
  private async admit(call: grpc.ServerDuplexStream<any, any>, stream: string): Promise<{ zone: string; session: string; log: Logger; credential: ZoneCredential } | undefined> {
    const zone = firstMeta(call.metadata, KdsMetadata.zone);
    const auth = firstMeta(call.metadata, KdsMetadata.authorization);
    const token = auth?.replace(/^Bearer\s+/i, '');
    const session = firstMeta(call.metadata, KdsMetadata.session) ?? crypto.randomUUID();
    const refuse = (code: grpc.status, details: string) => {
      this.opts.log.warn({ zone, stream, peer: call.getPeer(), reason: details }, 'KDS stream refused');
      call.emit('error', { code, details });
    };
    if (!zone || !ZONE_NAME.test(zone)) {
      refuse(grpc.status.INVALID_ARGUMENT, `metadata "${KdsMetadata.zone}" must name the zone (lower-case letters, digits, "-", "."), got ${JSON.stringify(zone ?? null)}`);
      return undefined;
    }
    let credential: ZoneCredential;
    try {
      credential = (await this.opts.authenticate(zone, token || undefined)) ?? {};
    } catch (err) {
      const msg = err instanceof AuthError ? err.message : describeError(err);
      refuse(grpc.status.UNAUTHENTICATED, `zone "${zone}" is not authenticated: ${msg}`);
      return undefined;
    }
    if (call.cancelled) return undefined;
    const log = this.opts.log.child({ zone, stream, session });
    return { zone, session, log, credential };
  }

  /**
   * A zone whose token is revoked or expires loses its open streams at once, not at its
   * next reconnect (which the same checks then refuse): like dataplane tokens on ADS.
   */
  private endRevoked(ev: StoreEvent): void {
    const r = ev.resource;
    if (r.meta.type !== 'GlobalSecret' || r.meta.name !== ZONE_REVOCATIONS || ev.kind === 'delete') return;
    const revoked = revokedIds(r);
    for (const [call, cred] of [...this.credentials]) {
      if (!cred.tokenId || !revoked.has(cred.tokenId)) continue;
      this.opts.log.warn({ zone: cred.zone, token: cred.tokenId }, 'zone token revoked: ending its KDS stream');
      call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: `zone token ${cred.tokenId} has been revoked (listed in ${ZONE_REVOCATIONS})` });
    }
  }

  private track(call: grpc.ServerDuplexStream<any, any>, zone: string, session: string, log: Logger, credential: ZoneCredential, cleanup: () => void): void {
    this.calls.add(call);
    this.credentials.set(call, { ...credential, zone });
    let expiry: NodeJS.Timeout | undefined;
    if (credential.expiresAt) {
      const ms = credential.expiresAt.getTime() - Date.now();
      // setTimeout holds at most 2^31-1 ms (24.8 days); a longer token is re-checked on reconnect.
      if (ms < 2 ** 31 - 1) {
        expiry = setTimeout(() => call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: `zone token expired at ${credential.expiresAt!.toISOString()}` }), Math.max(0, ms));
        expiry.unref();
      }
    }
    this.opts.insights.streamOpened(zone, session);
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      this.calls.delete(call);
      this.credentials.delete(call);
      clearTimeout(expiry);
      cleanup();
      this.opts.insights.streamClosed(zone, session);
      log.info({ why }, 'KDS stream closed');
    };
    call.on('end', () => {
      finish('zone ended the stream');
      call.end();
    });
    call.on('cancelled', () => finish('cancelled'));
    call.on('error', (err) => finish(`error: ${describeError(err)}`));
    call.on('close', () => finish('closed'));
  }

  private async ensureZone(zone: string, log: Logger): Promise<void> {
    if (await this.opts.store.get('Zone', { name: zone })) return;
    try {
      await this.opts.store.create({ type: 'Zone', name: zone, spec: { enabled: true } });
      log.info('Zone resource created on first connect');
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }

  private async globalToZone(call: grpc.ServerDuplexStream<any, any>): Promise<void> {
    const who = await this.admit(call, 'GlobalToZoneSync');
    if (!who) return;
    const { zone, session, log, credential } = who;
    try {
      await this.ensureZone(zone, log);
    } catch (err) {
      log.error({ err: describeError(err) }, 'could not record the Zone resource');
    }
    const sender = new DeltaSender({
      types: GLOBAL_TO_ZONE_TYPES,
      source: globalSourceFor(this.opts.store, zone),
      send: (resp) => {
        if (!call.writableEnded && !call.destroyed) call.write(resp);
      },
      log,
      observer: this.opts.insights.observer(zone, session),
    });
    this.senders.add(sender);
    this.track(call, zone, session, log, credential, () => {
      sender.close();
      this.senders.delete(sender);
    });
    call.on('data', (req) => {
      try {
        sender.handleRequest(req);
      } catch (err) {
        log.warn({ err: describeError(err) }, 'KDS request could not be handled');
      }
    });
    log.info('zone connected (GlobalToZoneSync)');
  }

  private async zoneToGlobal(call: grpc.ServerDuplexStream<any, any>): Promise<void> {
    const who = await this.admit(call, 'ZoneToGlobalSync');
    if (!who) return;
    const { zone, session, log, credential } = who;
    const receiver = new DeltaReceiver({
      types: ZONE_TO_GLOBAL_TYPES,
      sink: globalSinkFor(this.opts.store, zone),
      send: (req) => {
        if (!call.writableEnded && !call.destroyed) call.write(req);
      },
      nodeId: 'global',
      log,
      observer: this.opts.insights.observer(zone, session),
    });
    this.track(call, zone, session, log, credential, () => receiver.close());
    call.on('data', (resp) => void receiver.handleResponse(resp));
    log.info('zone connected (ZoneToGlobalSync)');
    try {
      await receiver.subscribe();
    } catch (err) {
      log.error({ err: describeError(err) }, 'could not subscribe to the zone');
      call.emit('error', { code: grpc.status.INTERNAL, details: `global could not subscribe: ${describeError(err)}` });
    }
  }

  /** Types the zone's GlobalToZoneSync streams subscribed to (for tests and diagnostics). */
  subscribedTypes(): KdsResourceType[][] {
    return [...this.senders].map((s) => s.subscribedTypes());
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatchRevocations?.();
    for (const s of this.senders) s.close();
    for (const c of this.calls) c.end();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  destroy(): void {
    this.unwatch?.();
    this.unwatchRevocations?.();
    for (const s of this.senders) s.close();
    this.server?.forceShutdown();
  }
}
