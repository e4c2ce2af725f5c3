/**
 * Proxyless gRPC clients (grpc-js-xds, grpc-go): the client resolves `xds:///<service>`
 * by asking LDS for a listener named `<service>`, which must be an API listener whose
 * http_connection_manager takes its routes from RDS (gRFC A27). Clusters and endpoints
 * are those a sidecar would get, in plaintext: such clients hold no mesh identity.
 */
import { ExtensionTypeUrl, TypeUrl } from '../../../proto/index';
import { SERVICE_TAG } from '../../../lib/naming/tags';
import { localEndpoints } from './endpoints';
import { outboundRouteName, statPrefix } from './names';
import { generateDestination } from './outbound';
import { adsConfigSource } from './tls-contexts';
import { buildRouteConfiguration, routerFilter } from './routes';
import { addResource, emptyResourceSet, type ProxyContext, type ResourceSet } from './types';

/** Every service of the mesh: local instances, other zones' ingresses, and the VIP table. */
export function meshServices(ctx: ProxyContext): string[] {
  const mesh = ctx.meshSnapshot!;
  const out = new Set<string>(Object.keys(mesh.vips));
  for (const e of localEndpoints(mesh, ctx.cp.zone, {})) if (e.tags[SERVICE_TAG]) out.add(e.tags[SERVICE_TAG]);
  for (const ing of mesh.remoteIngresses) {
    for (const s of ing.spec.availableServices ?? []) if ((s.mesh ?? 'default') === mesh.name && s.tags?.[SERVICE_TAG]) out.add(s.tags[SERVICE_TAG]);
  }
  return [...out].sort();
}

/** API listeners per service, RDS routes, and plaintext EDS clusters. */
export function generateProxyless(ctx: ProxyContext): ResourceSet {
  const set = emptyResourceSet();
  if (!ctx.meshSnapshot) return set;
  for (const service of meshServices(ctx)) {
    const d = generateDestination(ctx, service, set, false);
    // gRPC routes every service through RDS, whatever its kuma.io/protocol says.
    if (!d.http) {
      addResource(set, TypeUrl.RouteConfiguration, buildRouteConfiguration(outboundRouteName(service), service, d.route));
    }
    addResource(set, TypeUrl.Listener, {
      name: service,
      api_listener: {
        api_listener: {
          '@type': ExtensionTypeUrl.HttpConnectionManager,
          stat_prefix: statPrefix(service),
          rds: { config_source: adsConfigSource(), route_config_name: outboundRouteName(service) },
          http_filters: [routerFilter()],
        },
      },
    });
  }
  return set;
}
