/** Help texts of kuma-dp and its commands. */
import { formatFlagHelp } from './flags';
import { RUN_FLAGS } from './run-options';

/** `kuma-dp --help`. */
export function rootHelp(): string {
  return `kuma-dp: the Kuma data plane agent

Usage:
  kuma-dp run [flags] [-- ENVOY_ARGS]   fetch a bootstrap from the CP and run the proxy
  kuma-dp version                       print the version
  kuma-dp help [command]                show help

Exit codes: 0 stopped cleanly; 1 runtime failure (e.g. the CP rejected the token);
64 usage error; otherwise Envoy's exit status.
`;
}

/** `kuma-dp run --help`. */
export function runHelp(): string {
  return `Launch the data plane proxy (Envoy, or the embedded engine when no Envoy is found).

Usage:
  kuma-dp run --cp-address=https://HOST:5678 --dataplane-file=dp.yaml \\
      --dataplane-token-file=token --ca-cert-file=ca.pem [flags] [-- ENVOY_ARGS]

Flags:
${formatFlagHelp(RUN_FLAGS)}

Arguments after -- are passed to Envoy unchanged.
`;
}
