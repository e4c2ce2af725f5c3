/**
 * ZoneIngress rules (Kuma's zone ingress validator): where it listens, how other zones
 * reach it (advertised address and port come together), and the services it offers.
 */
import type { ViolationCollector } from '../../lib/errors';
import { checkAddress, checkName, checkPort, checkTags, fieldPath, indexPath, isRecord, isSet, listOf, own } from './common';

/** Appends every violation of a ZoneIngress spec. */
export function validateZoneIngressSpec(v: ViolationCollector, spec: Record<string, unknown>): void {
  const net = own(spec, 'networking');
  if (!isSet(net)) {
    v.add('networking', 'is required; must have address and port');
  } else if (isRecord(net)) {
    checkAddress(v, 'networking.address', own(net, 'address'), true);
    checkPort(v, 'networking.port', own(net, 'port'), true);
    const advAddress = own(net, 'advertisedAddress');
    const advPort = own(net, 'advertisedPort');
    const hasAddress = isSet(advAddress) && advAddress !== '';
    const hasPort = isSet(advPort) && advPort !== 0;
    if (hasAddress && !hasPort) v.add('networking.advertisedPort', 'is required when advertisedAddress is set');
    if (hasPort && !hasAddress) v.add('networking.advertisedAddress', 'is required when advertisedPort is set');
    checkAddress(v, 'networking.advertisedAddress', advAddress, false);
    if (hasPort) checkPort(v, 'networking.advertisedPort', advPort, false);
    checkPort(v, 'networking.admin.port', own(own(net, 'admin'), 'port'), false);
  }
  listOf(own(spec, 'availableServices')).forEach((svc, i) => {
    const p = indexPath('availableServices', i);
    if (!isRecord(svc)) return;
    checkTags(v, fieldPath(p, 'tags'), own(svc, 'tags'), { requireService: true });
    const mesh = own(svc, 'mesh');
    const problem = checkName(mesh);
    if (problem && (typeof mesh === 'string' || !isSet(mesh))) v.add(fieldPath(p, 'mesh'), problem);
  });
}
