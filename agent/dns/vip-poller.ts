/**
 * Keeps the DNS server's VIP table in step with the CP: polls `GET /dns/vips` and
 * caches the last good answer in the work dir, so that names keep resolving while the
 * CP is down and after kuma-dp restarts without it.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { Component } from '../../lib/component';
import type { Logger } from '../../lib/logger';
import { AgentMetric, type MetricsRegistry } from '../admin/metrics';
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

  private fetch(): Promise<VipsDocument> {
    const url = new URL('/dns/vips', this.o.cpAddress);
    url.searchParams.set('mesh', this.o.mesh);
    url.searchParams.set('name', this.o.name);
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: 'GET',
          headers: { accept: 'application/json', ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
          ca: this.o.caCertPem,
          timeout: 5000,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 8 * 1024 * 1024) req.destroy(new Error('VIP table larger than 8 MiB'));
            else chunks.push(c);
          });
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new Error(`GET /dns/vips: HTTP ${res.statusCode}: ${body.slice(0, 300)}`));
            try {
              resolve(parseVipsDocument(JSON.parse(body)));
            } catch (err) {
              reject(new Error(`GET /dns/vips: invalid answer: ${(err as Error).message}`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('GET /dns/vips timed out')));
      req.on('error', reject);
      req.end();
    });
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
