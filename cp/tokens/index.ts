/** Tokens: issuing (RS256 JWT), verifying with public keys only, REST routes, secret names. */
export { StoreTokenVerifier, MAX_TOKEN_LENGTH, type StoreTokenVerifierOptions } from './token-verifier';
export { TokenIssuer, type TokenIssuerOptions, type DataplaneTokenRequest, type ZoneTokenRequest } from './token-issuer';
export { tokenRoutes, DEFAULT_TOKEN_VALIDITY } from './token-routes';
export { checkExpectation, parseRevocations, readClaims, TOKEN_KINDS, ZONE_SCOPES, type TokenExpectation, type TokenPayload } from './claims';
export * from './names';
export { TOKEN_ALG, SIGNING_KEY_BITS } from './signing-keys';
export type { TokenClaims, TokenVerifier } from './types';
