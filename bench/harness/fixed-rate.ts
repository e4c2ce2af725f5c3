/**
 * A fixed-rate HTTP/1.1 load client (wrk has none): requests are scheduled at exact
 * intervals and each latency is measured from its scheduled time, not from when it
 * could be sent, so a stall shows up in the percentiles instead of silently lowering
 * the rate (no coordinated omission). Keep-alive connections from a bounded pool.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** What a fixed-rate run observed. */
export interface FixedRateResult {
  rate: number;
  sent: number;
  ok: number;
  errors: number;
  latenciesMs: number[];
}

/** Sends `rate` requests/s to `http://127.0.0.1:port/` for `seconds`; resolves when all have answered (or failed). */
export function fixedRate(port: number, rate: number, seconds: number, connections = 16): Promise<FixedRateResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.round(rate * seconds);
  const latenciesMs: number[] = [];
  let ok = 0;
  let errors = 0;
  let done = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    let sent = 0;
    const finish = () => {
      if (++done === total) {
        agent.destroy();
        resolve({ rate, sent, ok, errors, latenciesMs });
      }
    };
    const fire = (scheduled: number) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) {
            ok++;
            latenciesMs.push(performance.now() - scheduled);
          } else errors++;
          finish();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        finish();
      });
      req.end();
    };
    // A 1 ms tick fires every request whose scheduled time has come.
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < due) {
        const scheduled = start + (sent / rate) * 1000;
        sent++;
        fire(scheduled);
      }
      if (sent >= total) clearInterval(tick);
    }, 1);
  });
}
