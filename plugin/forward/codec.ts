/**
 * The one msgpackr configuration every Forward peer needs.
 * - `useRecords: false`, `structuredClone`-free: plain msgpack maps and arrays,
 *   which Fluent Bit and Fluentd can read (msgpackr's record extension cannot).
 * - ext type 0 <-> EventTime (otherwise msgpackr decodes it to `undefined`).
 * - `encodeUndefinedAsNil`: msgpackr would otherwise write `undefined` as
 *   ext type 0, which a peer reads as a broken EventTime.
 * - `int64AsType: 'auto'`: 64-bit integers stay exact (BigInt past 2^53).
 * - `mapsAsObjects`: records arrive as plain objects (keys stringified).
 */
import { Packr, Unpackr, addExtension } from 'msgpackr'
import { EventTime } from './event-time.js'

// `type` is the string '0' on purpose: msgpackr's addExtension rejects a
// falsy numeric type (`!extension.type`), while both of its code paths use
// the value only as a byte / array index, where '0' becomes 0. The tests pin
// the resulting bytes (`d7 00 ...`).
addExtension({
  Class: EventTime,
  type: '0' as unknown as number,
  pack (t: EventTime) { return t.toBuffer() },
  unpack (buf: Uint8Array) { return EventTime.fromBuffer(buf) },
})

// msgpackr decodes its own extension types (0x42 BigInt beyond 64 bits, 0x65
// Error, 0x69 / 0x70 structured-clone ids and pointers, 0x73 Set, 0x74 typed
// arrays, 0x78 RegExp, 0x62 ArrayBuffer) whatever the options. None is part
// of the Forward protocol, and from a peer they are an attack: pointers build
// cycles and DAGs that re-encode into unbounded output or overflow the stack
// (found by test/forward/fuzz.test.ts). A frame holding one fails to decode
// (FWD_MALFORMED / FWD_BAD_MESSAGE). Ext 0 (EventTime) and -1 (timestamp) stay.
export const FOREIGN_EXTENSION_TYPES = [0x42, 0x62, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78] as const
for (const type of FOREIGN_EXTENSION_TYPES) {
  addExtension({ type, unpack () { throw new Error(`msgpack extension type 0x${type.toString(16)} is not part of the Forward protocol`) } } as unknown as Parameters<typeof addExtension>[0])
}

// 'auto' (number when safe, BigInt beyond) is supported by msgpackr's
// unpack.js but missing from its .d.ts, hence the cast below.
const options = {
  useRecords: false,
  mapsAsObjects: true,
  encodeUndefinedAsNil: true,
  int64AsType: 'auto' as unknown as 'number',
  // Binary payloads (PackedForward entries) must not alias the read buffer,
  // which the decoder reuses.
  copyBuffers: true,
  moreTypes: false,
}

export const packr = new Packr(options)
export const unpackr = new Unpackr(options)

export const encode = (value: unknown): Buffer => packr.pack(value)
export const decode = (bytes: Uint8Array): unknown => unpackr.unpack(bytes)

/** Decode a stream of concatenated msgpack objects (PackedForward entries). */
export const decodeMany = (bytes: Uint8Array): unknown[] => {
  const out = unpackr.unpackMultiple(bytes) as unknown[] | undefined
  return out ?? []
}
