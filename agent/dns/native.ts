/**
 * The native DNS fast path (native/kuma_dns.c, built into dist/native by the build when a
 * C compiler and Node's headers are there): a worker thread that answers the fast-path
 * queries of the VIP table in batches of datagrams (recvmmsg/sendmmsg) and hands every
 * other datagram to the JavaScript server. This module loads it, says why when it cannot,
 * and serializes the fast-path index (fast-path.ts builds the reply bytes; the native side
 * only copies and patches them, so both paths answer with the same bytes).
 */
import path from 'node:path';
import type { FastIndex } from './fast-path';

declare const tableBrand: unique symbol;
declare const serverBrand: unique symbol;
/** A table on the native side (for tests of the native decision). */
export type NativeTable = { readonly [tableBrand]: true };
/** A running native UDP server. */
export type NativeServer = { readonly [serverBrand]: true };

/** The addon's functions (native/kuma_dns.c documents each). */
export interface NativeDnsBinding {
  tableCreate(serialized: Buffer): NativeTable;
  answer(table: NativeTable, packet: Buffer): Buffer | null;
  start(address: string, port: number, onMiss: (packet: Buffer, peer: Buffer) => void): NativeServer;
  port(server: NativeServer): number;
  setTable(server: NativeServer, serialized: Buffer): void;
  reply(server: NativeServer, peer: Buffer, bytes: Buffer): number;
  stats(server: NativeServer): [received: number, answered: number, handed: number, dropped: number, sendErrors: number, truncated: number];
  close(server: NativeServer): void;
}

/** Where the build puts the addon, relative to this file in dist/agent/dns. */
export const NATIVE_DNS_FILE = path.resolve(__dirname, '../../native/kuma_dns.node');

let loaded: { binding?: NativeDnsBinding; reason?: string } | undefined;

/** The addon, or why there is none (loaded once). */
export function loadNativeDns(): { binding?: NativeDnsBinding; reason?: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { reason: `the native DNS fast path is Linux-only (this is ${process.platform})` });
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = { binding: require(NATIVE_DNS_FILE) as NativeDnsBinding };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    loaded = { reason: e.code === 'MODULE_NOT_FOUND' ? `${NATIVE_DNS_FILE} was not built (the build needs a C compiler and Node's headers)` : `${NATIVE_DNS_FILE}: ${e.message}` };
  }
  return loaded;
}

/**
 * The fast-path index in the addon's format: u32 count, then per name u16 length and the
 * wire name, and the four replies (A, A+EDNS, AAAA, AAAA+EDNS) as u16 length and bytes.
 */
export function serializeFastIndex(index: FastIndex): Buffer {
  let count = 0;
  let size = 4;
  for (const list of index.values()) {
    for (const e of list) {
      count++;
      size += 2 + e.wire.length;
      for (const r of e.replies) size += 2 + r.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let pos = out.writeUInt32BE(count, 0);
  for (const list of index.values()) {
    for (const e of list) {
      pos = out.writeUInt16BE(e.wire.length, pos);
      pos += e.wire.copy(out, pos);
      for (const r of e.replies) {
        pos = out.writeUInt16BE(r.length, pos);
        pos += r.copy(out, pos);
      }
    }
  }
  return out;
}
