/**
 * Network namespaces for the demo when it runs as root: a `backbone` namespace (global CP
 * and every zone's ingress) and one namespace per zone (its CP and its workloads), each
 * zone joined to the backbone by a veth pair. Zone i is 10.77.i.0/24: 10.77.i.1 on the
 * backbone side, 10.77.i.2 on the zone side. A zone's routing table holds its own /24 and
 * one host route per OTHER zone's backbone address (where that zone's ingress listens),
 * nothing else; the backbone keeps ip_forward at 0. So a zone reaches the backbone's
 * addresses (global's KDS, every ingress) and never another zone's workloads: the only
 * way across is an ingress, as between real clusters.
 *
 * Everything here runs `ip` synchronously (each call takes milliseconds), so teardown also
 * works from a process 'exit' hook. Names carry the pid of the run (`kdm<pid>-bb`,
 * `kdm<pid>-z1`, veths `kdm<pid>b1` / `kdm<pid>z1`: at most 12 of the 15 characters an
 * interface name may have), so parallel runs never collide, and a run killed with SIGKILL
 * leaves names that the next run recognises as stale (their pid is gone) and removes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Where `ip` lives on Debian (root's PATH has /usr/sbin; a user's may not). */
const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
/** Names this module creates: kdm<pid>-bb, kdm<pid>-z<i>, and kdm<pid>-probe for a moment. */
const NS_NAME = /^kdm(\d+)-(bb|z\d+|probe)$/;
/** Every `ip` call is bounded. */
const IP_TIMEOUT_MS = 10_000;

/** The `ip` binary, or undefined when iproute2 is not installed. */
export function ipBinary(): string | undefined {
  return IP_CANDIDATES.find((p) => fs.existsSync(p));
}

