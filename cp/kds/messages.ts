/**
 * The envoy delta xDS messages as @grpc/grpc-js hands them over (proto field names,
 * Any kept as bytes). KDS reuses them unchanged (xDS protocol doc, "Incremental xDS").
 */
import type { WireResource } from './codec';

/** google.rpc.Status as carried in `error_detail`. */
export interface RpcStatus {
  code: number;
  message: string;
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest (the fields KDS uses). */
export interface DeltaRequest {
  node?: { id?: string } | null;
  type_url: string;
  resource_names_subscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RpcStatus | null;
}

/** envoy.service.discovery.v3.DeltaDiscoveryResponse (the fields KDS uses). */
export interface DeltaResponse {
  system_version_info?: string;
  type_url: string;
  resources?: WireResource[];
  removed_resources?: string[];
  nonce: string;
}

/** google.rpc.Code.INVALID_ARGUMENT: what a NACK of a malformed response carries. */
export const INVALID_ARGUMENT = 3;
/** google.rpc.Code.INTERNAL: a NACK because the receiver could not store valid content. */
export const INTERNAL = 13;

/** Counters and times a stream reports, for zone insights and logs. */
export interface SyncObserver {
  /** A response with `count` resources and `removed` removals went out. */
  responseSent?(type: string, count: number, removed: number): void;
  /** The peer ACKed a response of `type`. */
  ack?(type: string): void;
  /** The peer NACKed a response of `type` with `detail`. */
  nack?(type: string, detail: string): void;
  /** A response of `type` arrived and was applied (`ok`) or NACKed. */
  responseReceived?(type: string, ok: boolean): void;
}
