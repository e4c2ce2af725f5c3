/**
 * Dataplane connection state for the REST API (`dataplanes+insights`): online while an
 * ADS stream is open, with Kuma's DataplaneInsight subscription shape.
 */
import crypto from 'node:crypto';
import type { DataplaneStatus, DataplaneStatusProvider } from '../../api-server/extension';
import type { StreamEvent } from './ads-server';

// Times are kept as epoch milliseconds and formatted only when the API asks: every
// response and ACK of every stream passes through onEvent (tens of thousands during a
// mesh-wide change), and an ISO string per event was a measurable share of the CP's CPU.
interface Subscription {
  id: string;
  controlPlaneInstanceId: string;
  connectTime: number;
  disconnectTime?: number;
  status: {
    lastUpdateTime?: number;
    total: { responsesSent: number; responsesAcknowledged: number; responsesRejected: number };
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A subscription in Kuma's JSON shape (ISO 8601 times), a copy the caller may keep. */
function render(s: Subscription): Record<string, unknown> {
  return {
    id: s.id,
    controlPlaneInstanceId: s.controlPlaneInstanceId,
    connectTime: iso(s.connectTime),
    ...(s.disconnectTime !== undefined ? { disconnectTime: iso(s.disconnectTime) } : {}),
    status: {
      ...(s.status.lastUpdateTime !== undefined ? { lastUpdateTime: iso(s.status.lastUpdateTime) } : {}),
      total: { ...s.status.total },
    },
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
    const now = Date.now();
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
    return { online: list.some((s) => !s.disconnectTime), subscriptions: list.map(render) };
  }
}
