/**
 * The environment every harness starts kuma-cp with: its work dir (and HOME, so that
 * nothing lands in the user's), the API on 127.0.0.1, and every port 0 so that the OS
 * picks free ones and runs in parallel never collide. Callers read the ports back from
 * the CP's "... listening" log lines and add their own variables (mode, store, zone).
 */

/** kuma-cp variables for a loopback-only CP with OS-picked ports, rooted at `workDir`. */
export function loopbackCpEnv(workDir: string): Record<string, string> {
  return {
    HOME: workDir,
    KUMA_GENERAL_WORK_DIR: workDir,
    KUMA_API_SERVER_HTTP_PORT: '0',
    KUMA_API_SERVER_HTTP_INTERFACE: '127.0.0.1',
    KUMA_DP_SERVER_PORT: '0',
    KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT: '0',
    KUMA_DNS_SERVER_PORT: '0',
    KUMA_DIAGNOSTICS_SERVER_PORT: '0',
  };
}
