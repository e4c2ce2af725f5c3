/**
 * Global's view of its zones' KDS connections, kept in memory (it describes live
 * streams, which a restart ends anyway): one subscription per connection of a zone
 * CP (both KDS streams of one connect attempt share it), with connect and disconnect
 * times and per-type counters. Served as Kuma's `/zones+insights` (ZoneOverview).
 */
import { NotFoundError } from '../../lib/errors';
import type { ExtraRoute } from '../api-server/extension';
import type { ResourceStore } from '../store/store';
import type { Resource } from '../../api/resource';
import type { SyncObserver } from '../kds/messages';

/** Counters for one resource type on one subscription. */
export interface TypeStat {
  /** Responses global sent to the zone. */
  responsesSent: number;
  responsesAcknowledged: number;
  responsesRejected: number;
  /** Responses global received from the zone (zone -> global types). */
  responsesReceived: number;
  /** Of those, how many global rejected. */
  responsesReceivedRejected: number;
}

/** One connection of a zone CP. */
export interface ZoneSubscription {
  id: string;
  connectTime: string;
  disconnectTime?: string;
  status: { lastUpdateTime?: string; stat: Record<string, TypeStat> };
}

function emptyStat(): TypeStat {
  return { responsesSent: 0, responsesAcknowledged: 0, responsesRejected: 0, responsesReceived: 0, responsesReceivedRejected: 0 };
}

interface Tracked {
  sub: ZoneSubscription;
  openStreams: number;
}

const KEEP_SUBSCRIPTIONS = 5;

/** In-memory insights of every zone that connected since this global started. */
export class ZoneInsights {
  private readonly zones = new Map<string, Tracked[]>();
  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Records that a stream of `zone`'s connection `session` opened. */
  streamOpened(zone: string, session: string): void {
    const list = this.zones.get(zone) ?? [];
    let t = list.find((x) => x.sub.id === session);
    if (!t) {
      t = { sub: { id: session, connectTime: this.now().toISOString(), status: { stat: {} } }, openStreams: 0 };
      list.push(t);
      while (list.length > KEEP_SUBSCRIPTIONS) list.shift();
      this.zones.set(zone, list);
    }
    t.openStreams++;
    delete t.sub.disconnectTime;
  }

  /** Records that a stream of the connection closed; the last one closing marks it disconnected. */
  streamClosed(zone: string, session: string): void {
    const t = this.zones.get(zone)?.find((x) => x.sub.id === session);
    if (!t) return;
    t.openStreams = Math.max(0, t.openStreams - 1);
    if (t.openStreams === 0) t.sub.disconnectTime = this.now().toISOString();
  }

  /** True while any connection of the zone has an open stream. */
  online(zone: string): boolean {
    return (this.zones.get(zone) ?? []).some((t) => t.openStreams > 0);
  }

  /** The zone's subscriptions, oldest first (copies), each with Kuma's `total` over all types. */
  subscriptions(zone: string): (ZoneSubscription & { status: { total: TypeStat } })[] {
    return structuredClone((this.zones.get(zone) ?? []).map((t) => t.sub)).map((sub) => {
      const total = emptyStat();
      for (const st of Object.values(sub.status.stat)) {
        for (const k of Object.keys(total) as (keyof TypeStat)[]) total[k] += st[k];
      }
      return { ...sub, status: { ...sub.status, total } };
    });
  }

  /** Counters hook for the streams of one connection. */
  observer(zone: string, session: string): SyncObserver {
    const bump = (type: string, f: (s: TypeStat) => void) => {
      const t = this.zones.get(zone)?.find((x) => x.sub.id === session);
      if (!t) return;
      const s = (t.sub.status.stat[type] ??= emptyStat());
      f(s);
      t.sub.status.lastUpdateTime = this.now().toISOString();
    };
    return {
      responseSent: (type) => bump(type, (s) => s.responsesSent++),
      ack: (type) => bump(type, (s) => s.responsesAcknowledged++),
      nack: (type) => bump(type, (s) => s.responsesRejected++),
      responseReceived: (type, ok) =>
        bump(type, (s) => {
          s.responsesReceived++;
          if (!ok) s.responsesReceivedRejected++;
        }),
    };
  }

  /** Kuma's ZoneOverview of a Zone resource, plus `online`. */
  overview(zone: Resource): Record<string, unknown> {
    return {
      type: 'ZoneOverview',
      name: zone.meta.name,
      creationTime: zone.meta.creationTime,
      modificationTime: zone.meta.modificationTime,
      zone: { enabled: zone.spec?.enabled !== false },
      zoneInsight: { subscriptions: this.subscriptions(zone.meta.name) },
      online: this.online(zone.meta.name),
    };
  }

  /** REST routes `GET /zones+insights` and `GET /zones+insights/{name}`. */
  routes(store: ResourceStore): ExtraRoute[] {
    return [
      {
        method: 'GET',
        path: '/zones+insights',
        handler: async () => {
          const items = (await store.list('Zone')).map((z) => this.overview(z));
          return { status: 200, body: { total: items.length, items, next: null } };
        },
      },
      {
        method: 'GET',
        path: '/zones+insights/{name}',
        handler: async (req) => {
          const z = await store.get('Zone', { name: req.params.name });
          if (!z) throw new NotFoundError(`Zone ${req.params.name} not found`);
          return { status: 200, body: this.overview(z) };
        },
      },
    ];
  }
}
