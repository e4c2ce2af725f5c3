/**
 * Names of the secrets behind tokens (Kuma's, where Kuma has them). Private signing
 * keys stay where they were made; public keys are separate secrets so that a zone,
 * which receives only public keys over KDS, can verify tokens that global signed.
 */

/** Mesh-scoped Secret with a mesh's dataplane-token private signing key (standalone / global). */
export function dataplaneSigningKeyName(mesh: string, zone?: string): string {
  return zone === undefined ? `dataplane-token-signing-key-${mesh}` : `dataplane-token-signing-key-${mesh}-zone-${zone}`;
}

/**
 * Mesh-scoped Secret with the matching public key. A zone CP that issues tokens itself
 * uses a zone-suffixed name, so that global's key (synced under the plain name) never
 * replaces it and tokens of both origins verify on the zone.
 */
export function dataplanePublicKeyName(mesh: string, zone?: string): string {
  return zone === undefined ? `dataplane-token-signing-public-key-${mesh}` : `dataplane-token-signing-public-key-${mesh}-zone-${zone}`;
}

/** True when `name` may hold a dataplane-token public key of `mesh` (the token's `kid` must satisfy this). */
export function isDataplanePublicKeyName(mesh: string, name: string): boolean {
  const base = dataplanePublicKeyName(mesh);
  return name === base || name.startsWith(`${base}-zone-`);
}

/** Mesh-scoped Secret listing revoked dataplane/ingress token ids (jti), one per line or comma-separated. */
export function dataplaneRevocationsName(mesh: string): string {
  return `dataplane-token-revocations-${mesh}`;
}

/** GlobalSecret with the zone-token private signing key (global only). */
export const ZONE_SIGNING_KEY = 'zone-token-signing-key-1';
/** GlobalSecret with the zone-token public key. */
export const ZONE_PUBLIC_KEY = 'zone-token-signing-public-key-1';
/** GlobalSecret listing revoked zone token ids. */
export const ZONE_REVOCATIONS = 'zone-token-revocations';

/** Where the revocation list of a token lives: a mesh Secret (dataplane and ingress tokens) or a GlobalSecret (zone tokens). */
export interface RevocationList {
  type: 'Secret' | 'GlobalSecret';
  mesh?: string;
  name: string;
}

/** The revocation list that applies to a token of this kind and mesh. */
export function revocationListOf(claims: { kind: string; mesh?: string }): RevocationList {
  return claims.kind === 'zone' ? { type: 'GlobalSecret', name: ZONE_REVOCATIONS } : { type: 'Secret', mesh: claims.mesh, name: dataplaneRevocationsName(claims.mesh ?? '') };
}

/** One string per revocation list, to match a changed secret against open streams. */
export function revocationListKey(l: { type: string; mesh?: string; name: string }): string {
  return `${l.type}/${l.mesh ?? ''}/${l.name}`;
}
