/**
 * Listener -> ListenerModel: address, listener filters (tls_inspector only), filter
 * chains matched by server_names, TLS termination, network RBAC, and one terminal
 * filter (tcp_proxy or http_connection_manager with the router).
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/listener/v3/listener.proto
 */
import net from 'node:net';
import { ExtensionTypeUrl } from '../../../../proto/index';
import { anyType, Checker, commonHttpIdleTimeoutMs, durationMs, join } from './checker';
import type { FilterChainModel, HttpModel, ListenerModel, Principal, RbacModel, SocketAddr, TcpProxyModel } from './model';
import { translateClusterChoice, translateRouteConfig } from './route';
import { translateDownstreamTls, translateStringMatch } from './tls';

/** Reads a core.v3.Address (socket_address, TCP). */
export function translateAddress(c: Checker, a: any, path: string): SocketAddr | undefined {
  c.only(a, path, ['socket_address']);
  const sa = a?.socket_address;
  if (!sa) {
    c.add(join(path, 'socket_address'), 'not set (pipes and internal addresses are not supported)');
    return undefined;
  }
  const sp = join(path, 'socket_address');
  c.only(sa, sp, ['address', 'port_value', 'protocol']);
  if (sa.protocol && sa.protocol !== 'TCP') c.add(join(sp, 'protocol'), `only TCP is supported, got ${sa.protocol}`);
  if (!sa.address || net.isIP(sa.address) === 0) {
    c.add(join(sp, 'address'), `must be an IP address, got ${JSON.stringify(sa.address ?? '')}`);
    return undefined;
  }
  const port = Number(sa.port_value ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    c.add(join(sp, 'port_value'), `must be in 0..65535, got ${sa.port_value}`);
    return undefined;
  }
  return { host: sa.address, port };
}

function translatePrincipal(c: Checker, p: any, path: string, depth: number): Principal | undefined {
  if (depth > 16) {
    c.add(path, 'principals nested deeper than 16 levels');
    return undefined;
  }
  c.only(p, path, ['any', 'authenticated', 'and_ids', 'or_ids', 'not_id']);
  if (p?.any === true) return { kind: 'any' };
  if (p?.authenticated) {
    const ap = join(path, 'authenticated');
    c.only(p.authenticated, ap, ['principal_name']);
    if (!p.authenticated.principal_name) return { kind: 'authenticated' };
    const m = translateStringMatch(c, p.authenticated.principal_name, join(ap, 'principal_name'));
    return m ? { kind: 'authenticated', match: m } : undefined;
  }
  for (const [field, kind] of [['and_ids', 'and'], ['or_ids', 'or']] as const) {
    if (p?.[field]) {
      c.only(p[field], join(path, field), ['ids']);
      const ids: Principal[] = [];
      (p[field].ids ?? []).forEach((x: any, i: number) => {
        const y = translatePrincipal(c, x, `${path}.${field}.ids[${i}]`, depth + 1);
        if (y) ids.push(y);
      });
      return { kind, ids };
    }
  }
  if (p?.not_id) {
    const y = translatePrincipal(c, p.not_id, join(path, 'not_id'), depth + 1);
    return y ? { kind: 'not', id: y } : undefined;
  }
  c.add(path, 'principal needs one of any, authenticated, and_ids, or_ids, not_id');
  return undefined;
}

