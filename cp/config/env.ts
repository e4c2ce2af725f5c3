/**
 * Every environment variable kuma-cp reads, in one place. Names are Kuma's where Kuma
 * has one (kuma-cp.defaults.yaml, `# ENV:` comments); each maps to one config-file key,
 * given beside it, so that `loadConfig` and the docs cannot drift apart.
 */

/** `standalone`, `global`, `zone` or `remote` (the 0.6 name of `zone`). File key `mode`. */
export const KUMA_MODE = 'KUMA_MODE';
/** Name of this zone (zone mode). File key `multizone.zone.name`. */
export const KUMA_MULTIZONE_ZONE_NAME = 'KUMA_MULTIZONE_ZONE_NAME';
/** KDS address of global, e.g. `grpcs://127.0.0.1:5685` (zone mode). File key `multizone.zone.globalAddress`. */
export const KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS = 'KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS';
/** Path of the zone token the zone CP presents to global. File key `multizone.zone.kds.auth.cpTokenPath`. */
export const KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH = 'KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_PATH';
/** The zone token itself, inline. File key `multizone.zone.kds.auth.cpTokenInline`. */
export const KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE = 'KUMA_MULTIZONE_ZONE_KDS_AUTH_CP_TOKEN_INLINE';
/** CA (PEM file) the zone uses to verify global's KDS certificate. File key `multizone.zone.kds.rootCaFile`. */
export const KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE = 'KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE';
/** KDS gRPC port of global (default 5685). File key `multizone.global.kds.grpcPort`. */
export const KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT = 'KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT';

/** `memory`, `sqlite` (default) or `postgres`. File key `store.type`. */
export const KUMA_STORE_TYPE = 'KUMA_STORE_TYPE';
/** PostgreSQL host (default 127.0.0.1). File key `store.postgres.host`. */
export const KUMA_STORE_POSTGRES_HOST = 'KUMA_STORE_POSTGRES_HOST';
/** PostgreSQL port (default 5432). File key `store.postgres.port`. */
export const KUMA_STORE_POSTGRES_PORT = 'KUMA_STORE_POSTGRES_PORT';
/** PostgreSQL user (default kuma). File key `store.postgres.user`. */
export const KUMA_STORE_POSTGRES_USER = 'KUMA_STORE_POSTGRES_USER';
/** PostgreSQL password (default kuma); never logged. File key `store.postgres.password`. */
export const KUMA_STORE_POSTGRES_PASSWORD = 'KUMA_STORE_POSTGRES_PASSWORD';
/** PostgreSQL database (default kuma). File key `store.postgres.dbName`. */
export const KUMA_STORE_POSTGRES_DB_NAME = 'KUMA_STORE_POSTGRES_DB_NAME';
/** Seconds to wait for a connection (default 5). File key `store.postgres.connectionTimeout`. */
export const KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT = 'KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT';
/** Pool size, 0 = unlimited (default 50). File key `store.postgres.maxOpenConnections`. */
export const KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS = 'KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS';
/** `disable` (default), `verifyNone`, `verifyCa` or `verifyFull`. File key `store.postgres.tls.mode`. */
export const KUMA_STORE_POSTGRES_TLS_MODE = 'KUMA_STORE_POSTGRES_TLS_MODE';
/** Client certificate (PEM) for mTLS to PostgreSQL. File key `store.postgres.tls.certPath`. */
export const KUMA_STORE_POSTGRES_TLS_CERT_PATH = 'KUMA_STORE_POSTGRES_TLS_CERT_PATH';
/** Client key (PEM) for KUMA_STORE_POSTGRES_TLS_CERT_PATH. File key `store.postgres.tls.keyPath`. */
export const KUMA_STORE_POSTGRES_TLS_KEY_PATH = 'KUMA_STORE_POSTGRES_TLS_KEY_PATH';
/** CA (PEM) that signed the server's certificate (verifyCa, verifyFull). File key `store.postgres.tls.caPath`. */
export const KUMA_STORE_POSTGRES_TLS_CA_PATH = 'KUMA_STORE_POSTGRES_TLS_CA_PATH';

/** Directory for the SQLite database, generated certificates and keys (default `$HOME/.kuma`). File key `general.workDir`. */
export const KUMA_GENERAL_WORK_DIR = 'KUMA_GENERAL_WORK_DIR';
/** TLS certificate (PEM) of the DP server and KDS; generated in the work dir when unset. File key `general.tlsCertFile`. */
export const KUMA_GENERAL_TLS_CERT_FILE = 'KUMA_GENERAL_TLS_CERT_FILE';
/** TLS key (PEM) for KUMA_GENERAL_TLS_CERT_FILE. File key `general.tlsKeyFile`. */
export const KUMA_GENERAL_TLS_KEY_FILE = 'KUMA_GENERAL_TLS_KEY_FILE';

/** REST API port (default 5681). File key `apiServer.http.port`. */
export const KUMA_API_SERVER_HTTP_PORT = 'KUMA_API_SERVER_HTTP_PORT';
/** REST API interface (default 0.0.0.0). File key `apiServer.http.interface`. */
export const KUMA_API_SERVER_HTTP_INTERFACE = 'KUMA_API_SERVER_HTTP_INTERFACE';

/** DP server port: bootstrap + ADS over TLS (default 5678). File key `dpServer.port`. */
export const KUMA_DP_SERVER_PORT = 'KUMA_DP_SERVER_PORT';
/** Optional plaintext ADS port for proxyless gRPC; off when unset. File key `dpServer.plaintextPort`. */
export const KUMA_DP_SERVER_PLAINTEXT_PORT = 'KUMA_DP_SERVER_PLAINTEXT_PORT';
/** `dpToken` (default) or `none`. File key `dpServer.authn.dpProxy.type`. */
export const KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE = 'KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE';

/** DNS server UDP port (default 5653). File key `dnsServer.port`. */
export const KUMA_DNS_SERVER_PORT = 'KUMA_DNS_SERVER_PORT';
/** VIP range (default 240.0.0.0/4). File key `dnsServer.CIDR`. */
export const KUMA_DNS_SERVER_CIDR = 'KUMA_DNS_SERVER_CIDR';
/** Port of the VIP outbound listeners (default 80). File key `dnsServer.serviceVipPort`. */
export const KUMA_DNS_SERVER_SERVICE_VIP_PORT = 'KUMA_DNS_SERVER_SERVICE_VIP_PORT';

/** Diagnostics and metrics port: /metrics, /ready, /healthy (default 5680). File key `diagnostics.serverPort`. */
export const KUMA_DIAGNOSTICS_SERVER_PORT = 'KUMA_DIAGNOSTICS_SERVER_PORT';

/** `true` to not create mesh `default` on first start. File key `defaults.skipMeshCreation`. */
export const KUMA_DEFAULTS_SKIP_MESH_CREATION = 'KUMA_DEFAULTS_SKIP_MESH_CREATION';

/** Log level (trace, debug, info, warn, error); `--log-level` wins. Read by lib/logger too. */
export const KUMA_LOG_LEVEL = 'KUMA_LOG_LEVEL';

/** `HOME`, for the default work dir `$HOME/.kuma`. */
export const HOME = 'HOME';
