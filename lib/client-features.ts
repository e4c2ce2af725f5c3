/**
 * What the embedded engine (kuma-dp --engine=embedded) tells the CP it understands, in the
 * xDS node's `client_features`. A CP is upgraded before its data planes, so a newer CP
 * meets older engines; a field an engine does not know draws a NACK and freezes that
 * engine's config until it is upgraded. The CP therefore emits a field that came after the
 * first engines only to an engine listing its feature here. Envoy (any other user agent)
 * gets everything, as it always did.
 */

/** The embedded engine's node.user_agent_name. */
export const EMBEDDED_USER_AGENT = 'kuma-dp-embedded';

/** A cluster's HttpProtocolOptions may carry common_http_protocol_options.idle_timeout. */
export const FEATURE_CLUSTER_IDLE_TIMEOUT = 'kuma.embedded.cluster.common_http_protocol_options.idle_timeout';

/** Every feature this build's engine lists. */
export const EMBEDDED_CLIENT_FEATURES: readonly string[] = [FEATURE_CLUSTER_IDLE_TIMEOUT];

/** True when a proxy with this user agent and these client features understands `feature`. */
export function proxySupports(userAgentName: string, clientFeatures: readonly string[], feature: string): boolean {
  return userAgentName !== EMBEDDED_USER_AGENT || clientFeatures.includes(feature);
}
