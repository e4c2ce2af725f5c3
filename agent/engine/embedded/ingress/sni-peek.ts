/**
 * The tls_inspector listener filter: reads the start of a connection until the
 * ClientHello's server name is known (or it is clear there is none), without
 * terminating TLS, and hands back the bytes read so they can be forwarded unchanged.
 */
import type net from 'node:net';
import { parseClientHelloSni } from './sni-parser';

/** Envoy's default listener_filters_timeout. */
export const PEEK_TIMEOUT_MS = 15_000;

/** What the peek found: the server name (if any) and every byte read so far. */
export interface PeekResult {
  serverName?: string;
  tls: boolean;
  initial: Buffer;
}

/** Reads until the SNI is known; the socket is left paused with no data listener. */
export function peekSni(sock: net.Socket, timeoutMs: number, cb: (r: PeekResult | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const finish = (r: PeekResult | undefined) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.removeListener('data', onData);
    sock.removeListener('end', onEnd);
    sock.pause();
    cb(r);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    const r = parseClientHelloSni(buf);
    if (r.status === 'need-more') return;
    finish({ serverName: r.status === 'ok' ? r.serverName : undefined, tls: r.status === 'ok', initial: buf });
  };
  const onEnd = () => finish(undefined);
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  sock.on('data', onData);
  sock.once('end', onEnd);
}

/** Envoy's server_names match: exact first, then the longest `*.suffix` wildcard. */
export function matchServerName<T extends { serverNames: string[] }>(chains: readonly T[], name: string | undefined): T | undefined {
  if (name !== undefined) {
    const n = name.toLowerCase();
    for (const c of chains) if (c.serverNames.some((s) => s.toLowerCase() === n)) return c;
    let best: T | undefined;
    let bestLen = 0;
    for (const c of chains) {
      for (const s of c.serverNames) {
        if (s.startsWith('*.') && n.endsWith(s.slice(1).toLowerCase()) && s.length > bestLen) {
          best = c;
          bestLen = s.length;
        }
      }
    }
    if (best) return best;
  }
  return chains.find((c) => c.serverNames.length === 0);
}
