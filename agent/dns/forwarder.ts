/**
 * Forwarding non-mesh queries to upstream resolvers over UDP. Each query gets a fresh
 * random ID (so that answers cannot be matched by guessing the client's ID) and a slot
 * in a bounded in-flight table; an answer is accepted only from the upstream it was
 * sent to, with the same ID and the same question. No answer in time -> SERVFAIL.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import type { DnsUpstream } from '../cli/run-options';
import type { ParsedQuery } from './wire';
import { servfail } from './wire';

/** Options of the forwarder. */
export interface ForwarderOptions {
  upstreams: DnsUpstream[];
  timeoutMs: number;
  maxInFlight: number;
  onTimeout?: () => void;
}

interface Pending {
  clientId: number;
  question: Buffer;
  upstream: DnsUpstream;
  reply: (bytes: Buffer) => void;
  timer: NodeJS.Timeout;
}

/** Sends queries upstream and hands answers back with the client's ID. */
export class UdpForwarder {
  private readonly pending = new Map<number, Pending>();
  private sock4?: dgram.Socket;
  private sock6?: dgram.Socket;
  private next = 0;

  constructor(private readonly o: ForwarderOptions) {}

  /** Queries waiting for an upstream answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  async start(): Promise<void> {
    const bind = (type: 'udp4' | 'udp6') =>
      new Promise<dgram.Socket>((resolve, reject) => {
        const s = dgram.createSocket(type);
        s.once('error', reject);
        s.on('message', (msg, rinfo) => this.onAnswer(msg, rinfo));
        s.bind(0, () => {
          s.removeListener('error', reject);
          s.on('error', () => undefined); // ICMP errors surface here; the timeout handles them
          resolve(s);
        });
      });
    if (this.o.upstreams.some((u) => net.isIPv4(u.host))) this.sock4 = await bind('udp4');
    if (this.o.upstreams.some((u) => net.isIPv6(u.host))) this.sock6 = await bind('udp6');
  }

  /** Forwards `packet`; `reply` is called exactly once (answer or SERVFAIL). */
  forward(packet: Buffer, q: ParsedQuery, reply: (bytes: Buffer) => void): void {
    if (this.o.upstreams.length === 0 || this.pending.size >= this.o.maxInFlight) {
      reply(servfail(packet, q));
      return;
    }
    let id = -1;
    for (let i = 0; i < 8; i++) {
      const c = randomInt(0, 65536);
      if (!this.pending.has(c)) {
        id = c;
        break;
      }
    }
    if (id < 0) {
      reply(servfail(packet, q));
      return;
    }
    const upstream = this.o.upstreams[this.next++ % this.o.upstreams.length];
    const sock = net.isIPv6(upstream.host) ? this.sock6 : this.sock4;
    if (!sock) {
      reply(servfail(packet, q));
      return;
    }
    const out = Buffer.from(packet);
    out.writeUInt16BE(id, 0);
    const timer = setTimeout(() => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.o.onTimeout?.();
      reply(servfail(packet, q));
    }, this.o.timeoutMs);
    this.pending.set(id, { clientId: q.id, question: packet.subarray(12, q.questionEnd), upstream, reply, timer });
    sock.send(out, upstream.port, upstream.host);
  }

  private onAnswer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p || rinfo.port !== p.upstream.port || !sameAddress(rinfo.address, p.upstream.host)) return;
    const qEnd = 12 + p.question.length;
    if (msg.length < qEnd || msg.compare(p.question, 0, p.question.length, 12, qEnd) !== 0) return;
    clearTimeout(p.timer);
    this.pending.delete(id);
    const out = Buffer.from(msg);
    out.writeUInt16BE(p.clientId, 0);
    p.reply(out);
  }

  /** Fails every pending query and closes the sockets. */
  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
    }
    this.sock4?.close();
    this.sock6?.close();
    this.sock4 = this.sock6 = undefined;
  }
}

function sameAddress(a: string, b: string): boolean {
  return a === b || a === `::ffff:${b}` || b === `::ffff:${a}`;
}
