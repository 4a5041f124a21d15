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
