/** The builtin mesh CA: manager, component, certificate functions and secret names. */
export { BuiltinCaManager, IDENTITY_RSA_BITS, type BuiltinCaManagerOptions } from './builtin-ca-manager';
export { CaComponent, type CaComponentOptions } from './ca-component';
export { renewAt, identityUris, createCaCertificate, createIdentityCertificate, generateRsaKeyPair, generateRsaKeyPairAsync, generateEcKeyPair, generateIdentityKeyPair, DEFAULT_IDENTITY_KEY_TYPE, IDENTITY_KEY_TYPES, signCertificate, parseSigningCa, CLOCK_SKEW_MS, RENEW_FRACTION, type PemKeyPair, type SigningCa, type IdentityKeyType } from './certificates';
export { KeyPool } from './key-pool';
export { meshMtls, DEFAULT_CA_LIFETIME_MS, DEFAULT_DP_CERT_LIFETIME_MS, DEFAULT_RSA_BITS } from './mesh-mtls';
export { caCertSecretName, caKeySecretName } from './names';
export type { CaManager, IdentityCert, IdentityRequest } from './types';
