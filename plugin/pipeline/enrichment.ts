/**
 * Fields a stage adds to a record on its way out, kept as msgpack bytes.
 *
 * The scoring stage gives every record of a window the same anomaly fields
 * but for its template. Building a new record object per line and packing it
 * again was most of the sidecar's per-record cost, so the fields are encoded
 * once per window and once per template, and the output splices those bytes
 * after the record as it arrived (plugin/forward/pack-entries.ts). The record
 * object itself is left as it came in; `outputRecord` gives the record as it
 * is re-emitted, for anything that wants it as an object.
 */
import { decode } from '../forward/codec.js'

export interface Enrichment {
  /** The top-level keys the pairs add, in order. */
  readonly keys: readonly string[]
  /** `keys.length` msgpack key/value pairs, concatenated, in pieces shared between records. */
  readonly parts: readonly Uint8Array[]
}

/** msgpack map header for `n` pairs. */
export function mapHeader (n: number): Buffer {
  if (n < 16) return Buffer.from([0x80 | n])
  if (n < 0x10000) return Buffer.from([0xde, n >> 8, n & 0xff])
  const b = Buffer.allocUnsafe(5)
  b[0] = 0xdf
  b.writeUInt32BE(n, 1)
  return b
}

/** The added fields as an object. */
export function enrichmentFields (e: Enrichment): Record<string, unknown> {
  return decode(Buffer.concat([mapHeader(e.keys.length), ...e.parts])) as Record<string, unknown>
}

/** The record with the added fields (an added key replaces one the record had). */
export function outputRecord (ev: { record: Record<string, unknown>, enrichment?: Enrichment }): Record<string, unknown> {
  return ev.enrichment === undefined ? ev.record : { ...ev.record, ...enrichmentFields(ev.enrichment) }
}