function translateRbac(c: Checker, cfg: any, path: string): RbacModel | undefined {
  c.only(cfg, path, ['stat_prefix', 'rules']);
  const rules = cfg.rules;
  // No rules: the filter allows everything (Envoy: "If absent, no enforcing RBAC policy").
  if (!rules) return undefined;
  const rp = join(path, 'rules');
  c.only(rules, rp, ['action', 'policies']);
  const action = rules.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') {
    c.add(join(rp, 'action'), `only ALLOW and DENY are supported, got ${action}`);
    return undefined;
  }
  const policies: RbacModel['policies'] = [];
  for (const name of Object.keys(rules.policies ?? {}).sort()) {
    const pol = rules.policies[name];
    const pp = `${rp}.policies["${name}"]`;
    c.only(pol, pp, ['permissions', 'principals']);
    (pol.permissions ?? []).forEach((perm: any, i: number) => {
      if (perm?.any !== true) c.add(`${pp}.permissions[${i}]`, 'only `any: true` permissions are supported by the network RBAC filter here');
    });
    const principals: Principal[] = [];
    (pol.principals ?? []).forEach((x: any, i: number) => {
      const y = translatePrincipal(c, x, `${pp}.principals[${i}]`, 0);
      if (y) principals.push(y);
    });
    policies.push({ name, principals });
  }
  return { action, policies };
}

