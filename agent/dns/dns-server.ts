/**
 * kuma-dp's DNS server, UDP and TCP on one port: `.mesh` names from the VIP table,
 * everything else forwarded upstream. Every packet is handled inside a try/catch and
 * every TCP connection has a size cap and an idle timeout, so a hostile client can
 * neither crash the server nor hold up other queries.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import type { Component } from '../../lib/component';
import { KumaError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { AgentMetric, type MetricsRegistry } from '../admin/metrics';
import type { DNS_FAST_PATHS, DnsUpstream } from '../cli/run-options';
import { decide } from './answer';
import { fastAnswer } from './fast-path';
import { UdpForwarder } from './forwarder';
import { loadNativeDns, serializeFastIndex, type NativeDnsBinding, type NativeServer } from './native';
import { VipTable } from './vip-table';
import { rcodeName } from './wire';

/** Frozen label sets per rcode: the metrics registry keys a frozen object once, not per query. */
const RCODE_LABELS: readonly Readonly<{ rcode: string }>[] = Array.from({ length: 16 }, (_, code) => Object.freeze({ rcode: rcodeName(code) }));
const NOERROR_LABELS = RCODE_LABELS[0];

/**
 * The `lookup` of our UDP sockets. dgram resolves the destination of every `send`, even an
 * IP literal, through `dns.lookup`, which answers a literal on the next tick: a closure, a
 * queued tick and a deferred send per reply (a sixth of the CPU per answered query in the
 * bench). A reply always goes to the literal address the query came from, so literals are
 * answered synchronously; anything else (a configured bind address such as `localhost`)
 * still goes through `dns.lookup`.
 */