function run(ip: string, args: string[]): void {
  try {
    execFileSync(ip, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: IP_TIMEOUT_MS });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** Outcome of the probe: namespace mode is possible, or why not. */
export type NetnsProbe = { ok: true } | { ok: false; reason: string };

/**
 * Whether this process can build the topology: root, iproute2, and a throwaway netns with a
 * veth pair that can really be created and deleted, and a command run inside it (a container
 * may refuse any of these).
 */
export function probeNetns(): NetnsProbe {
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `not running as root (uid ${uid ?? 'unknown'})` };
  const ip = ipBinary();
  if (!ip) return { ok: false, reason: `no ip binary (iproute2) in ${IP_CANDIDATES.join(', ')}` };
  const ns = `kdm${process.pid}-probe`;
  const a = `kdm${process.pid}p0`;
  const b = `kdm${process.pid}p1`;
  let made = false;
  try {
    run(ip, ['netns', 'add', ns]);
    made = true;
    run(ip, ['link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', b, 'netns', ns]);
    run(ip, ['-n', ns, 'link', 'del', a]);
    // `ip netns exec` also remounts /sys, which some containers refuse; every process starts that way.
    run(ip, ['netns', 'exec', ns, 'true']);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the netns probe failed: ${(err as Error).message}` };
  } finally {
    if (made) {
      try {
        run(ip, ['netns', 'del', ns]);
      } catch {
        /* reported by the next probe if it persists */
      }
    }
  }
}

/** Namespaces left behind by runs that died without teardown (their pid no longer runs). */
export function staleNamespaces(ip = ipBinary()): string[] {
  if (!ip) return [];
  let out: string;
  try {
    out = execFileSync(ip, ['netns', 'list'], { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => {
      const m = NS_NAME.exec(n ?? '');
      return !!m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
    });
}

/**
 * Removes the namespaces of dead runs: first SIGKILLs the processes still inside them (the
 * orphans of a demo that was itself SIGKILLed: by their pids, as `ip netns pids` lists
 * them), then deletes the namespace. Returns one line per namespace removed.
 */
export function removeStaleNamespaces(ip = ipBinary()): string[] {
  if (!ip) return [];
  const done: string[] = [];
  for (const ns of staleNamespaces(ip)) {
    let pids: number[] = [];
    try {
      pids = execFileSync(ip, ['netns', 'pids', ns], { encoding: 'utf8', timeout: IP_TIMEOUT_MS })
        .split('\n')
        .map((l) => Number(l.trim()))
        .filter((n) => Number.isInteger(n) && n > 1 && n !== process.pid);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      run(ip, ['netns', 'del', ns]);
      done.push(`${ns}${pids.length ? ` (killed its leftover pids ${pids.join(' ')})` : ''}`);
    } catch {
      /* someone else removed it meanwhile */
    }
  }
  return done;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Addresses of zone i's link: the backbone end and the zone end. */
export interface ZoneLink {
  zone: string;
  netns: string;
  /** In the backbone: the zone's CP dials global here, and this zone's ingress listens here. */
  backboneAddress: string;
  /** In the zone: its CP's DP server and its workloads' inbounds. */
  zoneAddress: string;
  backboneIf: string;
  zoneIf: string;
}

/** The namespaces and links of one run; see the file comment. */
export class NetnsTopology {
  readonly ip: string;
  readonly backbone: string;
  readonly links = new Map<string, ZoneLink>();
  private readonly created: string[] = [];

  constructor(readonly zones: string[], readonly tag = `kdm${process.pid}`) {
    const ip = ipBinary();
    if (!ip) throw new Error('no ip binary (iproute2)');
    this.ip = ip;
    this.backbone = `${tag}-bb`;
    zones.forEach((zone, i) => {
      const n = i + 1;
      this.links.set(zone, { zone, netns: `${tag}-z${n}`, backboneAddress: `10.77.${n}.1`, zoneAddress: `10.77.${n}.2`, backboneIf: `${tag}b${n}`, zoneIf: `${tag}z${n}` });
    });
  }

  /** The link of a zone (throws for an unknown zone). */
  link(zone: string): ZoneLink {
    const l = this.links.get(zone);
    if (!l) throw new Error(`zone ${zone} has no network namespace (known: ${[...this.links.keys()].join(', ')})`);
    return l;
  }

  /** Every namespace of this run, backbone first. */
  get namespaces(): string[] {
    return [this.backbone, ...[...this.links.values()].map((l) => l.netns)];
  }

  /** Argv prefix that runs a command in a namespace (`ip netns exec` execs: the pid is the command's). */
  exec(netns: string): string[] {
    return [this.ip, 'netns', 'exec', netns];
  }

  /** Builds every namespace and link; on a failure removes what it made, then throws. */
  create(): void {
    try {
      for (const ns of this.namespaces) {
        run(this.ip, ['netns', 'add', ns]);
        this.created.push(ns);
        run(this.ip, ['-n', ns, 'link', 'set', 'lo', 'up']);
      }
      // A new namespace starts with forwarding off; written anyway, since the isolation rests on it.
      run(this.ip, ['netns', 'exec', this.backbone, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
      for (const l of this.links.values()) {
        run(this.ip, ['link', 'add', l.backboneIf, 'netns', this.backbone, 'type', 'veth', 'peer', 'name', l.zoneIf, 'netns', l.netns]);
        run(this.ip, ['-n', this.backbone, 'addr', 'add', `${l.backboneAddress}/24`, 'dev', l.backboneIf]);
        run(this.ip, ['-n', this.backbone, 'link', 'set', l.backboneIf, 'up']);
        run(this.ip, ['-n', l.netns, 'addr', 'add', `${l.zoneAddress}/24`, 'dev', l.zoneIf]);
        run(this.ip, ['-n', l.netns, 'link', 'set', l.zoneIf, 'up']);
      }
      // Host routes only: zone i reaches zone j's ingress address on the backbone, not its /24.
      for (const l of this.links.values()) {
        for (const other of this.links.values()) {
          if (other !== l) run(this.ip, ['-n', l.netns, 'route', 'add', `${other.backboneAddress}/32`, 'via', l.backboneAddress]);
        }
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /**
   * Deletes every namespace this run made (the veths go with them; a namespace whose
   * processes still run lives on until they exit, then the kernel frees it and its veths).
   * Returns the problems, if any (never throws: it runs on error paths and at exit).
   */
  destroy(): string[] {
    const problems: string[] = [];
    for (const ns of this.created.splice(0).reverse()) {
      try {
        run(this.ip, ['netns', 'del', ns]);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    return problems;
  }
}
