/**
 * A zone that stops answering without closing its connection (SIGSTOP: no FIN, no
 * RST, like a partition) must show offline on global within seconds: gRPC keepalive
 * pings (every 5 s, 5 s to answer) end its streams. After SIGCONT the zone notices,
 * reconnects with backoff and is online again.
 */
import t from 'tap';
import { eventually, http, startCp, startZone, tmpDir, zoneToken } from './multizone-harness';

t.test('a frozen zone goes offline by keepalive and comes back', { timeout: 60_000 }, async (t) => {
  const global = await startCp(t, 'global', tmpDir(t, 'kds-ka-global-'), { KUMA_MODE: 'global' });
  const zone = await startZone(t, global, 'zone-1', await zoneToken(global, 'zone-1'));
  const online = async () => (await http(global, 'GET', '/zones+insights/zone-1')).body.online;
  await eventually('zone-1 online', async () => (await online()) === true);
  const pid = zone.proc.pid!;
  process.kill(pid, 'SIGSTOP');
  // Never leave a stopped process behind, whatever happens below.
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  const started = Date.now();
  await eventually('zone-1 offline', async () => (await online()) === false, 25_000);
  const took = Date.now() - started;
  t.ok(took < 20_000, `offline ${took} ms after the zone froze (keepalive 5 s + 5 s)`);
  const sub = (await http(global, 'GET', '/zones+insights/zone-1')).body.zoneInsight.subscriptions.at(-1);
  t.ok(sub.disconnectTime, 'disconnect time recorded');
  process.kill(pid, 'SIGCONT');
  await eventually('zone-1 online again', async () => (await online()) === true, 20_000);
  t.pass('reconnected after SIGCONT');
});
