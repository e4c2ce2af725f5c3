/**
 * DataplaneStatusTracker keeps times as numbers and renders Kuma's DataplaneInsight
 * subscription shape (ISO 8601 strings) only when asked; the rendered copy is the
 * caller's own.
 */
import t from 'tap';
import { DataplaneStatusTracker } from '../../../cp/xds/server/status-tracker';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

t.test('subscriptions: counts, times as ISO strings, online until disconnect', async (t) => {
  const tr = new DataplaneStatusTracker('cp-1');
  const nodeId = 'default.web-1';
  t.same(tr.status('default', 'web-1'), { online: false, subscriptions: [] });
  const before = Date.now();
  tr.onEvent({ kind: 'connect', nodeId, streamId: 1, delta: false });
  let st = tr.status('default', 'web-1');
  t.equal(st.online, true);
  const s0 = st.subscriptions[0] as any;
  t.match(s0.connectTime, ISO);
  t.ok(Date.parse(s0.connectTime) >= before - 1 && Date.parse(s0.connectTime) <= Date.now());
  t.notOk('lastUpdateTime' in s0.status, 'no update yet');
  t.notOk('disconnectTime' in s0);
  t.equal(s0.controlPlaneInstanceId, 'cp-1');

  tr.onEvent({ kind: 'send', nodeId, streamId: 1, typeUrl: 'c', version: 'v', count: 2 });
  tr.onEvent({ kind: 'send', nodeId, streamId: 1, typeUrl: 'l', version: 'v', count: 1 });
  tr.onEvent({ kind: 'ack', nodeId, streamId: 1, typeUrl: 'c', version: 'v' });
  tr.onEvent({ kind: 'nack', nodeId, streamId: 1, typeUrl: 'l', version: 'v', error: 'bad' });
  st = tr.status('default', 'web-1');
  const s1 = st.subscriptions[0] as any;
  t.same(s1.status.total, { responsesSent: 2, responsesAcknowledged: 1, responsesRejected: 1 });
  t.match(s1.status.lastUpdateTime, ISO);
  s1.status.total.responsesSent = 99;
  t.equal((tr.status('default', 'web-1').subscriptions[0] as any).status.total.responsesSent, 2, 'a rendered copy cannot change the tracker');

  tr.onEvent({ kind: 'disconnect', nodeId, streamId: 1 });
  st = tr.status('default', 'web-1');
  t.equal(st.online, false);
  t.match((st.subscriptions[0] as any).disconnectTime, ISO);
  tr.onEvent({ kind: 'ack', nodeId, streamId: 1, typeUrl: 'c', version: 'v' });
  t.equal((tr.status('default', 'web-1').subscriptions[0] as any).status.total.responsesAcknowledged, 1, 'events of a closed stream are ignored');
});
