/**
 * DiscoveryResponse and DeltaDiscoveryResponse written straight to protobuf wire bytes.
 * A mesh-wide change sends every proxy a few responses whose resources are already
 * encoded and shared between proxies; building a message object per response for
 * protobufjs to convert and encode again (fromObject, then copying every resource into
 * a fresh writer) was the largest cost of pushing one. Here each resource's entry (the
 * repeated field's tag, length and Any) is built once per SnapshotResource and a
 * response is one allocation and a copy of those entries.
 *
 * Fields are written in the order protobufjs writes them (by field number), so the
 * bytes are the same as protobufjs's encoding of the same message (tested against it).
 *
 *   DiscoveryResponse      version_info=1 resources=2(Any) type_url=4 nonce=5
 *   DeltaDiscoveryResponse system_version_info=1 resources=2(Resource) type_url=4
 *                          nonce=5 removed_resources=6
 *   Resource               version=1 resource=2(Any) name=3
 *   Any                    type_url=1 value=2
 *
 * With `framed`, the buffer starts with the 5-byte gRPC message prefix (uncompressed,
 * length), so the ADS server sends it without another copy.
 */
import type { SnapshotResource } from '../cache/snapshot';

/** Wire type 2 (length-delimited) tag of a field number. */
const tag = (field: number) => (field << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field holding `len` bytes (tags here fit in one byte). */
function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  bytes(field: number, b: Uint8Array): void {
    this.buf[this.pos++] = tag(field);
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A string field; `s` must be what Buffer.byteLength measured as `len`. */
  string(field: number, s: string, len: number): void {
    this.buf[this.pos++] = tag(field);
    this.varint(len);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

// Responses are carved out of 256 KiB slabs. Buffer.allocUnsafe takes sizes up to 4 KiB
// from an 8 KiB pool and gives larger ones their own ArrayBuffer, so a mesh-wide change
// (three responses of a few KiB per proxy) created an ArrayBuffer every one or two
// responses; that allocation was ~3% of the change's CPU. A slab lives until the last
// response cut from it has been written out.
const SLAB_BYTES = 256 * 1024;
const SLAB_MAX_ALLOC = 32 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/** `size` uninitialized bytes of their own (never shared with another live buffer). */
function alloc(size: number): Buffer {
  if (size > SLAB_MAX_ALLOC) return Buffer.allocUnsafe(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + size);
  slabUsed = (slabUsed + size + 7) & ~7;
  return b;
}

/** A writer for a message of `size` bytes, after the gRPC prefix when `framed`. */
function start(size: number, framed: boolean): Out {
  if (!framed) return new Out(alloc(size));
  const out = new Out(alloc(5 + size));
  out.buf[0] = 0;
  out.buf.writeUInt32BE(size, 1);
  out.pos = 5;
  return out;
}

/** google.protobuf.Any{type_url, value} as the body of field `field`, tag and length included. */
function anyEntry(field: number, typeUrl: string, value: Uint8Array): Buffer {
  const urlLen = Buffer.byteLength(typeUrl);
  const body = fieldSize(urlLen) + fieldSize(value.length);
  const out = new Out(Buffer.allocUnsafe(fieldSize(body)));
  out.buf[out.pos++] = tag(field);
  out.varint(body);
  out.string(1, typeUrl, urlLen);
  out.bytes(2, value);
  return out.buf;
}

const sotwEntries = new WeakMap<SnapshotResource, Buffer>();
const deltaEntries = new WeakMap<SnapshotResource, Buffer>();

/** The resource as one `resources` entry of a DiscoveryResponse (built once per resource). */
function sotwEntry(r: SnapshotResource): Buffer {
  let e = sotwEntries.get(r);
  if (!e) sotwEntries.set(r, (e = anyEntry(2, r.any.type_url, r.any.value)));
  return e;
}

/** The resource as one `resources` entry of a DeltaDiscoveryResponse: Resource{name, version, resource}. */
function deltaEntry(r: SnapshotResource): Buffer {
  let e = deltaEntries.get(r);
  if (!e) {
    const nameLen = Buffer.byteLength(r.name);
    const versionLen = Buffer.byteLength(r.version);
    const any = anyEntry(2, r.any.type_url, r.any.value);
    const body = fieldSize(nameLen) + fieldSize(versionLen) + any.length;
    const out = new Out(Buffer.allocUnsafe(fieldSize(body)));
    out.buf[out.pos++] = tag(2);
    out.varint(body);
    out.string(1, r.version, versionLen);
    out.raw(any);
    out.string(3, r.name, nameLen);
    deltaEntries.set(r, (e = out.buf));
  }
  return e;
}

/** A state-of-the-world DiscoveryResponse. */
export function encodeDiscoveryResponse(m: { version_info: string; resources: readonly SnapshotResource[]; type_url: string; nonce: string }, framed = false): Buffer {
  const entries = m.resources.map(sotwEntry);
  const versionLen = Buffer.byteLength(m.version_info);
  const typeLen = Buffer.byteLength(m.type_url);
  const nonceLen = Buffer.byteLength(m.nonce);
  let size = fieldSize(versionLen) + fieldSize(typeLen) + fieldSize(nonceLen);
  for (const e of entries) size += e.length;
  const out = start(size, framed);
  out.string(1, m.version_info, versionLen);
  for (const e of entries) out.raw(e);
  out.string(4, m.type_url, typeLen);
  out.string(5, m.nonce, nonceLen);
  return out.buf;
}

/** An incremental DeltaDiscoveryResponse. */
export function encodeDeltaDiscoveryResponse(m: {
  system_version_info: string;
  resources: readonly SnapshotResource[];
  type_url: string;
  removed_resources: readonly string[];
  nonce: string;
}, framed = false): Buffer {
  const entries = m.resources.map(deltaEntry);
  const versionLen = Buffer.byteLength(m.system_version_info);
  const typeLen = Buffer.byteLength(m.type_url);
  const nonceLen = Buffer.byteLength(m.nonce);
  const removedLens = m.removed_resources.map((n) => Buffer.byteLength(n));
  let size = fieldSize(versionLen) + fieldSize(typeLen) + fieldSize(nonceLen);
  for (const e of entries) size += e.length;
  for (const len of removedLens) size += fieldSize(len);
  const out = start(size, framed);
  out.string(1, m.system_version_info, versionLen);
  for (const e of entries) out.raw(e);
  out.string(4, m.type_url, typeLen);
  out.string(5, m.nonce, nonceLen);
  m.removed_resources.forEach((n, i) => out.string(6, n, removedLens[i]));
  return out.buf;
}
