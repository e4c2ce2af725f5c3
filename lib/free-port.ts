/**
 * Ports picked before they are bound, for listeners whose port must be known up front:
 * the admin port kuma-dp gives Envoy (it is in the bootstrap the CP answers), and in the
 * tests and the demo a Dataplane's inbound ports, which are part of the resource.
 *
 * A port from bind(0) is an ephemeral port, and the kernel hands out the same range as
 * the source port of outgoing connections: between the pick and the real bind, any
 * connect() on the machine may take it, and the listener then fails with EADDRINUSE.
 * So ports are picked at random below the ephemeral range (ip_local_port_range), where
 * only listeners go, and checked by binding them. Within one process a port is not
 * handed out twice.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

/** Linux's default ip_local_port_range starts here. */
const DEFAULT_EPHEMERAL_LOW = 32768;
/** How far below the ephemeral range ports are picked. */
const SPAN = 16384;
const LOWEST = 1024;
const TRIES = 64;

const handedOut = new Set<number>();

/**
 * The range ports are picked from, given the text of /proc/sys/net/ipv4/ip_local_port_range
 * (undefined: not Linux, or not readable): [low, high], both inclusive.
 */
export function pickRange(portRangeText: string | undefined): [number, number] {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(portRangeText ?? '');
  const ephemeralLow = m ? Number(m[1]) : DEFAULT_EPHEMERAL_LOW;
  const high = Math.min(ephemeralLow - 1, 65535);
  // An ephemeral range that starts very low leaves no room below: then pick from above it.
  if (high - LOWEST < 1024) {
    const ephemeralHigh = m ? Number(m[2]) : 60999;
    return [Math.min(ephemeralHigh + 1, 64511), 65535];
  }
  return [Math.max(LOWEST, high - SPAN + 1), high];
}

function readPortRange(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined;
  }
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

async function kernelPick(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A port free for TCP (and UDP too with `udp`) on `host` right now, below the ephemeral
 * range, not handed out before by this process. Falls back to a kernel-picked port when
 * no random pick was free in 64 tries.
 */
export async function freePort(o: { host?: string; udp?: boolean } = {}): Promise<number> {
  const host = o.host ?? '127.0.0.1';
  const [low, high] = pickRange(readPortRange());
  for (let i = 0; i < TRIES; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (!(await tcpFree(port, host))) continue;
    if (o.udp && !(await udpFree(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  for (let i = 0; i < TRIES; i++) {
    const port = await kernelPick(host);
    if (handedOut.has(port) || (o.udp && !(await udpFree(port, host)))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free ${o.udp ? 'TCP+UDP' : 'TCP'} port on ${host} after ${2 * TRIES} tries`);
}
