/**
 * Dataplane connection state for the REST API (`dataplanes+insights`): online while an
 * ADS stream is open, with Kuma's DataplaneInsight subscription shape.
 */
import crypto from 'node:crypto';
import type { DataplaneStatus, DataplaneStatusProvider } from '../../api-server/extension';
import type { StreamEvent } from './ads-server';

interface Subscription {
  id: string;
  controlPlaneInstanceId: string;
  connectTime: string;
  disconnectTime?: string;
  status: {
    lastUpdateTime?: string;
    total: { responsesSent: number; responsesAcknowledged: number; responsesRejected: number };
  };
}

/** How many past subscriptions are kept per proxy. */
const KEEP = 5;

/** Tracks ADS streams by node id (`<mesh>.<name>`); feed it the server's events. */
export class DataplaneStatusTracker implements DataplaneStatusProvider {
  private readonly byNode = new Map<string, Subscription[]>();
  private readonly byStream = new Map<number, Subscription>();

  constructor(private readonly instanceId: string) {}

  /** Stream event sink for AdsServerOptions.onEvent. */
  readonly onEvent = (ev: StreamEvent): void => {
    const now = new Date().toISOString();
    if (ev.kind === 'connect') {
      const s: Subscription = {
        id: crypto.randomUUID(),
        controlPlaneInstanceId: this.instanceId,
        connectTime: now,
        status: { total: { responsesSent: 0, responsesAcknowledged: 0, responsesRejected: 0 } },
      };
      const list = this.byNode.get(ev.nodeId) ?? [];
      list.push(s);
      while (list.length > KEEP) list.shift();
      this.byNode.set(ev.nodeId, list);
      this.byStream.set(ev.streamId, s);
      return;
    }
    const s = this.byStream.get(ev.streamId);
    if (!s) return;
    s.status.lastUpdateTime = now;
    if (ev.kind === 'disconnect') {
      s.disconnectTime = now;
      this.byStream.delete(ev.streamId);
    } else if (ev.kind === 'send') s.status.total.responsesSent++;
    else if (ev.kind === 'ack') s.status.total.responsesAcknowledged++;
    else if (ev.kind === 'nack') s.status.total.responsesRejected++;
  };

  status(mesh: string, name: string): DataplaneStatus {
    const list = this.byNode.get(`${mesh}.${name}`) ?? [];
    return { online: list.some((s) => !s.disconnectTime), subscriptions: list.map((s) => structuredClone(s) as unknown as Record<string, unknown>) };
  }
}