function translateTcpProxy(c: Checker, cfg: any, path: string): TcpProxyModel | undefined {
  c.only(cfg, path, ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout']);
  const target = translateClusterChoice(c, cfg, path);
  if (!target) return undefined;
  return { kind: 'tcp', statPrefix: cfg.stat_prefix ?? '', target, idleTimeoutMs: durationMs(cfg.idle_timeout) };
}

function translateHcm(c: Checker, cfg: any, path: string): HttpModel | undefined {
  c.only(cfg, path, ['stat_prefix', 'codec_type', 'route_config', 'rds', 'http_filters', 'common_http_protocol_options']);
  if (cfg.codec_type && cfg.codec_type !== 'AUTO' && cfg.codec_type !== 'HTTP1') {
    c.add(join(path, 'codec_type'), `only AUTO and HTTP1 are supported (HTTP/1.1 downstream), got ${cfg.codec_type}`);
  }
  const filters: any[] = cfg.http_filters ?? [];
  filters.forEach((f: any, i: number) => {
    const fp = `${path}.http_filters[${i}]`;
    c.only(f, fp, ['name', 'typed_config']);
    const t = anyType(f?.typed_config);
    if (t !== ExtensionTypeUrl.Router) c.add(fp, `unsupported HTTP filter type ${JSON.stringify(t ?? f?.name ?? null)}; supported: ${ExtensionTypeUrl.Router}`);
    else if (i !== filters.length - 1) c.add(fp, 'the router must be the last HTTP filter');
  });
  if (filters.length === 0) c.add(join(path, 'http_filters'), 'needs the router filter');
  const out: HttpModel = { kind: 'http', statPrefix: cfg.stat_prefix ?? '' };
  const idle = commonHttpIdleTimeoutMs(c, cfg.common_http_protocol_options, join(path, 'common_http_protocol_options'));
  if (idle !== undefined) out.idleTimeoutMs = idle;
  if (cfg.rds) {
    const rp = join(path, 'rds');
    c.only(cfg.rds, rp, ['config_source', 'route_config_name']);
    if (!cfg.rds.config_source?.ads) c.add(join(rp, 'config_source'), 'routes must come over ADS (config_source.ads)');
    if (!cfg.rds.route_config_name) c.add(join(rp, 'route_config_name'), 'not set');
    out.rdsName = cfg.rds.route_config_name;
  } else if (cfg.route_config) {
    out.inlineRoutes = translateRouteConfig(c, cfg.route_config, join(path, 'route_config'));
  } else {
    c.add(path, 'needs rds or route_config');
    return undefined;
  }
  return out;
}

const NETWORK_FILTERS: readonly string[] = [ExtensionTypeUrl.NetworkRbac, ExtensionTypeUrl.TcpProxy, ExtensionTypeUrl.HttpConnectionManager];

function translateChain(c: Checker, fc: any, path: string): FilterChainModel | undefined {
  c.only(fc, path, ['name', 'filter_chain_match', 'filters', 'transport_socket']);
  let serverNames: string[] = [];
  if (fc.filter_chain_match) {
    const mp = join(path, 'filter_chain_match');
    c.only(fc.filter_chain_match, mp, ['server_names', 'transport_protocol']);
    serverNames = (fc.filter_chain_match.server_names ?? []).map(String);
    const tp = fc.filter_chain_match.transport_protocol;
    if (tp && tp !== 'tls') c.add(join(mp, 'transport_protocol'), `only "tls" is supported, got ${JSON.stringify(tp)}`);
  }
  const tls = fc.transport_socket ? translateDownstreamTls(c, fc.transport_socket, join(path, 'transport_socket')) : undefined;
  let rbac: RbacModel | undefined;
  let terminal: TcpProxyModel | HttpModel | undefined;
  const filters: any[] = fc.filters ?? [];
  filters.forEach((f: any, i: number) => {
    const fp = `${path}.filters[${i}]`;
    c.only(f, fp, ['name', 'typed_config']);
    const t = anyType(f?.typed_config);
    if (!t || !NETWORK_FILTERS.includes(t)) {
      c.add(fp, `unsupported filter type ${JSON.stringify(t ?? f?.name ?? null)}; supported: ${NETWORK_FILTERS.join(', ')}`);
      return;
    }
    if (terminal) {
      c.add(fp, 'no filter may follow the terminal filter (tcp_proxy or http_connection_manager)');
      return;
    }
    const tp = join(fp, 'typed_config');
    if (t === ExtensionTypeUrl.NetworkRbac) {
      if (rbac) c.add(fp, 'only one RBAC filter per chain is supported');
      rbac = translateRbac(c, f.typed_config, tp);
    } else if (t === ExtensionTypeUrl.TcpProxy) terminal = translateTcpProxy(c, f.typed_config, tp);
    else terminal = translateHcm(c, f.typed_config, tp);
  });
  if (!terminal) {
    if (filters.length === 0 || !c.problems.length) c.add(join(path, 'filters'), 'needs a terminal filter (tcp_proxy or http_connection_manager)');
    return undefined;
  }
  return { serverNames, tls, rbac, terminal };
}

/** Translates one Listener. */
export function translateListener(c: Checker, l: any): ListenerModel | undefined {
  c.only(l, '', ['name', 'address', 'filter_chains', 'listener_filters', 'traffic_direction', 'stat_prefix', 'listener_filters_timeout', 'continue_on_listener_filters_timeout']);
  const address = translateAddress(c, l.address, 'address');
  let tlsInspector = false;
  (l.listener_filters ?? []).forEach((f: any, i: number) => {
    const t = anyType(f?.typed_config);
    if (t === ExtensionTypeUrl.TlsInspector) tlsInspector = true;
    else c.add(`listener_filters[${i}]`, `unsupported listener filter type ${JSON.stringify(t ?? f?.name ?? null)}; supported: ${ExtensionTypeUrl.TlsInspector}`);
  });
  const chains: FilterChainModel[] = [];
  const chainsIn: any[] = l.filter_chains ?? [];
  if (chainsIn.length === 0) c.add('filter_chains', 'at least one filter chain is required');
  chainsIn.forEach((fc, i) => {
    const x = translateChain(c, fc, `filter_chains[${i}]`);
    if (x) chains.push(x);
  });
  const seen = new Set<string>();
  chains.forEach((ch, i) => {
    // The inspector has read the ClientHello off the socket; Node's TLS server cannot be handed those bytes back.
    if (tlsInspector && ch.tls) c.add(`filter_chains[${i}].transport_socket`, 'TLS termination after tls_inspector is not supported by the embedded engine');
    if (ch.serverNames.length > 0 && !tlsInspector) c.add(`filter_chains[${i}].filter_chain_match.server_names`, 'matching on server_names needs the tls_inspector listener filter');
    for (const n of ch.serverNames.length ? ch.serverNames : ['']) {
      if (seen.has(n)) c.add(`filter_chains[${i}].filter_chain_match`, `overlaps an earlier chain on server name ${JSON.stringify(n)}`);
      seen.add(n);
    }
  });
  if (!address) return undefined;
  return { name: l.name, address, direction: l.traffic_direction ?? 'UNSPECIFIED', tlsInspector, chains };
}
