/**
 * The xDS side of the CP assembled: snapshot cache, reconciler, ADS server, stream
 * authentication and connection status. The DP server hosts `ads` on its ports.
 */
import crypto from 'node:crypto';
import type { Component } from '../../../lib/component';
import type { Logger } from '../../../lib/logger';
import type { ResourceStore } from '../../store/store';
import type { CaManager } from '../../ca/types';
import type { TokenVerifier } from '../../tokens/types';
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

  constructor(o: XdsServerOptions) {
    const log = o.log.child({ component: 'xds' });
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
    return this.reconciler.start();
  }

  close(): Promise<void> {
    return this.reconciler.close();
  }

  destroy(): void {
    this.reconciler.destroy();
  }
}
