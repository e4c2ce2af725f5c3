/**
 * Dataplane rules (Kuma's dataplane validator): an address, then either inbounds or a
 * gateway; every inbound and gateway names its service; ports are in range and no
 * two inbounds listen on the same address and port.
 */
import type { ViolationCollector } from '../../lib/errors';
import { checkAddress, checkPort, checkTags, fieldPath, indexPath, isRecord, isSet, listOf, own, show } from './common';

/** Inbound states Kuma reports; set by kuma-dp's readiness probing. */
export const INBOUND_STATES = ['Ready', 'NotReady', 'Ignored'] as const;

/** Appends every violation of a Dataplane spec. */
export function validateDataplaneSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  const net = own(spec, 'networking');
  if (!isSet(net)) {
    v.add('networking', 'is required; must have an address and inbound or gateway');
    return;
  }
  if (!isRecord(net)) return; // reported by the structure check
  const address = own(net, 'address');
  checkAddress(v, 'networking.address', address, true);
  checkAddress(v, 'networking.advertisedAddress', own(net, 'advertisedAddress'), false);

  const inbound = listOf(own(net, 'inbound'));
  const gateway = own(net, 'gateway');
  if (inbound.length > 0 && isSet(gateway)) {
    v.add('networking', 'must have either inbound or gateway, not both');
  } else if (inbound.length === 0 && !isSet(gateway)) {
    v.add('networking', 'must have at least one inbound or a gateway');
  }

  // Key is the listening address and port; an inbound without its own address uses the dataplane's.
  const seen = new Map<string, number>();
  inbound.forEach((ib, i) => {
    const p = indexPath('networking.inbound', i);
    if (!isRecord(ib)) return;
    const port = own(ib, 'port');
    checkPort(v, fieldPath(p, 'port'), port, true);
    // 0 is protobuf's "not set" (the application listens on `port` itself), as in Kuma.
    const servicePort = own(ib, 'servicePort');
    if (servicePort !== 0) checkPort(v, fieldPath(p, 'servicePort'), servicePort, false);
    const ibAddress = own(ib, 'address');
    const serviceAddress = own(ib, 'serviceAddress');
    checkAddress(v, fieldPath(p, 'address'), ibAddress, false, true);
    checkAddress(v, fieldPath(p, 'serviceAddress'), serviceAddress, false, true);
    // The sidecar would forward the inbound to itself: a loop (Kuma's rule).
    const listenAddress = typeof ibAddress === 'string' && ibAddress !== '' ? ibAddress : address;
    if (typeof serviceAddress === 'string' && serviceAddress !== '' && serviceAddress === listenAddress && (!isSet(servicePort) || servicePort === 0 || servicePort === port)) {
      v.add(fieldPath(p, 'serviceAddress'), `serviceAddress:servicePort must differ from the inbound's address:port (${serviceAddress}:${String(port)}), or traffic would loop`);
    }
    checkTags(v, fieldPath(p, 'tags'), own(ib, 'tags'), { requireService: true });
    const state = own(ib, 'state');
    if (typeof state === 'string' && state !== '' && !(INBOUND_STATES as readonly string[]).includes(state)) {
      v.add(fieldPath(p, 'state'), `must be one of ${INBOUND_STATES.join(', ')}, got ${show(state)}`);
    }
    if (typeof port === 'number' && Number.isInteger(port)) {
      const listen = `${String(listenAddress)}:${port}`;
      const first = seen.get(listen);
      if (first !== undefined) {
        v.add(fieldPath(p, 'port'), `port ${port} is already used by networking.inbound[${first}] on the same address`);
      } else {
        seen.set(listen, i);
      }
    }
  });

  listOf(own(net, 'outbound')).forEach((ob, i) => {
    const p = indexPath('networking.outbound', i);
    if (!isRecord(ob)) return;
    checkPort(v, fieldPath(p, 'port'), own(ob, 'port'), true);
    checkAddress(v, fieldPath(p, 'address'), own(ob, 'address'), false, true);
    checkTags(v, fieldPath(p, 'tags'), own(ob, 'tags'), { requireService: true });
  });

  if (isRecord(gateway)) checkTags(v, 'networking.gateway.tags', own(gateway, 'tags'), { requireService: true });

  const tp = own(net, 'transparentProxying');
  if (isRecord(tp)) {
    for (const port of ['redirectPortInbound', 'redirectPortOutbound', 'redirectPortInboundV6']) {
      checkPort(v, fieldPath('networking.transparentProxying', port), own(tp, port), false);
    }
    for (const list of ['reachableServices', 'directAccessServices']) {
      listOf(own(tp, list)).forEach((s, i) => {
        if (s === '') v.add(indexPath(fieldPath('networking.transparentProxying', list), i), 'must not be empty');
      });
    }
  }
  checkPort(v, 'networking.admin.port', own(own(net, 'admin'), 'port'), false);
}
