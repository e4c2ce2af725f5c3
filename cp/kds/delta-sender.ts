/**
 * The sending half of a KDS stream: serves resources of several types to a peer that
 * subscribes with DeltaDiscoveryRequests. Stream-agnostic: the caller hands in
 * `send` and feeds every request it reads; the same class runs on global (for
 * GlobalToZoneSync) and on a zone (for ZoneToGlobalSync).
 *
 * Delta semantics (xDS protocol doc, "Incremental xDS"): the first request of a type
 * lists in `initial_resource_versions` what the peer already has; the first response
 * brings it to the current state, removing what no longer exists. Later responses
 * carry only added or changed resources and removed names. Versions are content
 * hashes (codec.contentVersion), so a peer that reconnects after a restart receives
 * only real differences.
 */
import { Backoff } from '../../lib/backoff';
import type { Logger } from '../../lib/logger';
import { contentVersion, describeError, encodeResource, type KdsResource, type WireResource } from './codec';
import { KdsTypeUrl, kdsTypeOfUrl, wireName, type KdsResourceType } from './kds-types';
import type { DeltaRequest, DeltaResponse, SyncObserver } from './messages';

/** Where a sender gets the current resources of a type (already filtered and labelled for this peer). */
export type ResourceSource = (type: KdsResourceType) => Promise<KdsResource[]>;

interface TypeState {
  subscribed: boolean;
  /** What we believe the peer holds: wire name -> version ('' when unknown). */
  peer: Map<string, string>;
  dirty: boolean;
  sentFirst: boolean;
  nackBackoff: Backoff;
  retry?: NodeJS.Timeout;
}

interface InFlight {
  type: KdsResourceType;
  names: string[];
  removed: string[];
}

/** Serves the types it is given to one peer over one stream. */
export class DeltaSender {
  private readonly state = new Map<KdsResourceType, TypeState>();
  private readonly inFlight = new Map<string, InFlight>();
  private nonce = 0;
  private closed = false;
  private working = false;
  private readonly versions = new Map<string, { revision: string; version: string }>();

  constructor(
    private readonly opts: {
      types: readonly KdsResourceType[];
      source: ResourceSource;
      send: (resp: DeltaResponse) => void;
      log: Logger;
      observer?: SyncObserver;
      /** Delay before resending after a NACK; default 1 s doubling to 30 s. */
      nackBackoff?: { initialMs: number; maxMs: number };
    },
  ) {
    for (const t of opts.types) this.state.set(t, { subscribed: false, peer: new Map(), dirty: false, sentFirst: false, nackBackoff: new Backoff(opts.nackBackoff ?? { initialMs: 1_000, maxMs: 30_000 }) });
  }

  /** Handles one request from the peer: a subscription, an ACK or a NACK. */
  handleRequest(req: DeltaRequest): void {
    if (this.closed) return;
    const type = kdsTypeOfUrl(req.type_url);
    const st = type ? this.state.get(type) : undefined;
    if (!type || !st) {
      this.opts.log.warn({ typeUrl: req.type_url }, 'KDS request for a type this stream does not serve; ignored');
      return;
    }
    if (req.response_nonce) {
      const sent = this.inFlight.get(req.response_nonce);
      this.inFlight.delete(req.response_nonce);
      if (req.error_detail && (req.error_detail.code !== 0 || req.error_detail.message)) {
        const detail = req.error_detail.message ?? '';
        this.opts.observer?.nack?.(type, detail);
        this.opts.log.warn({ type, nonce: req.response_nonce, detail }, 'KDS peer rejected a response (NACK)');
        // The peer applied nothing of that response: forget what we assumed it holds, and
        // retry after a growing delay. The delay is why a NACK never becomes a tight loop
        // of the same rejected content; the retry is why a passing fault (a store busy on
        // the peer) heals without waiting for the next change.
        if (sent) {
          for (const n of sent.names) st.peer.set(n, '');
          for (const n of sent.removed) st.peer.set(n, '');
        }
        this.scheduleRetry(type, st);
      } else {
        st.nackBackoff.reset();
        this.opts.observer?.ack?.(type);
      }
      return;
    }
    // A (re)subscription: the peer's current holdings replace what we assumed.
    st.subscribed = true;
    st.sentFirst = false;
    st.peer = new Map(Object.entries(req.initial_resource_versions ?? {}));
    this.push(type);
  }

