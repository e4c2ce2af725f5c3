/**
 * kuma-dp's own metrics: a few counters and gauges rendered in the Prometheus text
 * exposition format (version 0.0.4). Pure; deterministic (label sets sorted).
 */

type Labels = Readonly<Record<string, string>>;

interface Family {
  type: 'counter' | 'gauge';
  help: string;
  values: Map<string, { labels: Labels; value: number }>;
}

/** A tiny registry: inc / set by name and labels, render all. */
export class MetricsRegistry {
  private readonly families = new Map<string, Family>();
  private readonly collectors = new Set<() => void>();

  /**
   * Runs `fn` before every read (render, get), for counts kept elsewhere (the native DNS
   * fast path counts on its own thread). Returns the removal.
   */
  collect(fn: () => void): () => void {
    this.collectors.add(fn);
    return () => this.collectors.delete(fn);
  }

  /** Declares a metric so it renders (at 0) before its first change. */
  declare(name: string, type: Family['type'], help: string): this {
    if (!this.families.has(name)) this.families.set(name, { type, help, values: new Map() });
    return this;
  }

  /** Adds `by` (default 1) to a counter. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    const v = this.slot(name, labels);
    v.value += by;
  }

  /** Sets a gauge. */
  set(name: string, value: number, labels: Labels = {}): void {
    this.slot(name, labels).value = value;
  }

  /** The current value (0 when never touched). */
  get(name: string, labels: Labels = {}): number {
    this.runCollectors();
    return this.families.get(name)?.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Prometheus text, families and series sorted. */
  render(): string {
    this.runCollectors();
    const out: string[] = [];
    for (const name of [...this.families.keys()].sort()) {
      const f = this.families.get(name)!;
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      const series = [...f.values.entries()].sort((a, b) => a[0].localeCompare(b[0]));
      if (series.length === 0 && f.type === 'counter') out.push(`${name} 0`);
      for (const [key, s] of series) out.push(`${name}${key} ${formatNumber(s.value)}`);
    }
    return out.join('\n') + '\n';
  }

  private runCollectors(): void {
    for (const fn of this.collectors) fn();
  }

  private slot(name: string, labels: Labels): { labels: Labels; value: number } {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} was not declared`);
    const key = labelKey(labels);
    let v = f.values.get(key);
    if (!v) f.values.set(key, (v = { labels, value: 0 }));
    return v;
  }
}

// Hot paths (a DNS answer per query) pass the same frozen label objects again and
// again; their key cannot change, so it is built once. Other objects are keyed afresh.
const frozenKeys = new WeakMap<Labels, string>();

function labelKey(labels: Labels): string {
  if (Object.isFrozen(labels)) {
    let k = frozenKeys.get(labels);
    if (k === undefined) frozenKeys.set(labels, (k = buildLabelKey(labels)));
    return k;
  }
  return buildLabelKey(labels);
}

function buildLabelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
}

/** The metric names kuma-dp itself maintains. */
export const AgentMetric = {
  bootstrapAttempts: 'kuma_dp_bootstrap_attempts_total',
  dnsQueries: 'kuma_dp_dns_queries_total',
  dnsForwarded: 'kuma_dp_dns_forwarded_total',
  dnsUpstreamTimeouts: 'kuma_dp_dns_upstream_timeouts_total',
  dnsMalformed: 'kuma_dp_dns_malformed_total',
  dnsDropped: 'kuma_dp_dns_dropped_total',
  dnsVipsRefresh: 'kuma_dp_dns_vips_refresh_total',
  dnsVipsEntries: 'kuma_dp_dns_vips_entries',
  processRss: 'process_resident_memory_bytes',
  processCpu: 'process_cpu_seconds_total',
  ready: 'kuma_dp_ready',
} as const;

/** A registry with every agent metric declared. */
export function agentMetrics(): MetricsRegistry {
  return new MetricsRegistry()
    .declare(AgentMetric.bootstrapAttempts, 'counter', 'Bootstrap requests sent to the CP, by outcome.')
    .declare(AgentMetric.dnsQueries, 'counter', 'DNS queries answered, by response code.')
    .declare(AgentMetric.dnsForwarded, 'counter', 'DNS queries forwarded to an upstream resolver.')
    .declare(AgentMetric.dnsUpstreamTimeouts, 'counter', 'Forwarded DNS queries the upstream did not answer in time.')
    .declare(AgentMetric.dnsMalformed, 'counter', 'DNS packets dropped or refused as malformed.')
    .declare(AgentMetric.dnsDropped, 'counter', 'DNS queries dropped unanswered because the server was overloaded.')
    .declare(AgentMetric.dnsVipsRefresh, 'counter', 'VIP table fetches from the CP, by outcome.')
    .declare(AgentMetric.dnsVipsEntries, 'gauge', 'Names in the DNS VIP table.')
    .declare(AgentMetric.processRss, 'gauge', 'Resident memory of the kuma-dp process.')
    .declare(AgentMetric.processCpu, 'counter', 'CPU time (user + system) of the kuma-dp process.')
    .declare(AgentMetric.ready, 'gauge', '1 when the proxy is ready, 0 otherwise.');
}
