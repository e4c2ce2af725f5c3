/**
 * The zone CP's DNS server: answers `<service>.mesh` from the VIP tables over UDP and
 * TCP (RFC 1035 4.2; TCP messages carry a two-byte length prefix, RFC 7766) on one
 * port. The name table is rebuilt when a mesh's VIPs change; a query costs a decode, a
 * map lookup and an encode. Hostile input is dropped or answered FORMERR, never thrown.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Component } from '../../lib/component';
import { silentLogger, type Logger } from '../../lib/logger';
import type { VipTable } from '../vips/types';
import { answer, DEFAULT_DNS_TTL } from './answer';
import { buildNameTable, type NameTable } from './name-table';

/** Where the server gets VIP tables: every mesh's table, and change notifications (StoreVipAllocator fits). */
export interface VipSource {
  snapshot(): ReadonlyMap<string, VipTable>;
  onChange(listener: (mesh: string) => void): () => void;
}

/** Options of CpDnsServer. */
export interface CpDnsServerOptions {
  vips: VipSource;
  /** KUMA_DNS_SERVER_PORT; 0 picks a free port (the same for UDP and TCP). */
  port: number;
  address?: string;
  ttl?: number;
  log?: Logger;
  /** TCP connections idle longer than this are closed (RFC 7766 6.2.3 suggests seconds). */
  tcpIdleMs?: number;
}

const MAX_TCP_CONNECTIONS = 256;
const BIND_ATTEMPTS = 5;

/** The CP DNS server (UDP + TCP on one port). */
export class CpDnsServer implements Component {
  readonly name = 'dns-server';
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private table: NameTable = new Map();
  private unsubscribe?: () => void;
  private readonly log: Logger;
  private readonly ttl: number;
  /** Counters, for tests and metrics. */
  readonly stats = { queries: 0, dropped: 0 };

  constructor(private readonly opts: CpDnsServerOptions) {
    this.log = opts.log ?? silentLogger();
    this.ttl = opts.ttl ?? DEFAULT_DNS_TTL;
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.udp!.address() as net.AddressInfo).port;
  }

  /** Loads the names, binds UDP and TCP on one port, logs "DNS server listening". */
  async start(): Promise<void> {
    this.rebuild();
    this.unsubscribe = this.opts.vips.onChange(() => this.rebuild());
    const address = this.opts.address ?? '0.0.0.0';
    for (let attempt = 1; ; attempt++) {
      try {
        await this.bind(address, this.opts.port);
        break;
      } catch (err) {
        this.closeSockets();
        // With port 0 the UDP port may be taken for TCP by someone else; pick again.
        if (this.opts.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= BIND_ATTEMPTS) throw err;
      }
    }
    this.log.info({ port: this.port, address, names: this.table.size }, 'DNS server listening');
  }

  private rebuild(): void {
    this.table = buildNameTable(this.opts.vips.snapshot());
  }

  private async bind(address: string, port: number): Promise<void> {
    const udp = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4' });
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      const out = this.handle(msg);
      if (out) udp.send(out, rinfo.port, rinfo.address, (err) => err && this.log.debug({ err: err.message }, 'DNS reply not sent'));
    });
    udp.on('error', (err) => this.log.error({ err: err.message }, 'DNS UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const tcp = net.createServer((s) => this.onTcp(s));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, address, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (err) => this.log.error({ err: err.message }, 'DNS TCP server error'));
  }

  /** One query in, one response (or nothing) out; never throws. */
  private handle(msg: Buffer): Buffer | undefined {
    this.stats.queries++;
    try {
      const out = answer(msg, this.table, { ttl: this.ttl });
      if (!out) this.stats.dropped++;
      return out;
    } catch (err) {
      // answer() is written not to throw; if it ever does, the packet is dropped, not the server.
      this.stats.dropped++;
      this.log.warn({ err: (err as Error).message }, 'DNS query dropped');
      return undefined;
    }
  }

  private onTcp(s: net.Socket): void {
    this.sockets.add(s);
    s.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = this.handle(msg);
        if (!out) {
          s.destroy(); // no way to answer: the stream cannot be trusted to be in sync
          return;
        }
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        s.write(frame);
      }
    });
  }

  private closeSockets(): void {
    try {
      this.udp?.close();
    } catch {
      // already closed
    }
    this.udp = undefined;
    this.tcp?.close();
    this.tcp = undefined;
  }

  /** Stops listening; open TCP connections are ended. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    const tcp = this.tcp;
    const udp = this.udp;
    this.tcp = undefined;
    this.udp = undefined;
    for (const s of this.sockets) s.end();
    await Promise.all([
      new Promise<void>((r) => (udp ? udp.close(() => r()) : r())),
      new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r())),
    ]);
    for (const s of this.sockets) s.destroy();
  }

  /** Closes everything at once. */
  destroy(): void {
    this.unsubscribe?.();
    for (const s of this.sockets) s.destroy();
    this.closeSockets();
  }
}
