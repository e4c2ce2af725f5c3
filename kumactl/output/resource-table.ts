/**
 * Table columns per resource type for `kumactl get` and `inspect`, from Kuma's flat
 * JSON. Pure: the clock is a parameter.
 */
import { age, renderTable } from './table';

/** `k=v` pairs of every inbound's tags (or a gateway's), sorted, unique, space-separated. */
export function dataplaneTags(networking: any): string {
  const pairs = new Set<string>();
  const add = (tags: unknown) => {
    if (tags && typeof tags === 'object') for (const [k, v] of Object.entries(tags)) pairs.add(`${k}=${String(v)}`);
  };
  for (const inbound of Array.isArray(networking?.inbound) ? networking.inbound : []) add(inbound?.tags);
  add(networking?.gateway?.tags);
  return [...pairs].sort().join(' ');
}

function meshMtls(r: any): string {
  const mtls = r.mtls;
  if (!mtls?.enabledBackend) return 'off';
  const b = Array.isArray(mtls.backends) ? mtls.backends.find((x: any) => x?.name === mtls.enabledBackend) : undefined;
  return `${b?.type ?? '?'}/${mtls.enabledBackend}`;
}

/** Table of resources of one type. */
export function resourcesTable(type: string, items: readonly Record<string, any>[], now: number): string {
  const a = (r: any) => age(r.creationTime, now);
  switch (type) {
    case 'Mesh':
      return renderTable(['NAME', 'mTLS', 'AGE'], items.map((r) => [r.name, meshMtls(r), a(r)]));
    case 'Dataplane':
      return renderTable(['MESH', 'NAME', 'TAGS', 'AGE'], items.map((r) => [r.mesh, r.name, dataplaneTags(r.networking), a(r)]));
    case 'ZoneIngress':
      return renderTable(
        ['NAME', 'ADDRESS', 'ADVERTISED', 'AGE'],
        items.map((r) => {
          const n = r.networking ?? {};
          const adv = n.advertisedAddress ? `${n.advertisedAddress}:${n.advertisedPort ?? ''}` : '';
          return [r.name, n.address ? `${n.address}:${n.port ?? ''}` : '', adv, a(r)];
        }),
      );
    case 'Zone':
    case 'GlobalSecret':
    case 'Config':
      return renderTable(['NAME', 'AGE'], items.map((r) => [r.name, a(r)]));
    default:
      return renderTable(['MESH', 'NAME', 'AGE'], items.map((r) => [r.mesh ?? '', r.name, a(r)]));
  }
}

/** Table of dataplanes+insights items: MESH NAME TAGS STATUS LAST CONNECTED AGO. */
export function dataplaneInsightsTable(items: readonly Record<string, any>[], now: number): string {
  return renderTable(
    ['MESH', 'NAME', 'TAGS', 'STATUS', 'LAST CONNECTED AGO'],
    items.map((r) => {
      const subs = Array.isArray(r.dataplaneInsight?.subscriptions) ? r.dataplaneInsight.subscriptions : [];
      const last = subs[subs.length - 1];
      return [r.mesh, r.name, dataplaneTags(r.dataplane?.networking), r.online ? 'Online' : 'Offline', age(last?.connectTime, now)];
    }),
  );
}

/**
 * Table of zones+insights items (Kuma's ZoneOverview: `zoneInsight.subscriptions`).
 * Online is the `online` flag when the CP sends it, else "the last subscription has
 * not disconnected", Kuma's rule.
 */
export function zoneInsightsTable(items: readonly Record<string, any>[], now: number): string {
  return renderTable(
    ['NAME', 'STATUS', 'LAST CONNECTED AGO'],
    items.map((r) => {
      const subs = Array.isArray(r.zoneInsight?.subscriptions) ? r.zoneInsight.subscriptions : [];
      const last = subs[subs.length - 1];
      const online = typeof r.online === 'boolean' ? r.online : Boolean(last && last.connectTime && !last.disconnectTime);
      return [r.name, online ? 'Online' : 'Offline', age(last?.connectTime, now)];
    }),
  );
}
