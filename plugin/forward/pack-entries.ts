/**
 * The PackedForward payload of one output chunk: its entries, `[time, record]`
 * or `[[time, metadata], record]`, concatenated.
 *
 * An entry still held as the bytes it arrived in (wire-entry.ts) is copied as
 * it came; runs of such entries that lay side by side in one frame are copied
 * in one piece. An entry carrying an Enrichment (plugin/pipeline/enrichment.ts)
 * is spliced: the record's map header is rewritten to count the extra pairs
 * and their bytes follow the record's own pairs. Entries that exist only as
 * objects (HTTP input, disk-buffer replay, an edited record) are packed by
 * msgpackr, spliced the same way when enriched. Hand-written because msgpackr
 * has no way to insert pre-encoded bytes into what it packs. A record that
 * already has one of the added keys is merged as objects instead, so the
 * output never holds a key twice.
 */
import type { LogEvent } from '../pipeline/stage.js'
import { outputRecord, type Enrichment } from '../pipeline/enrichment.js'
import { ByteWriter } from './byte-writer.js'
import { encode } from './codec.js'
import { arrayHeaderAt, readMapHeader, skipObject } from './msgpack-frame.js'
import { hasAnyKey, WireEntry } from './wire-entry.js'

const wire = (e: LogEvent, retain: boolean, record = e.record): unknown[] =>
  retain && e.metadata !== undefined ? [[e.time, e.metadata], record] : [e.time, record]

/** Still its bytes as received, the bytes say what the entry is. */
const asWire = (e: LogEvent): WireEntry | undefined => e instanceof WireEntry && e.pristine ? e : undefined

function collides (e: LogEvent, keys: readonly string[]): boolean {
  const w = asWire(e)
  if (w !== undefined) return hasAnyKey(w, keys)
  for (const k of keys) if (Object.hasOwn(e.record, k)) return true
  return false
}

/** One entry with its added fields spliced in; `entry` = 0x92, head (time, or [time, metadata]), record map from `at`. */
function putSpliced (w: ByteWriter, entry: Uint8Array, at: number, end: number, en: Enrichment): void {
  const { n, head } = readMapHeader(entry, at)
  w.mapHeader(n + en.keys.length)
  w.range(entry, at + head, end)
  for (const p of en.parts) w.put(p)
}

/** A received entry, its metadata dropped unless `retain`, with `en` spliced in when given. */
function putWire (w: ByteWriter, e: WireEntry, retain: boolean, en: Enrichment | undefined): void {
  w.byte(0x92)
  if (e.hasMetadata && !retain) w.range(e.buf, e.timeAt, e.timeEnd)
  else w.range(e.buf, e.headAt, e.recordAt)
  if (en === undefined) w.range(e.buf, e.recordAt, e.end)
  else putSpliced(w, e.buf, e.recordAt, e.end, en)
}

/** An object entry, `en` spliced in when given. */
function putObject (w: ByteWriter, e: LogEvent, retain: boolean, en: Enrichment | undefined): void {
  const entry = encode(wire(e, retain))
  if (en === undefined) { w.put(entry); return }
  const at = entry[1] === 0xd7 && entry[2] === 0x00 ? 11 : skipObject(entry, 1) // fixext8 EventTime: 10 bytes
  w.range(entry, 0, at)
  putSpliced(w, entry, at, entry.length, en)
}

/** The chunk payload for `events`; `sizeHint`: expected bytes. */
export function packEntries (events: readonly LogEvent[], retain: boolean, sizeHint = 0): Buffer {
  let objectsOnly = true
  for (const e of events) if (e.enrichment !== undefined || asWire(e) !== undefined) { objectsOnly = false; break }
  if (objectsOnly) {
    // one msgpackr call for the whole chunk: pack the entries as an array, drop its header
    const packed = encode(events.map(e => wire(e, retain)))
    return packed.subarray((arrayHeaderAt(packed, 0) as { head: number }).head)
  }
  const w = new ByteWriter(sizeHint)
  // a run of received entries, unchanged and adjacent in one frame: copied in one piece at the end of it
  let run: Buffer | undefined
  let runStart = 0
  let runEnd = 0
  for (const e of events) {
    const en = e.enrichment
    const raw = asWire(e)
    if (raw !== undefined && en === undefined && raw.entryAt >= 0 && (retain || !raw.hasMetadata)) {
      if (run === raw.buf && runEnd === raw.entryAt) { runEnd = raw.end; continue }
      if (run !== undefined) w.range(run, runStart, runEnd)
      run = raw.buf; runStart = raw.entryAt; runEnd = raw.end
      continue
    }
    if (run !== undefined) { w.range(run, runStart, runEnd); run = undefined }
    if (en !== undefined && collides(e, en.keys)) w.put(encode(wire(e, retain, outputRecord(e))))
    else if (raw !== undefined) putWire(w, raw, retain, en)
    else putObject(w, e, retain, en)
  }
  if (run !== undefined) w.range(run, runStart, runEnd)
  return w.done()
}