  /** Recomputes and sends the differences for the given types (after store changes). */
  changed(types: Iterable<KdsResourceType>): void {
    for (const t of types) if (this.state.get(t)?.subscribed) this.push(t);
  }

  /** Types the peer has subscribed to. */
  subscribedTypes(): KdsResourceType[] {
    return [...this.state.entries()].filter(([, s]) => s.subscribed).map(([t]) => t);
  }

  /** Stops sending; pending computations and retries are dropped. */
  close(): void {
    this.closed = true;
    for (const st of this.state.values()) clearTimeout(st.retry);
  }

  private scheduleRetry(type: KdsResourceType, st: TypeState): void {
    if (st.retry || this.closed) return;
    st.retry = setTimeout(() => {
      st.retry = undefined;
      if (!this.closed) this.push(type);
    }, st.nackBackoff.next());
    st.retry.unref?.();
  }

  /**
   * Marks a type dirty and runs the single worker. Types are computed one at a time in
   * the order of `types`, so a batch of changes reaches the peer in dependency order
   * (CA secrets before the Mesh that uses them).
   */
  private push(type: KdsResourceType): void {
    this.state.get(type)!.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (this.working || this.closed) return;
    this.working = true;
    // Start on the next microtask, so that every type marked in this tick is seen and ordered.
    void Promise.resolve()
      .then(() => this.work())
      .finally(() => {
        this.working = false;
        // A type marked between the worker's last look and now must not wait for the next change.
        if (this.opts.types.some((t) => this.state.get(t)!.dirty)) this.kick();
      });
  }

  private async work(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const type = this.opts.types.find((t) => this.state.get(t)!.dirty);
      if (!type) return;
      const st = this.state.get(type)!;
      st.dirty = false;
      try {
        await this.compute(type, st);
      } catch (err) {
        this.opts.log.error({ type, err: describeError(err) }, 'KDS could not compute resources to send');
      }
    }
  }

  private async compute(type: KdsResourceType, st: TypeState): Promise<void> {
    const current = await this.opts.source(type);
    if (this.closed) return;
    const resources: WireResource[] = [];
    const names: string[] = [];
    const seen = new Set<string>();
    for (const r of current) {
      const name = wireName(r.mesh, r.name);
      seen.add(name);
      if (r.hold) continue;
      let version: string;
      try {
        // Hashing means encoding and decoding the spec; reuse it while the store version is unchanged.
        const cached = r.revision !== undefined ? this.versions.get(`${type}\u0000${name}`) : undefined;
        if (cached && cached.revision === r.revision) version = cached.version;
        else {
          version = contentVersion(type, r.spec, r.labels);
          if (r.revision !== undefined) this.versions.set(`${type}\u0000${name}`, { revision: r.revision, version });
        }
        if (st.peer.get(name) === version) continue;
        resources.push(encodeResource(r, version));
      } catch (err) {
        // Our own store holds something the schema cannot carry: skip it, loudly, rather than stall the type.
        this.opts.log.error({ type, name, err: describeError(err) }, 'KDS cannot encode a resource; not sending it');
        continue;
      }
      st.peer.set(name, version);
      names.push(name);
    }
    const removed = [...st.peer.keys()].filter((n) => !seen.has(n)).sort();
    for (const n of removed) this.versions.delete(`${type}\u0000${n}`);
    for (const n of removed) st.peer.delete(n);
    // The first response after a subscription is always sent, even when empty: it tells
    // the peer it is in sync.
    if (resources.length === 0 && removed.length === 0 && st.sentFirst) return;
    st.sentFirst = true;
    const nonce = String(++this.nonce);
    this.inFlight.set(nonce, { type, names, removed });
    if (this.inFlight.size > 1000) this.inFlight.delete(this.inFlight.keys().next().value as string);
    this.opts.send({ type_url: KdsTypeUrl[type], resources, removed_resources: removed, nonce, system_version_info: nonce });
    this.opts.observer?.responseSent?.(type, resources.length, removed.length);
    this.opts.log.debug({ type, count: resources.length, removed: removed.length, nonce }, 'KDS response sent');
  }
}
