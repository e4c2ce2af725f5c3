/**
 * The proxy engine contract: kuma-dp runs Envoy when it finds one, otherwise its
 * embedded engine. Both consume the same bootstrap and the same xDS from the CP.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../../lib/logger';
import type { Component } from '../../lib/component';

/** What kuma-dp hands to an engine. */
export interface EngineOptions {
  /** The Envoy v3 bootstrap as returned by the CP (JSON form, Envoy field names). */
  bootstrap: Record<string, any>;
  /** Where that bootstrap is written on disk (Envoy's --config-path). */
  bootstrapPath: string;
  /** The agent's work dir (sockets, cached state). */
  workDir: string;
  /** PEM of the CA that signs the CP's certificate (the ADS connection verifies against it). */
  cpCaPem?: string;
  /** The dataplane token, sent as `authorization` on the ADS stream. */
  dataplaneToken?: string;
  /** How long listeners drain on shutdown. */
  drainTimeMs: number;
  logLevel: string;
  concurrency?: number;
  /** Extra arguments after `--` (Envoy only). */
  extraArgs: string[];
  log: Logger;
}

/** A running engine. Emits `exit` (code: number | null, signal: string | null) when it stops on its own. */
export interface ProxyEngine extends Component, EventEmitter {
  readonly kind: 'envoy' | 'embedded';
  /** True once the engine has received and applied its first config. */
  isReady(): boolean;
  /** Starts draining listeners (readiness already reports TERMINATING). */
  drain(): Promise<void>;
  /** Engine stats in Prometheus text format (may be empty). */
  metrics(): Promise<string>;
}
