/** The KDSSyncService definition and client constructor, from the shared proto bundle. */
import * as grpc from '@grpc/grpc-js';
import { grpcPackageDefinition } from '../../proto';

/** Full name of the KDS service (proto/kuma/kds/v1/kds.proto). */
export const KDS_SERVICE = 'kuma.kds.v1.KDSSyncService';

/** Metadata keys a zone sends on both streams. */
export const KdsMetadata = {
  /** Name of the connecting zone. */
  zone: 'zone',
  /** `Bearer <zone token>` (a bare token is accepted too). */
  authorization: 'authorization',
  /** Random id shared by the two streams of one connect attempt (insights group them). */
  session: 'kds-session',
} as const;

function serviceClient(): grpc.ServiceClientConstructor {
  const pkg = grpc.loadPackageDefinition(grpcPackageDefinition()) as any;
  const ctor = pkg.kuma?.kds?.v1?.KDSSyncService as grpc.ServiceClientConstructor | undefined;
  if (!ctor) throw new Error(`${KDS_SERVICE} is missing from the proto bundle; run "npm run build"`);
  return ctor;
}

/** The service definition for grpc.Server.addService. */
export function kdsServiceDefinition(): grpc.ServiceDefinition {
  return serviceClient().service;
}

/** A KDS client: `GlobalToZoneSync(md)` and `ZoneToGlobalSync(md)` return duplex calls. */
export interface KdsClient extends grpc.Client {
  GlobalToZoneSync(md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<any, any>;
  ZoneToGlobalSync(md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<any, any>;
}

/** Creates a KDS client for `host:port`. */
export function createKdsClient(target: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions): KdsClient {
  const Ctor = serviceClient();
  return new Ctor(target, creds, options) as unknown as KdsClient;
}

/** Message size limit both ends accept: a first sync carries a whole zone's dataplanes in one response. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Keepalive settings both ends use, so that a dead peer is noticed within seconds (gRFC A8). */
export const KEEPALIVE: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 5_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // The server must tolerate pings as frequent as the client sends them.
  'grpc.http2.min_ping_interval_without_data_ms': 4_000,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};
