/**
 * Network namespaces for the demo when it runs as root: a `backbone` namespace (global CP
 * and every zone's ingress), one namespace per zone (its CP, and the router of its
 * workloads), and one namespace per workload (an app and its sidecar, like a pod or a VM).
 *
 * Zone i is joined to the backbone by a veth pair on 10.77.i.0/24 (10.77.i.1 backbone side,
 * 10.77.i.2 zone side). Its workloads sit on a bridge in the zone namespace, 10.78.i.0/24
 * (bridge 10.78.i.1, workloads from 10.78.i.10), with a default route via the bridge. The
 * zone namespace forwards, and routes only its own two /24s plus one host route per OTHER
 * zone's backbone address (where that zone's ingress listens); the backbone routes each
 * zone's workload /24 back through that zone but keeps ip_forward at 0. So a workload
 * reaches its zone's CP, its zone's other workloads and every ingress, and never another
 * zone's workloads or CP: the only way across is an ingress, as between real clusters.
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
/** Names this module creates: kdm<pid>-bb, kdm<pid>-z<i>, kdm<pid>-w<k>, and kdm<pid>-probe for a moment. */
const NS_NAME = /^kdm(\d+)-(bb|z\d+|w\d+|probe)$/;
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
  /** The zone's bridge for its workloads and its address (the workloads' gateway; the zone CP's DP server). */
  bridgeIf: string;
  bridgeAddress: string;
  /** The workloads' /24. */
  workloadCidr: string;
}

/** One workload's namespace. */
export interface Workload {
  zone: string;
  name: string;
  netns: string;
  address: string;
}

/** The namespaces and links of one run; see the file comment. */
export class NetnsTopology {
  readonly ip: string;
  readonly backbone: string;
  readonly links = new Map<string, ZoneLink>();
  readonly workloads = new Map<string, Workload>();
  private readonly created: string[] = [];
  private workloadCount = 0;

  constructor(readonly zones: string[], readonly tag = `kdm${process.pid}`) {
    const ip = ipBinary();
    if (!ip) throw new Error('no ip binary (iproute2)');
    this.ip = ip;
    this.backbone = `${tag}-bb`;
    zones.forEach((zone, i) => {
      const n = i + 1;
      this.links.set(zone, {
        zone,
        netns: `${tag}-z${n}`,
        backboneAddress: `10.77.${n}.1`,
        zoneAddress: `10.77.${n}.2`,
        backboneIf: `${tag}b${n}`,
        zoneIf: `${tag}z${n}`,
        bridgeIf: `${tag}r${n}`,
        bridgeAddress: `10.78.${n}.1`,
        workloadCidr: `10.78.${n}.0/24`,
      });
    });
  }

  /** The link of a zone (throws for an unknown zone). */
  link(zone: string): ZoneLink {
    const l = this.links.get(zone);
    if (!l) throw new Error(`zone ${zone} has no network namespace (known: ${[...this.links.keys()].join(', ')})`);
    return l;
  }

  /** The backbone and zone namespaces, backbone first (workloads come and go with addWorkload). */
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
      for (const l of this.links.values()) {
        run(this.ip, ['-n', l.netns, 'link', 'add', l.bridgeIf, 'type', 'bridge']);
        run(this.ip, ['-n', l.netns, 'addr', 'add', `${l.bridgeAddress}/24`, 'dev', l.bridgeIf]);
        run(this.ip, ['-n', l.netns, 'link', 'set', l.bridgeIf, 'up']);
        // The zone routes between its workloads and the backbone; the backbone routes replies back.
        run(this.ip, ['netns', 'exec', l.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
        run(this.ip, ['-n', this.backbone, 'route', 'add', l.workloadCidr, 'via', l.zoneAddress]);
        // Host routes only: zone i reaches zone j's ingress address on the backbone, not its /24s.
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
   * A namespace for one workload of a zone (made on first use, then the same one for the
   * same name): a veth to the zone's bridge, the next address of the zone's workload /24,
   * a default route via the bridge.
   */
  addWorkload(zone: string, name: string): Workload {
    const key = `${zone}/${name}`;
    const known = this.workloads.get(key);
    if (known) return known;
    const l = this.link(zone);
    const k = ++this.workloadCount;
    if (k > 200) throw new Error(`more than 200 workloads: the zones' /24s are full`);
    const w: Workload = { zone, name, netns: `${this.tag}-w${k}`, address: `${l.bridgeAddress.replace(/\.1$/, '')}.${9 + k}` };
    const inside = `${this.tag}w${k}`;
    const outside = `${this.tag}v${k}`;
    run(this.ip, ['netns', 'add', w.netns]);
    this.created.push(w.netns);
    run(this.ip, ['-n', w.netns, 'link', 'set', 'lo', 'up']);
    run(this.ip, ['link', 'add', inside, 'netns', w.netns, 'type', 'veth', 'peer', 'name', outside, 'netns', l.netns]);
    run(this.ip, ['-n', l.netns, 'link', 'set', outside, 'master', l.bridgeIf]);
    run(this.ip, ['-n', l.netns, 'link', 'set', outside, 'up']);
    run(this.ip, ['-n', w.netns, 'addr', 'add', `${w.address}/24`, 'dev', inside]);
    run(this.ip, ['-n', w.netns, 'link', 'set', inside, 'up']);
    run(this.ip, ['-n', w.netns, 'route', 'add', 'default', 'via', l.bridgeAddress]);
    this.workloads.set(key, w);
    return w;
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
