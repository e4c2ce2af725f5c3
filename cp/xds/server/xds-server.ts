/**
 * The xDS side of the CP assembled: snapshot cache, reconciler, ADS server, stream
 * authentication and connection status. The DP server hosts `ads` on its ports.
 */
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Component } from '../../../lib/component';
import type { Logger } from '../../../lib/logger';
import type { ResourceStore } from '../../store/store';
import type { CaManager } from '../../ca/types';
import type { TokenVerifier } from '../../tokens/types';
import { revokedIds } from '../../tokens/claims';
import { dataplaneRevocationsName, revocationListKey, ZONE_REVOCATIONS } from '../../tokens/names';
import type { StoreEvent } from '../../store/store';
import type { VipAllocator } from '../../vips/types';
import { SnapshotCache } from '../cache/snapshot-cache';
import type { CpSettings, ResourceSet } from '../generators/types';
import { AdsServer, type StreamEvent } from './ads-server';
import { createProxyAuthenticator } from './proxy-auth';
import { XdsReconciler } from './reconciler';
import { DataplaneStatusTracker } from './status-tracker';

/** Options of the xDS server. */
export interface XdsServerOptions {
  store: ResourceStore;
  log: Logger;
  cp: CpSettings;
  authn: 'dpToken' | 'none';
  tokens?: TokenVerifier;
  ca?: CaManager;
  vips?: VipAllocator;
  debounceMs?: number;
  nackBackoff?: { initialMs: number; maxMs: number };
  /** Closes ADS streams that send nothing for this long. */
  firstRequestTimeoutMs?: number;
  /** Test hook: rewrites a proxy's resources before snapshotting. */
  transform?: (nodeId: string, set: ResourceSet) => ResourceSet;
  /** Extra observer of stream events. */
  onEvent?: (ev: StreamEvent) => void;
}

/** Cache + reconciler + ADS server, as one component. */
export class XdsServer implements Component {
  readonly name = 'xds-server';
  readonly cache = new SnapshotCache();
  readonly reconciler: XdsReconciler;
  readonly status: DataplaneStatusTracker;
  readonly ads: AdsServer;
  private readonly store: ResourceStore;
  private readonly log: Logger;
  private unwatchStore?: () => void;

  constructor(o: XdsServerOptions) {
    const log = o.log.child({ component: 'xds' });
    this.store = o.store;
    this.log = log;
    this.reconciler = new XdsReconciler({ store: o.store, cache: this.cache, cp: o.cp, log, ca: o.ca, vips: o.vips, debounceMs: o.debounceMs, transform: o.transform });
    this.status = new DataplaneStatusTracker(crypto.randomUUID());
    const authenticate = createProxyAuthenticator({ store: o.store, reconciler: this.reconciler, authn: o.authn, tokens: o.tokens, zone: o.cp.zone });
    this.ads = new AdsServer({
      cache: this.cache,
      authenticate,
      log,
      nackBackoff: o.nackBackoff,
      firstRequestTimeoutMs: o.firstRequestTimeoutMs,
      onEvent: (ev) => {
        this.status.onEvent(ev);
        o.onEvent?.(ev);
      },
    });
  }

  start(): Promise<void> {
    this.unwatchStore = this.store.watch((ev) => this.endInvalidStreams(ev));
    return this.reconciler.start();
  }

  close(): Promise<void> {
    this.unwatchStore?.();
    return this.reconciler.close();
  }

  destroy(): void {
    this.unwatchStore?.();
    this.reconciler.destroy();
  }

  /**
   * Streams whose credential or proxy went away end at once instead of keeping their last
   * config until they reconnect: a token listed in the mesh's revocation secret
   * (UNAUTHENTICATED), or a deleted Dataplane (NOT_FOUND). The reconnect is then refused
   * by the same checks as any new stream.
   */
  private endInvalidStreams(ev: StoreEvent): void {
    const r = ev.resource;
    const mesh = r.meta.mesh;
    const isList = (r.meta.type === 'Secret' && mesh && r.meta.name === dataplaneRevocationsName(mesh)) || (r.meta.type === 'GlobalSecret' && r.meta.name === ZONE_REVOCATIONS);
    if (isList && ev.kind !== 'delete') {
      // Dataplane and ingress tokens are listed in their mesh's Secret; zone tokens an
      // ingress connects with (scope ingress) in the GlobalSecret. Each stream knows which.
      const key = revocationListKey({ type: r.meta.type, mesh, name: r.meta.name });
      const revoked = revokedIds(r);
      const n = this.ads.endStreams(
        (s) => s.revocationList === key && s.tokenId !== undefined && revoked.has(s.tokenId),
        grpc.status.UNAUTHENTICATED,
        (s) => `token ${s.tokenId} has been revoked (listed in ${r.meta.name})`,
      );
      if (n > 0) this.log.info({ mesh, list: r.meta.name, streams: n }, 'ended ADS streams of revoked tokens');
    } else if (r.meta.type === 'Dataplane' && ev.kind === 'delete' && mesh) {
      const nodeId = `${mesh}.${r.meta.name}`;
      const n = this.ads.endStreams((s) => s.nodeId === nodeId, grpc.status.NOT_FOUND, () => `Dataplane "${r.meta.name}" was deleted from mesh "${mesh}"`);
      if (n > 0) this.log.info({ mesh, dataplane: r.meta.name, streams: n }, 'ended ADS streams of a deleted Dataplane');
    }
  }
}
