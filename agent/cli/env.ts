/**
 * Every environment variable kuma-dp reads, in one place. Names are Kuma's
 * (pkg/config/app/kuma-dp/config.go) where Kuma has one; the few that are ours are
 * marked and follow the same KUMA_ prefix scheme.
 */

/** Environment variable names, keyed by what they configure. */
export const Env = {
  // Kuma: controlPlane.*
  cpAddress: 'KUMA_CONTROL_PLANE_URL',
  caCert: 'KUMA_CONTROL_PLANE_CA_CERT',
  caCertFile: 'KUMA_CONTROL_PLANE_CA_CERT_FILE',
  cpRetryBackoff: 'KUMA_CONTROL_PLANE_RETRY_BACKOFF',
  cpRetryMaxDuration: 'KUMA_CONTROL_PLANE_RETRY_MAX_DURATION',
  // Kuma: dataplane.*
  mesh: 'KUMA_DATAPLANE_MESH',
  name: 'KUMA_DATAPLANE_NAME',
  proxyType: 'KUMA_DATAPLANE_PROXY_TYPE',
  drainTime: 'KUMA_DATAPLANE_DRAIN_TIME',
  adminPort: 'KUMA_DATAPLANE_ADMIN_PORT',
  readinessPort: 'KUMA_READINESS_PORT',
  // Kuma: dataplaneRuntime.*
  binaryPath: 'KUMA_DATAPLANE_RUNTIME_BINARY_PATH',
  configDir: 'KUMA_DATAPLANE_RUNTIME_CONFIG_DIR',
  concurrency: 'KUMA_DATAPLANE_RUNTIME_CONCURRENCY',
  tokenPath: 'KUMA_DATAPLANE_RUNTIME_TOKEN_PATH',
  token: 'KUMA_DATAPLANE_RUNTIME_TOKEN',
  resource: 'KUMA_DATAPLANE_RUNTIME_RESOURCE',
  resourcePath: 'KUMA_DATAPLANE_RUNTIME_RESOURCE_PATH',
  envoyLogLevel: 'KUMA_DATAPLANE_RUNTIME_ENVOY_LOG_LEVEL',
  refreshInterval: 'KUMA_DATAPLANE_RUNTIME_DYNAMIC_CONFIGURATION_REFRESH_INTERVAL',
  // Kuma: dns.*
  dnsEnabled: 'KUMA_DNS_ENABLED',
  dnsPort: 'KUMA_DNS_CORE_DNS_PORT',
  // Ours (no Kuma equivalent).
  engine: 'KUMA_DATAPLANE_RUNTIME_ENGINE',
  restartPolicy: 'KUMA_DATAPLANE_RUNTIME_RESTART_POLICY',
  shutdownTimeout: 'KUMA_DATAPLANE_RUNTIME_SHUTDOWN_TIMEOUT',
  dnsUpstream: 'KUMA_DNS_UPSTREAM',
  dnsFastPath: 'KUMA_DNS_FAST_PATH',
  readinessAddress: 'KUMA_READINESS_ADDRESS',
  logLevel: 'KUMA_LOG_LEVEL',
  // func-e's layout for finding Envoy (func-e CONFIG.md).
  envoyVersion: 'ENVOY_VERSION',
  funcEHome: 'FUNC_E_HOME',
  funcEConfigHome: 'FUNC_E_CONFIG_HOME',
  funcEDataHome: 'FUNC_E_DATA_HOME',
} as const;
