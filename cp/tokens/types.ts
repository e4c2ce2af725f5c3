/** Contract of dataplane / ingress / zone tokens (JWT, RS256, per-mesh signing key). */

/** What a verified token says. */
export interface TokenClaims {
  /** `dataplane`, `ingress` or `zone` (the last for KDS and zone-ingress tokens issued by global). */
  kind: 'dataplane' | 'ingress' | 'zone';
  mesh?: string;
  name?: string;
  zone?: string;
  tags?: Record<string, string[]>;
  expiresAt?: Date;
  /** Token id (jti), for revocation. */
  id: string;
  /** Zone tokens: what they may be used for (`cp`, `ingress`). */
  scope?: string[];
}

/** Verifies tokens presented on /bootstrap, the ADS stream and KDS. */
export interface TokenVerifier {
  /**
   * Verifies signature, expiry and revocation, and that the claims match what the
   * caller expects. Throws AuthError (401 bad/expired, 403 wrong mesh/name) otherwise.
   * For zone tokens, `scope` is the use required (default `cp`, the KDS one).
   */
  verify(token: string, expect: { kind: TokenClaims['kind']; mesh?: string; name?: string; zone?: string; scope?: string }): Promise<TokenClaims>;
}
