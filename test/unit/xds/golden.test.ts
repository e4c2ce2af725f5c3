/**
 * Golden files for the generators: `test/golden/xds/NN.name.input.yaml` beside
 * `NN.name.golden.yaml`. Regenerate with UPDATE_GOLDEN=1. Every generated resource must
 * also encode with Envoy's protos, pass the PGV rules, and form a consistent snapshot.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { fromKumaJson, type Resource, type ResourceInput } from '../../../api/resource';
import { buildMeshSnapshots, type StoreContents } from '../../../cp/xds/generators/mesh-snapshot';
import { buildProxyContext } from '../../../cp/xds/generators/proxy-context';
import { generateResources } from '../../../cp/xds/generators/profiles';
import { Snapshot, consistent } from '../../../cp/xds/cache/snapshot';
import { validateAny } from '../../../proto/validate';
import { typeNameOf } from '../../../proto/index';

const dir = path.resolve(__dirname, '../../../../test/golden/xds');

function toResource(input: ResourceInput): Resource {
  return {
    meta: { type: input.type, mesh: input.mesh, name: input.name, version: '1', creationTime: '', modificationTime: '', labels: input.labels },
    spec: input.spec,
  };
}

/** Runs the generators on one golden input; returns the output document. */
export function runGolden(input: Record<string, any>): { doc: Record<string, any>; snapshot: Snapshot } {
  const resources = (input.resources as Record<string, any>[]).map((r) => toResource(fromKumaJson(r)));
  const of = (type: string) => resources.filter((r) => r.meta.type === type);
  const contents: StoreContents = {
    meshes: of('Mesh'),
    dataplanes: of('Dataplane'),
    zoneIngresses: of('ZoneIngress'),
    trafficRoutes: of('TrafficRoute'),
    trafficPermissions: of('TrafficPermission'),
    vips: input.vips ?? {},
  };
  const cp = { zone: input.zone ?? '', vipPort: input.vipPort ?? 80 };
  const meshes = buildMeshSnapshots(contents, cp.zone);
  const p = input.proxy;
  const own = resources.find((r) => r.meta.type === (p.kind === 'ingress' ? 'ZoneIngress' : 'Dataplane') && r.meta.name === p.name);
  const ctx = buildProxyContext(meshes, { kind: p.kind, mesh: p.mesh ?? '', name: p.name, resource: own, dnsEnabled: !!p.dnsEnabled }, cp, input.identity);
  const snapshot = Snapshot.fromResourceSet(generateResources(ctx));
  const doc: Record<string, any> = {};
  for (const [type, m] of snapshot.resources) {
    if (m.size) doc[typeNameOf(type).split('.').pop()!] = [...m.values()].map((r) => r.json);
  }
  return { doc, snapshot };
}

const inputs = fs.readdirSync(dir).filter((f) => f.endsWith('.input.yaml')).sort();
t.ok(inputs.length >= 6, 'golden inputs exist');

for (const file of inputs) {
  t.test(file, async (t) => {
    const input = YAML.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const { doc, snapshot } = runGolden(input);
    t.same(consistent(snapshot), [], 'snapshot is consistent');
    for (const [, m] of snapshot.resources) {
      for (const r of m.values()) t.same(validateAny(r.any), [], `${r.name} passes PGV`);
    }
    const text = YAML.stringify(doc, { sortMapEntries: false, lineWidth: 0, aliasDuplicateObjects: false });
    const goldenFile = path.join(dir, file.replace('.input.yaml', '.golden.yaml'));
    if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(goldenFile, text);
    t.equal(text, fs.readFileSync(goldenFile, 'utf8'), 'matches golden file');
    // Determinism: a second run gives byte-identical output.
    t.equal(YAML.stringify(runGolden(input).doc, { sortMapEntries: false, lineWidth: 0, aliasDuplicateObjects: false }), text, 'deterministic');
    if (input.expect) {
      for (const [typeName, names] of Object.entries(input.expect as Record<string, string[]>)) {
        t.same((doc[typeName] ?? []).map((r: any) => r.name ?? r.cluster_name), names, `${typeName} names`);
      }
    }
  });
}
