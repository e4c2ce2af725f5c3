/**
 * Keepalive for an HTTP/2 connection (gRPC's keepalive, both sides): every `everyMs` a
 * PING; when it is not answered within `timeoutMs` the connection is destroyed (and
 * `onUnanswered` says so first). Stops with the connection. `everyMs` 0 disables it.
 */
import type http2 from 'node:http2';

export function keepAlive(session: http2.Http2Session, everyMs: number, timeoutMs: number, onUnanswered: () => void = () => undefined): void {
  if (everyMs <= 0) return;
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const deadline = setTimeout(() => {
      onUnanswered();
      session.destroy();
    }, timeoutMs);
    deadline.unref();
    try {
      session.ping((err) => {
        clearTimeout(deadline);
        if (err) session.destroy();
      });
    } catch {
      clearTimeout(deadline); // the session is closing
    }
  }, everyMs);
  timer.unref();
  session.once('close', () => clearInterval(timer));
}
