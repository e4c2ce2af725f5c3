/**
 * The engine's pure parts: weighted round robin with priorities and ejection, RBAC
 * evaluation, route and virtual-host matching, weighted cluster choice, URI SAN
 * parsing, bootstrap parsing.
 */
import t from 'tap';
import { LoadBalancer, BASE_EJECTION_MS, MAX_EJECTION_MS } from '../../../agent/engine/embedded/clusters/load-balancer';
import { OUTLIER_DEFAULTS } from '../../../agent/engine/embedded/config/cluster';
import { rbacAllows } from '../../../agent/engine/embedded/inbound/rbac';
import { chooseCluster, matchRoute } from '../../../agent/engine/embedded/http/route-match';
import { uriSans } from '../../../agent/engine/embedded/tls/san';
import { parseBootstrap } from '../../../agent/engine/embedded/config/bootstrap';
import { buildBootstrap } from '../../../envoy-bootstrap/index';
import type { RbacModel, RouteConfigModel } from '../../../agent/engine/embedded/config/model';

const ep = (port: number, weight = 1) => ({ host: '10.0.0.1', port, weight, locality: 'z' });

t.test('smooth weighted round robin', async (t) => {
  const lb = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1, 5), ep(2, 1), ep(3, 1)] }] });
  const seq = Array.from({ length: 7 }, () => lb.pick(0)!.ep.port);
  t.same(seq, [1, 1, 2, 1, 3, 1, 1], 'nginx-style smooth sequence for 5,1,1');
  const counts = new Map<number, number>();
  for (let i = 0; i < 700; i++) {
    const p = lb.pick(0)!.ep.port;
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  t.same([counts.get(1), counts.get(2), counts.get(3)], [500, 100, 100], 'exact proportions over whole cycles');
});

t.test('priorities, ejection, backoff, panic', async (t) => {
  const lb = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1)] }, { priority: 1, endpoints: [ep(2)] }] });
  t.equal(lb.pick(0)!.ep.port, 1, 'priority 0 first');
  const s1 = lb.all()[0];
  lb.failed(s1, 1000);
  t.equal(s1.ejectedUntil, 1000 + BASE_EJECTION_MS);
  t.equal(lb.pick(1001)!.ep.port, 2, 'ejected: priority 1 serves');
  t.equal(lb.pick(1000 + BASE_EJECTION_MS)!.ep.port, 1, 'back after the ejection time');
  lb.failed(s1, 5000);
  t.equal(s1.ejectedUntil, 5000 + 2 * BASE_EJECTION_MS, 'consecutive failure doubles the ejection');
  for (let i = 0; i < 20; i++) lb.failed(s1, 0);
  t.equal(s1.ejectedUntil, MAX_EJECTION_MS, 'capped');
  lb.succeeded(s1);
  t.equal(lb.pick(1)!.ep.port, 1, 'success clears the ejection');
  lb.failed(lb.all()[0], 0);
  lb.failed(lb.all()[1], 0);
  t.ok(lb.pick(1), 'all ejected: panic mode still picks one');
  t.equal(lb.pick(1, new Set(['10.0.0.1:1', '10.0.0.1:2'])), undefined, 'nothing left when all were tried');
  lb.update({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1), ep(9)] }] });
  t.ok(lb.all()[0].ejectedUntil > 0, 'ejection state survives an EDS update for a kept endpoint');
  t.equal(lb.all()[1].ejectedUntil, 0, 'new endpoint starts healthy');
});

