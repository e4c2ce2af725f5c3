/**
 * Translation of the TLS parts of Envoy resources (tls.v3 CommonTlsContext with SDS
 * secrets, Downstream/UpstreamTlsContext) and of StringMatcher.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/transport_sockets/tls/v3/tls.proto
 */
import { ExtensionTypeUrl } from '../../../../proto/index';
import { anyType, Checker, join } from './checker';
import type { StringMatch, TlsClientModel, TlsServerModel } from './model';

/** StringMatcher -> StringMatch; safe_regex is refused (no RE2 here). */
export function translateStringMatch(c: Checker, m: any, path: string): StringMatch | undefined {
  if (!m || typeof m !== 'object') {
    c.add(path, 'string matcher not set');
    return undefined;
  }
  c.only(m, path, ['exact', 'prefix', 'suffix', 'contains', 'ignore_case']);
  const ignoreCase = m.ignore_case === true;
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof m[kind] === 'string') return { kind, value: m[kind], ignoreCase };
  }
  c.add(path, 'string matcher needs one of exact, prefix, suffix, contains');
  return undefined;
}

/** True when `s` satisfies the matcher. */
export function stringMatches(m: StringMatch, s: string): boolean {
  const a = m.ignoreCase ? s.toLowerCase() : s;
  const b = m.ignoreCase ? m.value.toLowerCase() : m.value;
  switch (m.kind) {
    case 'exact':
      return a === b;
    case 'prefix':
      return a.startsWith(b);
    case 'suffix':
      return a.endsWith(b);
    case 'contains':
      return a.includes(b);
  }
}

function sdsName(c: Checker, s: any, path: string): string | undefined {
  c.only(s, path, ['name', 'sds_config']);
  if (!s?.name) {
    c.add(join(path, 'name'), 'SDS secret name not set');
    return undefined;
  }
  const src = s.sds_config;
  if (!src || !src.ads) {
    // Only secrets over the same ADS stream are fetched; a file or another server is not.
    c.add(join(path, 'sds_config'), `secret "${s.name}" must come over ADS (sds_config.ads); other config sources are not supported`);
    return undefined;
  }
  c.only(src, join(path, 'sds_config'), ['ads', 'resource_api_version', 'initial_fetch_timeout']);
  return s.name;
}

interface CommonTls {
  alpn: string[];
  certSecret?: string;
  caSecret?: string;
  sanMatchers: StringMatch[];
}

function translateCommon(c: Checker, ctx: any, path: string): CommonTls {
  const out: CommonTls = { alpn: [], sanMatchers: [] };
  if (!ctx) return out;
  c.only(ctx, path, ['alpn_protocols', 'tls_certificate_sds_secret_configs', 'combined_validation_context', 'validation_context_sds_secret_config']);
  out.alpn = Array.isArray(ctx.alpn_protocols) ? ctx.alpn_protocols.map(String) : [];
  const certs: any[] = ctx.tls_certificate_sds_secret_configs ?? [];
  if (certs.length > 1) c.add(join(path, 'tls_certificate_sds_secret_configs'), `exactly one identity secret is supported, got ${certs.length}`);
  if (certs.length >= 1) out.certSecret = sdsName(c, certs[0], join(path, 'tls_certificate_sds_secret_configs[0]'));
  if (ctx.validation_context_sds_secret_config) {
    out.caSecret = sdsName(c, ctx.validation_context_sds_secret_config, join(path, 'validation_context_sds_secret_config'));
  }
  const comb = ctx.combined_validation_context;
  if (comb) {
    const cp = join(path, 'combined_validation_context');
    c.only(comb, cp, ['default_validation_context', 'validation_context_sds_secret_config']);
    if (comb.validation_context_sds_secret_config) out.caSecret = sdsName(c, comb.validation_context_sds_secret_config, join(cp, 'validation_context_sds_secret_config'));
    else c.add(join(cp, 'validation_context_sds_secret_config'), 'not set: the trusted CA must come over SDS');
    const def = comb.default_validation_context;
    if (def) {
      const dp = join(cp, 'default_validation_context');
      c.only(def, dp, ['match_typed_subject_alt_names']);
      (def.match_typed_subject_alt_names ?? []).forEach((m: any, i: number) => {
        const mp = `${dp}.match_typed_subject_alt_names[${i}]`;
        c.only(m, mp, ['san_type', 'matcher']);
        if (m.san_type !== 'URI') {
          c.add(join(mp, 'san_type'), `only URI SANs (SPIFFE IDs) are checked, got ${JSON.stringify(m.san_type ?? 'SAN_TYPE_UNSPECIFIED')}`);
          return;
        }
        const sm = translateStringMatch(c, m.matcher, join(mp, 'matcher'));
        if (sm) out.sanMatchers.push(sm);
      });
    }
  }
  return out;
}

/** transport_socket of a filter chain -> TlsServerModel. */
export function translateDownstreamTls(c: Checker, ts: any, path: string): TlsServerModel | undefined {
  c.only(ts, path, ['name', 'typed_config']);
  const cfg = ts?.typed_config;
  if (!cfg || cfg['@type'] !== ExtensionTypeUrl.DownstreamTlsContext) {
    c.add(join(path, 'typed_config'), `unsupported transport socket type ${JSON.stringify(anyType(cfg) ?? null)}; supported: ${ExtensionTypeUrl.DownstreamTlsContext}`);
    return undefined;
  }
  const tp = join(path, 'typed_config');
  c.only(cfg, tp, ['common_tls_context', 'require_client_certificate']);
  const common = translateCommon(c, cfg.common_tls_context, join(tp, 'common_tls_context'));
  if (!common.certSecret) {
    c.add(join(tp, 'common_tls_context.tls_certificate_sds_secret_configs'), 'a server identity secret is required');
    return undefined;
  }
  const requireClientCert = cfg.require_client_certificate === true || cfg.require_client_certificate?.value === true;
  if (requireClientCert && !common.caSecret) c.add(join(tp, 'common_tls_context'), 'require_client_certificate needs a validation context secret');
  return { certSecret: common.certSecret, caSecret: common.caSecret, requireClientCert, sanMatchers: common.sanMatchers, alpn: common.alpn };
}

/** transport_socket of a cluster -> TlsClientModel. */
export function translateUpstreamTls(c: Checker, ts: any, path: string): TlsClientModel | undefined {
  c.only(ts, path, ['name', 'typed_config']);
  const cfg = ts?.typed_config;
  if (!cfg || cfg['@type'] !== ExtensionTypeUrl.UpstreamTlsContext) {
    c.add(join(path, 'typed_config'), `unsupported transport socket type ${JSON.stringify(anyType(cfg) ?? null)}; supported: ${ExtensionTypeUrl.UpstreamTlsContext}`);
    return undefined;
  }
  const tp = join(path, 'typed_config');
  c.only(cfg, tp, ['common_tls_context', 'sni']);
  const common = translateCommon(c, cfg.common_tls_context, join(tp, 'common_tls_context'));
  return { sni: cfg.sni || undefined, alpn: common.alpn, certSecret: common.certSecret, caSecret: common.caSecret, sanMatchers: common.sanMatchers };
}