let lastLiteral = '';
let lastFamily = 4;
function literalFirstLookup(hostname: string, options: number | dns.LookupOneOptions, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  if (hostname === lastLiteral) return callback(null, hostname, lastFamily);
  const family = net.isIP(hostname);
  if (family !== 0) {
    lastLiteral = hostname;
    lastFamily = family;
    return callback(null, hostname, family);
  }
  dns.lookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

/**
 * Who answers the fast-path queries on UDP: `native`, the addon's worker thread
 * (native.ts; start fails without it), `js`, this process's event loop, or `auto`, native
 * when the addon is built and the address is an IP literal, else JavaScript (logged).
 */
export type DnsFastPath = (typeof DNS_FAST_PATHS)[number];

/** Options of the DNS server. */
export interface DnsServerOptions {
  /** Default `auto`. */
  fastPath?: DnsFastPath;
  address: string;
  /** 0 picks a free port (the same for UDP and TCP). */
  port: number;
  upstreams: DnsUpstream[];
  upstreamTimeoutMs?: number;
  maxInFlight?: number;
  maxTcpConnections?: number;
  tcpIdleTimeoutMs?: number;
  metrics: MetricsRegistry;
  log: Logger;
}

/** The DNS server component. */
export class DnsServer implements Component {
  readonly name = 'dns';
  private table = VipTable.empty();
  private udp?: dgram.Socket;
  private native?: { binding: NativeDnsBinding; server: NativeServer; collect: () => void; uncollect: () => void };
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  private readonly forwarder: UdpForwarder;
  private readonly upstreams: DnsUpstream[];

  constructor(private readonly o: DnsServerOptions) {
    // Forwarding to ourselves would bounce every query until the in-flight table fills.
    const self = o.upstreams.filter((u) => o.port !== 0 && u.port === o.port && (u.host === o.address || u.host === '127.0.0.1' || u.host === '::1'));
    if (self.length > 0) o.log.warn({ skipped: self.map((u) => `${u.host}:${u.port}`) }, 'ignoring upstream resolvers that are this DNS server');
    this.upstreams = o.upstreams.filter((u) => !self.includes(u));
    this.forwarder = new UdpForwarder({
      upstreams: this.upstreams,
      timeoutMs: o.upstreamTimeoutMs ?? 2000,
      maxInFlight: o.maxInFlight ?? 1024,
      onTimeout: () => o.metrics.inc(AgentMetric.dnsUpstreamTimeouts),
    });
  }

  /** Replaces the VIP table (answers change from the next query on). */
  setTable(table: VipTable): void {
    this.table = table;
    if (this.native) this.native.binding.setTable(this.native.server, serializeFastIndex(table.fast));
    this.o.metrics.set(AgentMetric.dnsVipsEntries, table.names.size);
  }

  /** The bound port (after start). */
  get port(): number {
    if (this.native) return this.native.binding.port(this.native.server);
    return (this.udp?.address() as net.AddressInfo | undefined)?.port ?? 0;
  }

  /** `native` or `js`: who answers the fast path (after start). */
  get fastPath(): 'native' | 'js' {
    return this.native ? 'native' : 'js';
  }

  async start(): Promise<void> {
    const { binding, why } = this.chooseFastPath();
    await this.forwarder.start();
    // With port 0 the kernel picks a UDP port; TCP must then get the same one, which can
    // be taken: retry a few times with a fresh UDP port.
    for (let attempt = 0; ; attempt++) {
      const udp = await (binding ? this.bindNative(binding, this.o.port) : this.bindUdp(this.o.port)).catch((err) => {
        throw inUse(err, this.o.address, this.o.port);
      });
      try {
        this.tcp = await this.bindTcp(udp.port);
        udp.keep();
        break;
      } catch (err) {
        udp.close();
        if (this.o.port !== 0 || attempt >= 5) throw inUse(err, this.o.address, udp.port);
      }
    }
    this.o.log.info(
      { address: this.o.address, port: this.port, fastPath: this.fastPath, ...(why ? { why } : {}), upstreams: this.upstreams.map((u) => `${u.host}:${u.port}`) },
      'DNS server listening',
    );
  }

  /** The addon when it is to answer; `why` says why JavaScript answers in `auto`. */
  private chooseFastPath(): { binding?: NativeDnsBinding; why?: string } {
    const mode = this.o.fastPath ?? 'auto';
    if (mode === 'js') return {};
    const { binding, reason } = loadNativeDns();
    const problem = !binding ? reason : net.isIP(this.o.address) === 0 ? `the address ${this.o.address} is not an IP literal` : undefined;
    if (problem === undefined) return { binding };
    if (mode === 'native') throw new KumaError('ERR_DNS_NATIVE', `--dns-fast-path=native: ${problem}; use auto or js`);
    return { why: problem };
  }

  /** A bound UDP socket not yet kept: `keep` makes it the server's, `close` drops it. */
  private async bindUdp(port: number): Promise<{ port: number; keep(): void; close(): void }> {
    const udp = await this.bindDgram(port);
    return { port: (udp.address() as net.AddressInfo).port, keep: () => (this.udp = udp), close: () => udp.close() };
  }

  private async bindNative(binding: NativeDnsBinding, port: number): Promise<{ port: number; keep(): void; close(): void }> {
    let server: NativeServer;
    try {
      server = binding.start(this.o.address, port, (msg, peer) => this.onNativeMiss(msg, peer));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw Object.assign(new Error(`DNS UDP bind ${this.o.address}:${port}: ${e.message}`), { code: e.code });
    }
    binding.setTable(server, serializeFastIndex(this.table.fast));
    return {
      port: binding.port(server),
      keep: () => {
        // The worker counts its answers; the registry reads the counts when it is read.
        const seen = { answered: 0, dropped: 0, truncated: 0 };
        const collect = () => {
          const [, answered, , dropped, , truncated] = binding.stats(server);
          if (answered > seen.answered) this.o.metrics.inc(AgentMetric.dnsQueries, NOERROR_LABELS, answered - seen.answered);
          if (dropped > seen.dropped) this.o.metrics.inc(AgentMetric.dnsDropped, {}, dropped - seen.dropped);
          if (truncated > seen.truncated) this.o.metrics.inc(AgentMetric.dnsMalformed, {}, truncated - seen.truncated);
          Object.assign(seen, { answered, dropped, truncated });
        };
        this.native = { binding, server, collect, uncollect: this.o.metrics.collect(collect) };
      },
      close: () => binding.close(server),
    };
  }

  /** A datagram the native worker did not answer: the general path, replying on its socket. */
  private onNativeMiss(msg: Buffer, peer: Buffer): void {
    const native = this.native;
    if (!native) return;
    this.slowPath(msg, (bytes) => {
      native.binding.reply(native.server, peer, bytes);
    });
  }

  private bindDgram(port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: net.isIPv6(this.o.address) ? 'udp6' : 'udp4', lookup: literalFirstLookup as never });
      s.once('error', reject);
      s.bind(port, this.o.address, () => {
        s.removeListener('error', reject);
        s.on('error', (err) => this.o.log.warn({ err: err.message }, 'DNS UDP socket error'));
        s.on('message', (msg, rinfo) => this.onUdp(s, msg, rinfo));
        resolve(s);
      });
    });
  }

  private bindTcp(port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((sock) => this.onTcp(sock));
      server.maxConnections = this.o.maxTcpConnections ?? 256;
      server.once('error', reject);
      server.listen(port, this.o.address, () => {
        server.removeListener('error', reject);
        resolve(server);
      });
    });
  }

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // The common case (A/AAAA for a known name) costs a hash, a copy and a send: no
    // closure, no parsed-query object, no string.
    try {
      const fast = fastAnswer(msg, this.table.fast);
      if (fast !== undefined) {
        this.o.metrics.inc(AgentMetric.dnsQueries, NOERROR_LABELS);
        sock.send(fast, rinfo.port, rinfo.address);
        return;
      }
    } catch (err) {
      // fastAnswer reads within bounds and cannot throw; send can, on a closing socket.
      this.o.log.debug({ err: (err as Error).message }, 'DNS UDP reply not sent');
      return;
    }
    this.slowPath(msg, (bytes) => {
      // Our own answers are small; an upstream answer already honours the client's size.
      sock.send(bytes, rinfo.port, rinfo.address);
    });
  }

  private onTcp(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setTimeout(this.o.tcpIdleTimeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('close', () => this.conns.delete(sock));
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      // RFC 1035 §4.2.2 / RFC 7766: two-byte length prefix; queries may be pipelined.
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len < 12) {
          this.o.metrics.inc(AgentMetric.dnsMalformed);
          sock.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.handle(msg, (bytes) => {
          if (sock.destroyed) return;
          const framed = Buffer.allocUnsafe(2 + bytes.length);
          framed.writeUInt16BE(bytes.length, 0);
          bytes.copy(framed, 2);
          sock.write(framed);
        });
      }
    });
  }

  /** Answers or forwards one message; never throws. */
  private handle(msg: Buffer, send: (bytes: Buffer) => void): void {
    const fast = fastAnswer(msg, this.table.fast);
    if (fast === undefined) return this.slowPath(msg, send);
    this.o.metrics.inc(AgentMetric.dnsQueries, NOERROR_LABELS);
    send(fast);
  }

  /** Everything fastAnswer declines: the general decision (answer.ts); never throws. */
  private slowPath(msg: Buffer, send: (bytes: Buffer) => void): void {
    try {
      const d = decide(msg, this.table);
      if (d.action === 'drop') {
        this.o.metrics.inc(AgentMetric.dnsMalformed);
        return;
      }
      if (d.action === 'reply') {
        this.o.metrics.inc(AgentMetric.dnsQueries, RCODE_LABELS[d.rcode & 0xf]);
        send(d.bytes);
        return;
      }
      this.o.metrics.inc(AgentMetric.dnsForwarded);
      this.forwarder.forward(msg, d.query, (bytes) => {
        this.o.metrics.inc(AgentMetric.dnsQueries, RCODE_LABELS[bytes.length >= 4 ? bytes[3] & 0xf : 2]);
        try {
          send(bytes);
        } catch {
          // the client went away
        }
      });
    } catch (err) {
      this.o.metrics.inc(AgentMetric.dnsMalformed);
      this.o.log.debug({ err: (err as Error).message }, 'DNS packet rejected');
    }
  }

  async close(): Promise<void> {
    this.forwarder.close();
    this.udp?.close();
    this.udp = undefined;
    this.closeNative();
    const tcp = this.tcp;
    this.tcp = undefined;
    for (const c of this.conns) c.end();
    if (tcp) await new Promise<void>((r) => tcp.close(() => r()));
  }

  /** Stops the native worker (joins its thread) and closes its socket; idempotent. */
  private closeNative(): void {
    const native = this.native;
    if (!native) return;
    native.binding.close(native.server);
    native.collect(); // the last counts
    native.uncollect();
  }

  destroy(): void {
    this.forwarder.close();
    try {
      this.udp?.close();
    } catch {
      // already closed
    }
    this.closeNative();
    for (const c of this.conns) c.destroy();
    this.tcp?.close();
  }
}

function inUse(err: unknown, address: string, port: number): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') return err;
  return new KumaError('ERR_PORT_IN_USE', `--dns-proxy-port: ${address}:${port} is in use (UDP or TCP); pick another port`, { cause: err });
}
