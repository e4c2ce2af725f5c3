/** Contract of the builtin CA per mesh, consumed by the xDS generators (SDS) and KDS. */

/** An identity certificate for one dataplane, with the mesh CA that verifies it. */
export interface IdentityCert {
  /** Leaf certificate, PEM. */
  certPem: string;
  /** Leaf private key, PEM (PKCS#8 or PKCS#1). */
  keyPem: string;
  /** The mesh CA certificate (trust anchor for peers), PEM. */
  caPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** What an identity is issued for: a mesh, and every tag value of the dataplane's inbounds. */
export interface IdentityRequest {
  mesh: string;
  /** Tag key -> all values (e.g. `kuma.io/service` -> [`backend`]); the first service gives the SPIFFE ID. */
  tags: Record<string, string[]>;
  /** Lifetime in ms; the CA applies the mesh's `dpCert.rotation.expiration` when absent. */
  lifetimeMs?: number;
}

/** The per-mesh CA: created with the mesh's builtin backend, stored as secrets. */
export interface CaManager {
  /** Creates (if missing) the CA secrets `<mesh>.ca-builtin-cert-<backend>` and `<mesh>.ca-builtin-key-<backend>`. */
  ensureCa(mesh: string, backend: string): Promise<void>;
  /** The mesh CA certificate PEM of the enabled backend; throws NotFoundError when mTLS is not configured. */
  caCertPem(mesh: string): Promise<string>;
  /** Issues a SPIFFE identity certificate signed by the mesh CA. */
  issue(req: IdentityRequest): Promise<IdentityCert>;
}
