/**
 * Zone tokens on open KDS streams, with the real token verifier over a real store and
 * real gRPC (TLS, 127.0.0.1): a stream whose zone token is revoked, or expires, ends
 * with UNAUTHENTICATED at once instead of at its next reconnect; other zones' streams
 * stay up; a reconnect with the revoked token is refused.
 */
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { MemoryStore } from '../../../cp/store/memory-store';
import { KdsServer } from '../../../cp/kds/kds-server';
import { tokenAuthenticator } from '../../../cp/kds/multizone';
import { ZoneInsights } from '../../../cp/zones/zone-insights';
import { generateDpServerCerts } from '../../../cp/dp-server/tls-material';
import { createKdsClient, KdsMetadata } from '../../../cp/kds/grpc-service';
import { StoreTokenVerifier, TokenIssuer, ZONE_REVOCATIONS } from '../../../cp/tokens';

const tls = generateDpServerCerts(['localhost', '127.0.0.1']);
const jti = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).jti as string;

/** One GlobalToZoneSync stream as a zone opens it; `done` settles with the status it ends with. */
function openStream(port: number, zone: string, token: string) {
  const client = createKdsClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(tls.caPem)), {});
  const md = new grpc.Metadata();
  md.set(KdsMetadata.zone, zone);
  md.set(KdsMetadata.authorization, `Bearer ${token}`);
  const call = client.GlobalToZoneSync(md);
  const s: { status?: grpc.StatusObject; responses: number; done: Promise<void>; close(): void } = {
    responses: 0,
    done: undefined as unknown as Promise<void>,
    close: () => {
      call.cancel();
      client.close();
    },
  };
  s.done = new Promise<void>((resolve) => {
    call.on('status', (st: grpc.StatusObject) => {
      s.status = st;
      resolve();
    });
    call.on('error', () => undefined);
  });
  call.on('data', () => s.responses++);
  call.write({ type_url: 'type.googleapis.com/kuma.mesh.v1alpha1.Mesh', resource_names_subscribe: [] });
  return s;
}

const within = (p: Promise<void>, ms: number) => Promise.race([p, new Promise<void>((r) => setTimeout(r, ms))]);

t.test('zone token revocation and expiry end open KDS streams', async (t) => {
  const store = new MemoryStore();
  const issuer = new TokenIssuer({ store });
  const server = new KdsServer({
    store,
    log: pino({ level: 'silent' }),
    insights: new ZoneInsights(),
    authenticate: tokenAuthenticator(new StoreTokenVerifier(store)),
    host: '127.0.0.1',
    port: 0,
    tls,
    debounceMs: 20,
  });
  await server.start();
  t.teardown(() => server.destroy());
  const port = server.port!;
  const tok1 = await issuer.issueZone({ zone: 'zone-1', scope: ['cp'], validForMs: 3600_000 });
  const tok2 = await issuer.issueZone({ zone: 'zone-2', scope: ['cp'], validForMs: 3600_000 });
  const z1 = openStream(port, 'zone-1', tok1);
  const z2 = openStream(port, 'zone-2', tok2);
  t.teardown(() => (z1.close(), z2.close()));
  await within(new Promise<void>((r) => { const i = setInterval(() => z1.responses && z2.responses && (clearInterval(i), r()), 20); }), 5000);
  t.ok(z1.responses > 0 && z2.responses > 0, 'both zones admitted and served');

  await store.create({ type: 'GlobalSecret', name: ZONE_REVOCATIONS, spec: { data: Buffer.from('not-a-live-token').toString('base64') } });
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(z1.status, 'a list that does not name the token leaves the stream open');

  const started = Date.now();
  await store.update({ type: 'GlobalSecret', name: ZONE_REVOCATIONS, spec: { data: Buffer.from(`not-a-live-token\n${jti(tok1)}`).toString('base64') } });
  await within(z1.done, 5000);
  t.equal(z1.status?.code, grpc.status.UNAUTHENTICATED, 'revoked: the stream ended UNAUTHENTICATED');
  t.match(z1.status?.details, new RegExp(`zone token ${jti(tok1)} has been revoked \\(listed in ${ZONE_REVOCATIONS}\\)`));
  t.ok(Date.now() - started < 2000, `promptly (${Date.now() - started} ms)`);
  t.notOk(z2.status, "another zone's stream stays open");

  const again = openStream(port, 'zone-1', tok1);
  t.teardown(() => again.close());
  await within(again.done, 5000);
  t.equal(again.status?.code, grpc.status.UNAUTHENTICATED, 'a reconnect with the revoked token is refused');
  t.match(again.status?.details, /has been revoked/);

  const short = await issuer.issueZone({ zone: 'zone-3', scope: ['cp'], validForMs: 1500 });
  const z3 = openStream(port, 'zone-3', short);
  t.teardown(() => z3.close());
  const opened = Date.now();
  await within(z3.done, 6000);
  t.equal(z3.status?.code, grpc.status.UNAUTHENTICATED, 'an expiring zone token ends its stream');
  t.match(z3.status?.details, /zone token expired at \d{4}-/);
  t.ok(Date.now() - opened >= 500, `not before it expired (${Date.now() - opened} ms after opening)`);
});
