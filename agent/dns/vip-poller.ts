/**
 * Keeps the DNS server's VIP table in step with the CP: polls `GET /dns/vips` and
 * caches the last good answer in the work dir, so that names keep resolving while the
 * CP is down and after kuma-dp restarts without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import { AgentMetric, type MetricsRegistry } from '../admin/metrics';
import { cpRequest } from '../cp-client/cp-request';
import { parseVipsDocument, VipTable, type VipsDocument } from './vip-table';

/** Options of the poller. */
export interface VipPollerOptions {
  cpAddress: URL;
  caCertPem?: string;
  token?: string;
  mesh: string;
  name: string;
  intervalMs: number;
  /** Where the cache file lives (`<workDir>/dns-vips.json`). */
  workDir: string;
  onTable: (table: VipTable) => void;
  metrics: MetricsRegistry;
  log: Logger;
}

/** Name of the cache file in the work dir. */
export const VIPS_CACHE_FILE = 'dns-vips.json';

/** Polls the CP for the VIP table. */
export class VipPoller implements Component {
  readonly name = 'dns-vips';
  private timer?: NodeJS.Timeout;
  private closed = false;
  private lastJson = '';
  private failing = false;
  private inflight?: Promise<void>;

  constructor(private readonly o: VipPollerOptions) {}

  private get cacheFile(): string {
    return path.join(this.o.workDir, VIPS_CACHE_FILE);
  }

  /** Loads the cache, then fetches once without blocking startup on the CP. */
  async start(): Promise<void> {
    try {
      const doc = parseVipsDocument(JSON.parse(fs.readFileSync(this.cacheFile, 'utf8')));
      if (doc.mesh === this.o.mesh) {
        this.apply(doc, 'cache');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log.warn({ err: (err as Error).message, file: this.cacheFile }, 'ignoring unreadable VIP cache');
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.inflight = this.poll().finally(() => this.schedule(this.o.intervalMs));
    }, ms);
  }

  /** One fetch; errors keep the current table. */
  async poll(): Promise<void> {
    try {
      const doc = await this.fetch();
      this.o.metrics.inc(AgentMetric.dnsVipsRefresh, { outcome: 'ok' });
      if (this.failing) this.o.log.info('VIP table fetch recovered');
      this.failing = false;
      this.apply(doc, 'cp');
    } catch (err) {
      this.o.metrics.inc(AgentMetric.dnsVipsRefresh, { outcome: 'error' });
      if (!this.failing) this.o.log.warn({ err: (err as Error).message }, 'cannot fetch the VIP table from the CP; answering from the last known table');
      this.failing = true;
    }
  }

  private apply(doc: VipsDocument, from: 'cp' | 'cache'): void {
    const json = JSON.stringify({ mesh: doc.mesh, ttl: doc.ttl, vips: sortKeys(doc.vips) });
    if (json === this.lastJson) return;
    this.lastJson = json;
    const { table, skipped } = VipTable.build(doc);
    if (skipped.length > 0) this.o.log.warn({ skipped }, 'VIP entries skipped (invalid IP or name)');
    this.o.onTable(table);
    this.o.log.info({ from, services: Object.keys(doc.vips).length, names: table.names.size }, 'VIP table updated');
    if (from === 'cp') {
      try {
        const tmp = `${this.cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, json + '\n', { mode: 0o600 });
        fs.renameSync(tmp, this.cacheFile);
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'cannot write the VIP cache');
      }
    }
  }

  private async fetch(): Promise<VipsDocument> {
    const url = new URL('/dns/vips', this.o.cpAddress);
    url.searchParams.set('mesh', this.o.mesh);
    url.searchParams.set('name', this.o.name);
    const r = await cpRequest(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
      caCertPem: this.o.caCertPem,
      timeoutMs: 5000,
      maxBytes: 8 * 1024 * 1024,
      what: 'GET /dns/vips',
    });
    if (r.status !== 200) throw new Error(`GET /dns/vips: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    try {
      return parseVipsDocument(JSON.parse(r.body));
    } catch (err) {
      throw new Error(`GET /dns/vips: invalid answer: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.inflight?.catch(() => undefined);
  }

  destroy(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}
