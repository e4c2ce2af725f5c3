/**
 * The root namespace's side of the netns agents (netns-agent.ts): requests over their Unix
 * sockets, port forwards that make a namespace's 127.0.0.1:port reachable from the harness
 * (CP REST APIs, kuma-dp admin and readiness: management ports, like `kubectl port-forward`),
 * and the `users` client whose DNS queries and HTTP calls start inside users' namespace,
 * where the traffic of a real `users` app starts.
 */
import net from 'node:net';
import { MeshClient, type MeshCall } from './mesh-client';
import type { HttpOptions, HttpResult } from './http-client';

/** A request to an agent that got no answer in time. */
const AGENT_TIMEOUT_MS = 15_000;

/** An agent's answer. */
export type AgentAnswer = { ok: true; [k: string]: any } | { ok: false; error: string; code?: string; [k: string]: any };

/** Talks to the agent of one namespace. */
export class NetnsAgentClient {
  constructor(readonly netns: string, readonly socketPath: string) {}

  /** Sends one request line and resolves with the answer line (bounded). */
  request(req: Record<string, unknown>, timeoutMs = AGENT_TIMEOUT_MS): Promise<AgentAnswer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath);
      let buf = '';
      const timer = setTimeout(() => sock.destroy(new Error(`netns agent of ${this.netns}: no answer to ${String(req.op)} within ${timeoutMs} ms`)), timeoutMs);
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        sock.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch (err) {
          reject(new Error(`netns agent of ${this.netns}: answer is not JSON: ${buf.slice(0, 120)}`, { cause: err }));
        }
      });
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`netns agent of ${this.netns}: ${err.message}`, { cause: err }));
      });
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`netns agent of ${this.netns} closed without answering ${String(req.op)}`));
      });
      sock.write(JSON.stringify(req) + '\n');
    });
  }

  /** One HTTP exchange made from inside the namespace; rejects like httpRequest does. */
  async http(url: string, options: HttpOptions = {}): Promise<HttpResult> {
    const a = await this.request({ op: 'http', url, options }, (options.timeoutMs ?? 5000) + 2000);
    if (!a.ok) throw Object.assign(new Error(a.error), { code: a.code });
    return a.result as HttpResult;
  }

  /** A records of `name` from the DNS server at `server` (ip:port), asked from inside the namespace. */
  async resolve4(server: string, name: string): Promise<string[]> {
    const a = await this.request({ op: 'resolve', server, name });
    if (!a.ok) throw Object.assign(new Error(a.error), { code: a.code });
    return a.addresses as string[];
  }

  /** Whether a TCP connection to host:port can be opened from inside the namespace. */
  async tryConnect(host: string, port: number, timeoutMs = 2000): Promise<{ ok: boolean; code?: string; error?: string; ms: number }> {
    const a = await this.request({ op: 'connect', host, port, timeoutMs }, timeoutMs + 2000);
    return { ok: a.ok, code: a.code, error: a.ok ? undefined : a.error, ms: Number(a.ms ?? 0) };
  }

  /** A socket relayed by the agent to host:port inside the namespace. */
  pipe(host: string, port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath);
      let head = Buffer.alloc(0);
      const timer = setTimeout(() => sock.destroy(new Error(`netns agent of ${this.netns}: pipe to ${host}:${port} not open within ${AGENT_TIMEOUT_MS} ms`)), AGENT_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const nl = head.indexOf(0x0a);
        if (nl < 0) return;
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('error', onError);
        let a: AgentAnswer;
        try {
          a = JSON.parse(head.subarray(0, nl).toString('utf8'));
        } catch {
          sock.destroy();
          reject(new Error(`netns agent of ${this.netns}: bad pipe answer`));
          return;
        }
        if (!a.ok) {
          sock.destroy();
          reject(Object.assign(new Error(`${this.netns}: ${a.error}`), { code: a.code }));
          return;
        }
        sock.pause();
        // Bytes that came with the answer belong to the relayed stream.
        if (head.length > nl + 1) sock.unshift(head.subarray(nl + 1));
        resolve(sock);
      };
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`netns agent of ${this.netns}: ${err.message}`, { cause: err }));
      };
      sock.on('data', onData);
      sock.on('error', onError);
      sock.write(JSON.stringify({ op: 'pipe', host, port }) + '\n');
    });
  }
}

/** Root-namespace listeners on 127.0.0.1 that relay to host:port inside a namespace. */
export class PortForwards {
  private readonly byKey = new Map<string, Promise<number>>();
  private readonly servers = new Set<net.Server>();
  private readonly sockets = new Set<net.Socket>();

  /** The local port that reaches host:port in the agent's namespace (one listener per target). */
  forward(agent: NetnsAgentClient, host: string, port: number): Promise<number> {
    const key = `${agent.netns}|${host}|${port}`;
    let p = this.byKey.get(key);
    if (!p) {
      p = this.listen(agent, host, port);
      this.byKey.set(key, p);
    }
    return p;
  }

  private listen(agent: NetnsAgentClient, host: string, port: number): Promise<number> {
    const server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      client.pause();
      agent.pipe(host, port).then(
        (up) => {
          this.sockets.add(up);
          up.on('close', () => {
            this.sockets.delete(up);
            client.destroy();
          });
          up.on('error', () => up.destroy());
          client.on('close', () => up.destroy());
          client.pipe(up).pipe(client);
        },
        () => client.destroy(),
      );
    });
    this.servers.add(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  }

  /** Closes every listener and relayed connection. */
  async closeAll(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([...this.servers].map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.clear();
    this.byKey.clear();
  }
}

/**
 * The `users` client of namespace mode: the same calls as MeshClient (DNS through users'
 * kuma-dp, then VIP:vipPort with the `.mesh` name as Host), made by the agent of users'
 * namespace, so that they start where users' sidecar and its VIP listeners live.
 */
export class NetnsMeshClient extends MeshClient {
  private readonly vipsSeen = new Map<string, string>();

  constructor(private readonly agent: NetnsAgentClient, private readonly dnsPort: number, private readonly port: number) {
    super(dnsPort, port);
  }

  override async resolve(host: string, fresh = false): Promise<string> {
    if (!fresh && this.vipsSeen.has(host)) return this.vipsSeen.get(host)!;
    const addrs = await this.agent.resolve4(`127.0.0.1:${this.dnsPort}`, host);
    if (addrs.length === 0) throw new Error(`${host}: no A record`);
    this.vipsSeen.set(host, addrs[0]);
    return addrs[0];
  }

  override async call(host: string, p = '/', timeoutMs = 5000): Promise<MeshCall> {
    const started = Date.now();
    let vip = '';
    try {
      vip = await this.resolve(host);
      const result = await this.agent.http(`http://${host}:${this.port}${p}`, { connectHost: vip, connectPort: this.port, timeoutMs });
      const servedBy = typeof result.headers['x-served-by'] === 'string' ? result.headers['x-served-by'] : undefined;
      return { host, vip, result, servedBy, ms: Date.now() - started };
    } catch (err) {
      return { host, vip, error: (err as Error).message, ms: Date.now() - started };
    }
  }
}
