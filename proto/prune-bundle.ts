/**
 * Pure: cuts a protobufjs JSON bundle down to the message types, enums and services
 * reachable from a list of roots (through field types, map values and RPC request and
 * response types). kuma-dp decodes five xDS resource types and the extensions inside
 * them; building a protobufjs Root for the whole Envoy bundle costs it megabytes of
 * heap it never uses (issue 4, idle RSS). The kept nodes are copied from the input as
 * they are, in the input's key order, so the same input gives a byte-identical bundle.
 */
import * as protobuf from 'protobufjs';

/** JSON form of any protobufjs reflection node (namespace, type, enum, service, field). */
type JsonNode = { nested?: Record<string, JsonNode>; fields?: unknown; values?: unknown; methods?: unknown; extend?: string; [k: string]: unknown };

/** The full names (no leading dot) of every type, enum and service reachable from `roots`. */
export function reachableNames(root: protobuf.Root, roots: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const queue: protobuf.ReflectionObject[] = [];
  const visit = (o: protobuf.ReflectionObject | null | undefined) => {
    if (!o) return;
    const name = o.fullName.replace(/^\./, '');
    if (seen.has(name)) return;
    seen.add(name);
    queue.push(o);
  };
  for (const name of roots) {
    const o = root.lookup(name);
    if (!(o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service)) {
      throw new Error(`prune roots: "${name}" is not a message, enum or service of the bundle`);
    }
    visit(o);
  }
  while (queue.length) {
    const o = queue.pop()!;
    if (o instanceof protobuf.Type) {
      for (const f of o.fieldsArray) visit(f.resolve().resolvedType);
    } else if (o instanceof protobuf.Service) {
      for (const m of o.methodsArray) {
        m.resolve();
        visit(m.resolvedRequestType);
        visit(m.resolvedResponseType);
      }
    }
  }
  return seen;
}

/**
 * The bundle with only what `roots` reach. A kept node keeps all its own properties
 * (fields, options, oneofs); an unreached message or namespace that encloses a kept
 * one stays as a bare namespace, so full names do not change. Extension fields
 * (`extend`) are dropped: custom options stay plain JSON on the nodes that carry them.
 */
export function pruneBundle(bundle: protobuf.INamespace, roots: readonly string[]): protobuf.INamespace {
  const root = protobuf.Root.fromJSON(bundle);
  root.resolveAll();
  const keep = reachableNames(root, roots);
  const walk = (node: JsonNode, prefix: string): JsonNode | undefined => {
    const nested: Record<string, JsonNode> = {};
    for (const [k, child] of Object.entries(node.nested ?? {})) {
      if (child.extend !== undefined) continue;
      const name = prefix ? `${prefix}.${k}` : k;
      const inner = walk(child, name);
      if (keep.has(name)) {
        const copy: JsonNode = { ...child };
        delete copy.nested;
        if (inner?.nested) copy.nested = inner.nested;
        nested[k] = copy;
      } else if (inner?.nested) {
        nested[k] = child.options !== undefined && isNamespace(child) ? { options: child.options, nested: inner.nested } : { nested: inner.nested };
      }
    }
    return Object.keys(nested).length ? { nested } : undefined;
  };
  const out = walk(bundle as JsonNode, '');
  return (out ?? { nested: {} }) as protobuf.INamespace;
}

function isNamespace(n: JsonNode): boolean {
  return n.fields === undefined && n.values === undefined && n.methods === undefined;
}
