/**
 * One bounded HTTP(S) request from kuma-dp to its control plane (bootstrap, VIP table):
 * the CP is verified against the given CA, the answer is size-capped so a wrong peer
 * cannot make the agent buffer without limit, and a stalled request times out.
 */
import http from 'node:http';
import https from 'node:https';

/** What kuma-dp asks of the CP in one request. */
export interface CpRequest {
  method: 'GET' | 'POST';
  headers: http.OutgoingHttpHeaders;
  body?: string;
  /** PEM of the CA that signs the CP's certificate (https only). */
  caCertPem?: string;
  timeoutMs: number;
  /** Answers longer than this are refused. */
  maxBytes: number;
  /** Short description for error messages, e.g. `GET /dns/vips`. */
  what: string;
  signal?: AbortSignal;
}

/** Status and body of an answer, whatever the status. */
export interface CpAnswer {
  status: number;
  body: string;
}

/** Sends the request on a fresh connection; rejects on network errors, the timeout or an oversize answer. */
export function cpRequest(url: URL, r: CpRequest): Promise<CpAnswer> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': Buffer.byteLength(r.body) };
    const req = mod.request(url, { method: r.method, headers, ca: r.caCertPem, timeout: r.timeoutMs, signal: r.signal, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > r.maxBytes) req.destroy(new Error(`${r.what}: answer larger than ${r.maxBytes / (1024 * 1024)} MiB`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`${r.what} timed out`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(r.body);
  });
}
