/**
 * The PackedForward payload of one output chunk: its entries, `[time, record]`
 * or `[[time, metadata], record]`, concatenated.
 *
 * Entries without added fields: one msgpackr call for the whole chunk (pack
 * them as an array, drop the array header). An entry carrying an Enrichment
 * (plugin/pipeline/enrichment.ts) is spliced: the entry is packed as it
 * arrived, the record's map header is rewritten to count the extra pairs and
 * their bytes follow the record's own pairs. Hand-written because msgpackr
 * has no way to insert pre-encoded bytes into what it packs. A record that
 * already has one of the added keys is merged as objects instead, so the
 * output never holds a key twice.
 */
import type { LogEvent } from '../pipeline/stage.js'
import { mapHeader, outputRecord, readMapHeader, type Enrichment } from '../pipeline/enrichment.js'
import { encode } from './codec.js'
import { skipObject } from './msgpack-frame.js'

const wire = (e: LogEvent, retain: boolean, record = e.record): unknown[] =>
  retain && e.metadata !== undefined ? [[e.time, e.metadata], record] : [e.time, record]

const arrayHeaderLength = (b: number): number => b <= 0x9f ? 1 : b === 0xdc ? 3 : 5

function collides (record: Record<string, unknown>, keys: readonly string[]): boolean {
  for (const k of keys) if (Object.hasOwn(record, k)) return true
  return false
}

class Writer {
  private buf: Buffer
  private at = 0
  constructor (capacity: number) { this.buf = Buffer.allocUnsafe(Math.max(256, capacity)) }
  put (b: Uint8Array): void {
    if (this.at + b.length > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + b.length))
      this.buf.copy(next, 0, 0, this.at)
      this.buf = next
    }
    this.buf.set(b, this.at)
    this.at += b.length
  }

  done (): Buffer { return this.buf.subarray(0, this.at) }
}

/** One entry with its added fields spliced in. */
function putSpliced (w: Writer, e: LogEvent, en: Enrichment, retain: boolean): void {
  const entry = encode(wire(e, retain))
  // entry = 0x92, head (time, or [time, metadata]), record map
  const at = entry[1] === 0xd7 && entry[2] === 0x00 ? 11 : skipObject(entry, 1) // fixext8 EventTime: 10 bytes
  const { n, head } = readMapHeader(entry, at)
  w.put(entry.subarray(0, at))
  w.put(mapHeader(n + en.keys.length))
  w.put(entry.subarray(at + head))
  for (const p of en.parts) w.put(p)
}

/** The chunk payload for `events`; `sizeHint`: expected bytes. */
export function packEntries (events: readonly LogEvent[], retain: boolean, sizeHint = 0): Buffer {
  let enriched = false
  for (const e of events) if (e.enrichment !== undefined) { enriched = true; break }
  if (!enriched) {
    const packed = encode(events.map(e => wire(e, retain)))
    return packed.subarray(arrayHeaderLength(packed[0]))
  }
  const w = new Writer(sizeHint)
  for (const e of events) {
    const en = e.enrichment
    if (en === undefined) w.put(encode(wire(e, retain)))
    else if (collides(e.record, en.keys)) w.put(encode(wire(e, retain, outputRecord(e))))
    else putSpliced(w, e, en, retain)
  }
  return w.done()
}
