/**
 * The receiving half of a KDS stream: subscribes to types with DeltaDiscoveryRequests,
 * then validates and applies every DeltaDiscoveryResponse atomically and ACKs it, or
 * NACKs it with an `error_detail` naming every problem and changes nothing.
 * Stream-agnostic, like DeltaSender; runs on a zone (GlobalToZoneSync) and on global
 * (ZoneToGlobalSync).
 */
import type { FieldViolation } from '../../lib/errors';
import { formatViolation, ValidationError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { decodeResource, describeError, type KdsResource } from './codec';
import { KdsTypeUrl, kdsTypeOfUrl, parseWireName, type KdsResourceType } from './kds-types';
import { INTERNAL, INVALID_ARGUMENT, type DeltaRequest, type DeltaResponse, type SyncObserver } from './messages';

/** Where a receiver keeps what it receives. */
export interface ResourceSink {
  /** What this side holds from the peer: wire name -> content version (for initial_resource_versions). */
  held(type: KdsResourceType): Promise<Record<string, string>>;
  /** Problems with a decoded resource beyond schema validation (origin, zone, ...). */
  check(r: KdsResource): FieldViolation[];
  /** Stores upserts and deletes removed wire names, all or nothing. */
  apply(type: KdsResourceType, upserts: KdsResource[], removed: string[]): Promise<void>;
}

/** Subscribes to types and applies what the peer sends. */
export class DeltaReceiver {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly opts: {
      types: readonly KdsResourceType[];
      sink: ResourceSink;
      send: (req: DeltaRequest) => void;
      /** Identifies this side in the requests' `node.id`. */
      nodeId: string;
      log: Logger;
      observer?: SyncObserver;
    },
  ) {}

  /** Sends one subscription per type, each with what this side already holds. */
  async subscribe(): Promise<void> {
    for (const type of this.opts.types) {
      const held = await this.opts.sink.held(type);
      if (this.closed) return;
      this.opts.send({
        node: { id: this.opts.nodeId },
        type_url: KdsTypeUrl[type],
        resource_names_subscribe: ['*'],
        initial_resource_versions: held,
      });
    }
  }

  /** Queues a response; responses are applied one at a time, in arrival order. */
  handleResponse(resp: DeltaResponse): Promise<void> {
    this.chain = this.chain.then(() => this.apply(resp)).catch((err) => {
      this.opts.log.error({ err: describeError(err) }, 'KDS receiver failed');
    });
    return this.chain;
  }

  /** Stops sending ACKs; queued responses are dropped. */
  close(): void {
    this.closed = true;
  }

  private nack(resp: DeltaResponse, code: number, message: string, type?: KdsResourceType): void {
    this.opts.observer?.responseReceived?.(type ?? resp?.type_url ?? '', false);
    this.opts.log.warn({ typeUrl: resp?.type_url, nonce: resp?.nonce, detail: message }, 'KDS response rejected (NACK)');
    if (this.closed) return;
    this.opts.send({
      node: { id: this.opts.nodeId },
      type_url: typeof resp?.type_url === 'string' ? resp.type_url : '',
      response_nonce: typeof resp?.nonce === 'string' ? resp.nonce : '',
      error_detail: { code, message },
    });
  }

  private async apply(resp: DeltaResponse): Promise<void> {
    if (this.closed) return;
    const type = kdsTypeOfUrl(resp?.type_url);
    if (!type || !this.opts.types.includes(type)) {
      const known = this.opts.types.map((t) => KdsTypeUrl[t]).join(', ');
      return this.nack(resp, INVALID_ARGUMENT, `type_url ${JSON.stringify(resp?.type_url)} is not one this stream carries (${known})`);
    }
    const problems: string[] = [];
    const upserts: KdsResource[] = [];
    const seen = new Set<string>();
    (resp.resources ?? []).forEach((wire, i) => {
      try {
        const r = decodeResource(type, wire, `resources[${i}]`);
        const extra = this.opts.sink.check(r);
        if (extra.length > 0) throw new ValidationError(`${type} ${JSON.stringify(wire.name)} refused`, extra.map((v) => ({ ...v, field: `resources[${i}].${v.field}` })));
        if (seen.has(wire.name)) throw new ValidationError(`${type} ${JSON.stringify(wire.name)} refused`, [{ field: `resources[${i}].name`, message: 'appears twice in one response' }]);
        seen.add(wire.name);
        upserts.push(r);
      } catch (err) {
        problems.push(err instanceof ValidationError ? err.violations.map(formatViolation).join('; ') : describeError(err));
      }
    });
    const removed = resp.removed_resources ?? [];
    removed.forEach((n, i) => {
      if (typeof n !== 'string' || !parseWireName(type, n)) problems.push(`removed_resources[${i}]: ${JSON.stringify(n)} is not a valid resource name`);
    });
    if (problems.length > 0) {
      return this.nack(resp, INVALID_ARGUMENT, `${type}: ${problems.join('; ')}`, type);
    }
    try {
      await this.opts.sink.apply(type, upserts, removed);
    } catch (err) {
      return this.nack(resp, INTERNAL, `${type}: could not store the resources: ${describeError(err)}`, type);
    }
    this.opts.observer?.responseReceived?.(type, true);
    this.opts.log.debug({ type, count: upserts.length, removed: removed.length, nonce: resp.nonce }, 'KDS response applied');
    if (this.closed) return;
    this.opts.send({ node: { id: this.opts.nodeId }, type_url: KdsTypeUrl[type], response_nonce: resp.nonce });
  }
}
