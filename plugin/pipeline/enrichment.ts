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
import { ByteWriter } from '../forward/byte-writer.js'
import { decode } from '../forward/codec.js'

export interface Enrichment {
  /** The top-level keys the pairs add, in order. */
  readonly keys: readonly string[]
  /** `keys.length` msgpack key/value pairs, concatenated, in pieces shared between records. */
  readonly parts: readonly Uint8Array[]
}

/** msgpack map header for `n` pairs (written by ByteWriter, as the output writes it). */
export function mapHeader (n: number): Buffer {
  const w = new ByteWriter(5)
  w.mapHeader(n)
  return Buffer.from(w.done())
}

/** The added fields as an object. */
export function enrichmentFields (e: Enrichment): Record<string, unknown> {
  return decode(Buffer.concat([mapHeader(e.keys.length), ...e.parts])) as Record<string, unknown>
}

/** The record with the added fields (an added key replaces one the record had). */
export function outputRecord (ev: { record: Record<string, unknown>, enrichment?: Enrichment }): Record<string, unknown> {
  return ev.enrichment === undefined ? ev.record : { ...ev.record, ...enrichmentFields(ev.enrichment) }
}