t.test('outlier detection: consecutive 5xx and gateway failures eject, answers count per endpoint', async (t) => {
  const od = { ...OUTLIER_DEFAULTS, maxEjectionPercent: 50 };
  const always = () => 0;
  const lb = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1), ep(2)] }] });
  const [a, b] = lb.all();
  for (let i = 0; i < 4; i++) t.notOk(lb.observe(a, 500, 0, od, always), `5xx #${i + 1} does not eject yet`);
  t.notOk(lb.observe(a, 200, 0, od, always), 'a good answer');
  t.equal(a.consecutive5xx, 0, 'resets the count');
  for (let i = 0; i < 4; i++) lb.observe(a, 503, 0, od, always);
  t.notOk(lb.observe(b, 500, 0, od, always), 'another endpoint has its own count');
  t.ok(lb.observe(a, 500, 1000, od, always), 'the 5th 5xx in a row ejects');
  t.equal(a.ejectedUntil, 1000 + od.baseEjectionMs, 'for base_ejection_time');
  t.equal(a.ejectedFor, 'outlier');
  for (let i = 0; i < 10; i++) t.equal(lb.pick(2000)!.ep.port, 2, 'ejected endpoint gets no traffic');
  lb.succeeded(a);
  t.equal(lb.pick(2000)!.ep.port, 2, 'a successful connect does not lift an outlier ejection');
  for (let i = 0; i < 5; i++) lb.observe(b, 500, 2000, od, always);
  t.ok(b.ejectedUntil <= 2000, 'max_ejection_percent 50: the second of two endpoints stays in');
  const back = 1000 + od.baseEjectionMs;
  const seen = new Set([lb.pick(back)!.ep.port, lb.pick(back)!.ep.port]);
  t.same([...seen].sort(), [1, 2], 'back in rotation when the time is up');
  for (let i = 0; i < 5; i++) lb.observe(a, 500, back, od, always);
  t.equal(a.ejectedUntil, back + 2 * od.baseEjectionMs, 'a second ejection in a row lasts twice as long');
  lb.observe(a, 500, back + 10 * od.baseEjectionMs, od, always);
  lb.observe(a, 200, back + 10 * od.baseEjectionMs, od, always);
  t.equal(a.outlierEjections, 0, 'a good answer after the ejection resets the multiplier');
  for (let k = 0; k < 20; k++) for (let i = 0; i < 5; i++) lb.observe(a, 500, 1e9 * (k + 1), od, always);
  t.equal(a.ejectedUntil - 1e9 * 20, od.maxEjectionMs, 'capped by max_ejection_time');

  const gw = { ...od, consecutive5xx: 0, enforcingGateway: 100, consecutiveGateway: 3 };
  const lb2 = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1), ep(2)] }] });
  const [c] = lb2.all();
  lb2.observe(c, 502, 0, gw, always);
  lb2.observe(c, 500, 0, gw, always);
  t.equal(c.consecutiveGateway, 0, 'a 500 breaks a run of gateway failures');
  lb2.observe(c, 502, 0, gw, always);
  lb2.observe(c, 504, 0, gw, always);
  t.ok(lb2.observe(c, 503, 0, gw, always), 'three gateway failures in a row eject');
  const never = () => 99.5;
  const lb3 = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1), ep(2)] }] });
  for (let i = 0; i < 20; i++) t.notOk(lb3.observe(lb3.all()[0], 500, 0, { ...od, enforcing5xx: 0 }, never), 'enforcing 0 never ejects');
  const lone = new LoadBalancer({ clusterName: 'c', priorities: [{ priority: 0, endpoints: [ep(1)] }] });
  for (let i = 0; i < 5; i++) lone.observe(lone.all()[0], 500, 0, { ...od, maxEjectionPercent: 0 }, always);
  t.equal(lone.all()[0].ejectedUntil, 0, 'max_ejection_percent 0 never ejects');
});

t.test('RBAC', async (t) => {
  const allow: RbacModel = {
    action: 'ALLOW',
    policies: [
      {
        name: 'p',
        principals: [
          { kind: 'authenticated', match: { kind: 'exact', value: 'spiffe://default/frontend', ignoreCase: false } },
          { kind: 'and', ids: [{ kind: 'authenticated', match: { kind: 'exact', value: 'spiffe://default/gateway', ignoreCase: false } }, { kind: 'authenticated', match: { kind: 'exact', value: 'kuma://team/edge', ignoreCase: false } }] },
        ],
      },
    ],
  };
  t.ok(rbacAllows(allow, ['spiffe://default/frontend'], true));
  t.notOk(rbacAllows(allow, ['spiffe://default/frontend'], false), 'unauthenticated never matches authenticated');
  t.notOk(rbacAllows(allow, ['spiffe://default/gateway'], true), 'and_ids needs both');
  t.ok(rbacAllows(allow, ['spiffe://default/gateway', 'kuma://team/edge'], true));
  t.notOk(rbacAllows({ action: 'ALLOW', policies: [] }, ['spiffe://default/frontend'], true), 'no policies: deny all (golden 07)');
  t.ok(rbacAllows({ action: 'DENY', policies: [] }, [], false), 'DENY with no policy allows');
  t.notOk(rbacAllows({ action: 'DENY', policies: [{ name: 'x', principals: [{ kind: 'any' }] }] }, [], false));
  t.ok(rbacAllows(undefined, [], false), 'no RBAC filter: allowed');
  t.ok(rbacAllows({ action: 'ALLOW', policies: [{ name: 'n', principals: [{ kind: 'not', id: { kind: 'authenticated', match: { kind: 'prefix', value: 'spiffe://evil/', ignoreCase: false } } }] }] }, ['spiffe://default/a'], true));
});

