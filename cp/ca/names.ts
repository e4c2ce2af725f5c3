/**
 * Names of the secrets that hold a mesh's builtin CA. They are Kuma's, so that
 * `kumactl get secrets -m <mesh>` shows what a Kuma user expects and KDS can tell CA
 * material (synced to zones) from other secrets.
 */

/** Secret holding the CA certificate (PEM, base64 in `data`): `<mesh>.ca-builtin-cert-<backend>`. */
export function caCertSecretName(mesh: string, backend: string): string {
  return `${mesh}.ca-builtin-cert-${backend}`;
}

/** Secret holding the CA private key (PEM, base64 in `data`): `<mesh>.ca-builtin-key-<backend>`. */
export function caKeySecretName(mesh: string, backend: string): string {
  return `${mesh}.ca-builtin-key-${backend}`;
}