t.test('routes', async (t) => {
  const rc: RouteConfigModel = {
    name: 'r',
    virtualHosts: [
      { name: 'star', domains: ['*'], routes: [{ prefix: '/', caseSensitive: true, headers: [], target: { kind: 'single', cluster: 'any' } }] },
      {
        name: 'api',
        domains: ['api.mesh', '*.api.mesh'],
        routes: [
          { path: '/exact', caseSensitive: true, headers: [], target: { kind: 'single', cluster: 'exact' } },
          { prefix: '/API', caseSensitive: false, headers: [{ name: ':method', match: { kind: 'exact', value: 'POST', ignoreCase: false }, invert: false }], target: { kind: 'single', cluster: 'post' } },
          { prefix: '/', caseSensitive: true, headers: [{ name: 'x-debug', present: true, invert: true }], target: { kind: 'single', cluster: 'nodebug' } },
        ],
      },
    ],
  };
  const m = (host: string, path: string, method = 'GET', headers: Record<string, string> = {}) => {
    const r = matchRoute(rc, { host, path, method, headers });
    return r && chooseCluster(r.target, 0);
  };
  t.equal(m('api.mesh:80', '/exact'), 'exact');
  t.equal(m('api.mesh', '/exact/more'), 'nodebug', 'path is exact, not prefix');
  t.equal(m('v2.api.mesh', '/api/x', 'POST'), 'post', 'wildcard domain, case-insensitive prefix, method');
  t.equal(m('api.mesh', '/api/x', 'GET', { 'x-debug': '1' }), undefined, 'inverted presence excludes');
  t.equal(m('other', '/whatever'), 'any', 'default virtual host');
  // The virtual host picked per Host value is remembered per route table: asked again,
  // with other Hosts in between and past the memo's size, the answers stay the same.
  const again = () => [m('api.mesh:80', '/exact'), m('API.MESH', '/exact'), m('v2.api.mesh:8080', '/x'), m('other', '/x'), m('', '/x')];
  const first = again();
  t.same(first, ['exact', 'exact', 'nodebug', 'any', 'any']);
  for (let i = 0; i < 600; i++) m(`h${i}.api.mesh`, '/x');
  t.same(again(), first, 'after 600 other Hosts');
  t.equal(m('h599.api.mesh', '/x'), 'nodebug');
  const other: RouteConfigModel = { name: 'r2', virtualHosts: [{ name: 'only', domains: ['api.mesh'], routes: [{ prefix: '/', caseSensitive: true, headers: [], target: { kind: 'single', cluster: 'r2' } }] }] };
  t.equal(chooseCluster(matchRoute(other, { host: 'api.mesh:80', path: '/exact', method: 'GET', headers: {} })!.target, 0), 'r2', 'another route table answers for itself');
  t.equal(matchRoute(other, { host: 'other', path: '/', method: 'GET', headers: {} }), undefined, 'and finds no virtual host where it has none');
  const w = { kind: 'weighted' as const, total: 100, clusters: [{ name: 'a', weight: 80 }, { name: 'b', weight: 20 }] };
  t.equal(chooseCluster(w, 0), 'a');
  t.equal(chooseCluster(w, 0.7999), 'a');
  t.equal(chooseCluster(w, 0.8), 'b');
  t.equal(chooseCluster(w, 0.99999), 'b');
});

t.test('URI SANs from Node subjectaltname strings', async (t) => {
  t.same(uriSans('URI:spiffe://default/web, URI:kuma://kuma.io/service/web, DNS:localhost'), ['spiffe://default/web', 'kuma://kuma.io/service/web']);
  t.same(uriSans('DNS:a, URI:"spiffe://default/a,b", IP Address:127.0.0.1'), ['spiffe://default/a,b'], 'quoted value with a comma');
  t.same(uriSans(undefined), []);
  t.same(uriSans('garbage'), []);
});

t.test('bootstrap parsing', async (t) => {
  const b = buildBootstrap({ mesh: 'default', name: 'web-1', proxyType: 'dataplane', service: 'web', cpHost: 'cp.local', cpPort: 5678, cpCaPem: 'CA', dataplaneToken: 'TOKEN', adminPort: 9901 });
  const p = parseBootstrap(b);
  t.same(p.ads, { clusterName: 'ads_cluster', host: 'cp.local', port: 5678, caPem: 'CA', sni: 'cp.local', token: 'TOKEN', tls: true });
  t.same(p.admin, { host: '127.0.0.1', port: 9901 });
  t.equal(p.node.id, 'default.web-1');
  t.equal(p.maxDownstreamConnections, 50000, 'Kuma\'s global connection cap from the runtime layer');
  const noToken = buildBootstrap({ mesh: 'default', name: 'web-1', proxyType: 'dataplane', service: 'web', cpHost: '127.0.0.1', cpPort: 5678, cpCaPem: 'CA', adminPort: 9901 });
  t.equal(parseBootstrap(noToken, { token: 'FROM-OPTS' }).ads.token, 'FROM-OPTS', 'token falls back to EngineOptions');
  t.throws(() => parseBootstrap({ node: {} }), { code: 'ERR_VALIDATION' }, 'missing node id and ADS cluster');
  try {
    parseBootstrap({ node: { id: 'x' }, dynamic_resources: { ads_config: { grpc_services: [{ envoy_grpc: { cluster_name: 'nope' } }] } } });
  } catch (err) {
    t.match((err as Error).message, 'static_resources.clusters: no cluster named "nope"');
  }
});
