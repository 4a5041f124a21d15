/**
 * Entries kept as the bytes they arrived in.
 *
 * The sidecar reads one field of a record (its log line) and re-emits the
 * record unchanged but for the fields it adds. Decoding every record into an
 * object and packing it again was the largest part of the relay's cost and
 * kept an object graph per held record for the garbage collector to trace.
 * A WireEntry instead points at its bytes in the received frame: `time`,
 * `record` and `metadata` decode on first use, the log line is read straight
 * from the bytes (`stringField`), and the output copies the bytes as they came
 * (pack-entries.ts), so a record leaves byte for byte as it arrived.
 *
 * Only the usual form takes this path: `[time, record]` or
 * `[[time, metadata], record]` with an EventTime (fixext8 ext 0) or unsigned
 * integer time, maps nested at most MAX_RECORD_DEPTH deep, and no msgpack
 * extension inside. Anything else (float times, extensions, bad shapes) is
 * left to msgpackr and `toEntry`, so what is accepted or refused is unchanged.
 *
 * `time`, `record` and `metadata` are accessors: copy them by name (a spread
 * `{ ...entry }` copies none of them).
 *
 * Memory: a WireEntry keeps its frame alive until it is released; a chunk's
 * frame is freed when its last record has left, which is also when the chunk
 * can be acknowledged.
 *
 * Hand-written: msgpackr decodes values but gives no way to keep or copy a
 * value's bytes. Format: https://github.com/msgpack/msgpack/blob/master/spec.md
 */
import type { Entry, FluentRecordBody, Time } from './protocol.js'
import { decode } from './codec.js'
import { EventTime } from './event-time.js'
import { readMapHeader, strHead, strLen, u32 } from './msgpack-frame.js'

/**
 * Deepest nesting of maps and arrays accepted in a record or its metadata.
 * Real records (Kubernetes metadata included) stay under 10 levels; a deeper
 * one is refused as a bad entry, because re-encoding a record nested a few
 * thousand levels deep overflows the stack (found by the fuzz test).
 */
export const MAX_RECORD_DEPTH = 64

const isMapHeader = (b: number): boolean => (b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf

/** Items still to read per open container, and whether it is a map (`skipPlain` is not reentrant; JS is single-threaded). */
const stack = new Float64Array(MAX_RECORD_DEPTH + 1)
const stackIsMap = new Uint8Array(MAX_RECORD_DEPTH + 1)

/** Whether msgpackr can decode a map key starting with `b` into an object key: str, number, bool or nil. */
const plainKey = (b: number): boolean => b <= 0x7f || b >= 0xe0 || (b >= 0xa0 && b <= 0xbf) || b === 0xc0 || b === 0xc2 || b === 0xc3 || (b >= 0xca && b <= 0xd3) || (b >= 0xd9 && b <= 0xdb)

/**
 * End of the msgpack value at `pos`, or -1 when it is truncated before `end`,
 * malformed, holds a container more than `maxDepth` levels deep (the value
 * itself is level 1), holds an extension, or has a map key that msgpackr
 * cannot make an object key of (bin, map, array). Those are left to msgpackr,
 * which refuses them as it always did.
 */
export function skipPlain (buf: Uint8Array, pos: number, end: number, maxDepth = MAX_RECORD_DEPTH): number {
  let depth = 0
  let left = 1
  let inMap = false
  for (;;) {
    if (pos >= end) return -1
    const b = buf[pos]
    if (inMap && (left & 1) === 0 && !plainKey(b)) return -1
    let n = -1
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) pos += 1
    else if (b <= 0x8f) { n = (b & 0x0f) * 2; pos += 1 } else if (b <= 0x9f) { n = b & 0x0f; pos += 1 } else if (b <= 0xbf) pos += 1 + (b & 0x1f)
    else {
      switch (b) {
        case 0xc4: case 0xd9: pos += 2 + buf[pos + 1]; break
        case 0xc5: case 0xda: pos += 3 + ((buf[pos + 1] << 8) | buf[pos + 2]); break
        case 0xc6: case 0xdb: pos += 5 + u32(buf, pos + 1); break
        case 0xca: pos += 5; break
        case 0xcb: pos += 9; break
        case 0xcc: case 0xd0: pos += 2; break
        case 0xcd: case 0xd1: pos += 3; break
        case 0xce: case 0xd2: pos += 5; break
        case 0xcf: case 0xd3: pos += 9; break
        case 0xdc: n = (buf[pos + 1] << 8) | buf[pos + 2]; pos += 3; break
        case 0xdd: n = u32(buf, pos + 1); pos += 5; break
        case 0xde: n = ((buf[pos + 1] << 8) | buf[pos + 2]) * 2; pos += 3; break
        case 0xdf: n = u32(buf, pos + 1) * 2; pos += 5; break
        default: return -1 // 0xc1 (never used) and the extension types
      }
    }
    if (!(pos <= end)) return -1 // also NaN, from a header cut off at `end`
    left--
    if (n >= 0) {
      if (depth === maxDepth) return -1
      stackIsMap[depth] = inMap ? 1 : 0
      stack[depth++] = left
      left = n
      inMap = b <= 0x8f || b >= 0xde
    }
    while (left === 0) {
      if (depth === 0) return pos
      left = stack[--depth]
      inMap = stackIsMap[depth] === 1
    }
  }
}

/** End of an EventTime (fixext8 ext 0) or unsigned integer (up to 32 bits) at `pos`, else -1. */
function timeEnd (buf: Uint8Array, pos: number): number {
  const b = buf[pos]
  if (b <= 0x7f) return pos + 1
  if (b === 0xd7) return buf[pos + 1] === 0x00 ? pos + 10 : -1
  if (b === 0xcc) return pos + 2
  if (b === 0xcd) return pos + 3
  if (b === 0xce) return pos + 5
  return -1
}

function readTime (buf: Uint8Array, pos: number): Time {
  const b = buf[pos]
  if (b <= 0x7f) return b
  if (b === 0xd7) return new EventTime(u32(buf, pos + 2), u32(buf, pos + 6))
  if (b === 0xcc) return buf[pos + 1]
  if (b === 0xcd) return (buf[pos + 1] << 8) | buf[pos + 2]
  return u32(buf, pos + 1)
}

export class WireEntry implements Entry {
  // Set by the pipeline (LogEvent); declared here so every entry has one shape.
  tag = ''
  receipt: unknown = undefined
  enrichment: unknown = undefined
  private t: Time | undefined = undefined
  private r: FluentRecordBody | undefined = undefined
  private m: FluentRecordBody | null | undefined = undefined
  /** False once the record or metadata was decoded or replaced: from then on the objects, not the bytes, say what the entry is. */
  pristine = true

  /**
   * `buf[headAt, recordAt)` is the time or `[time, metadata]`, `buf[recordAt, end)`
   * the record map; `entryAt` is where the entry's own `[…]` header starts (-1
   * in Message mode, where time and record are elements of the message).
   */
  constructor (readonly buf: Buffer, readonly entryAt: number, readonly headAt: number, readonly recordAt: number, readonly end: number) {}

  get hasMetadata (): boolean { return this.buf[this.headAt] === 0x92 }
  get timeAt (): number { return this.hasMetadata ? this.headAt + 1 : this.headAt }
  get timeEnd (): number { return timeEnd(this.buf, this.timeAt) }

  get time (): Time { return (this.t ??= readTime(this.buf, this.timeAt)) }
  set time (v: Time) { this.t = v; this.pristine = false }

  get record (): FluentRecordBody {
    this.pristine = false
    return (this.r ??= decode(this.buf.subarray(this.recordAt, this.end)) as FluentRecordBody)
  }

  set record (v: FluentRecordBody) { this.r = v; this.pristine = false }

  get metadata (): FluentRecordBody | undefined {
    if (this.m === undefined) {
      this.pristine = false
      this.m = this.hasMetadata ? decode(this.buf.subarray(this.timeEnd, this.recordAt)) as FluentRecordBody : null
    }
    return this.m ?? undefined
  }

  set metadata (v: FluentRecordBody | undefined) { this.m = v ?? null; this.pristine = false }
}

/**
 * The entry at `buf[pos]` if it has the usual form (see the top of this
 * file) and ends at or before `end`; undefined otherwise.
 */
export function scanEntry (buf: Buffer, pos: number, end: number): WireEntry | undefined {
  if (buf[pos] !== 0x92) return undefined
  const headAt = pos + 1
  let recordAt: number
  if (buf[headAt] === 0x92) {
    const te = timeEnd(buf, headAt + 1)
    if (te < 0 || !isMapHeader(buf[te])) return undefined
    recordAt = skipPlain(buf, te, end)
  } else {
    recordAt = timeEnd(buf, headAt)
  }
  if (recordAt < 0 || recordAt >= end || !isMapHeader(buf[recordAt])) return undefined
  const e = skipPlain(buf, recordAt, end)
  return e < 0 ? undefined : new WireEntry(buf, pos, headAt, recordAt, e)
}

/** `count` entries (all of them when undefined) from `buf[pos, end)`; undefined unless every one has the usual form and they fill the range exactly. */
export function scanEntries (bytes: Uint8Array, pos: number, end: number, count?: number): WireEntry[] | undefined {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: WireEntry[] = []
  while (pos < end && (count === undefined || out.length < count)) {
    const e = scanEntry(buf, pos, end)
    if (e === undefined) return undefined
    out.push(e)
    pos = e.end
  }
  if (pos !== end || (count !== undefined && out.length !== count)) return undefined
  return out
}

/** A Message-mode entry: time at `timeAt`, record map from `recordAt` to `end`. */
export function messageEntry (bytes: Uint8Array, timeAt: number, recordAt: number, end: number): WireEntry | undefined {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (timeEnd(buf, timeAt) !== recordAt || !isMapHeader(buf[recordAt])) return undefined
  return skipPlain(buf, recordAt, end) === end ? new WireEntry(buf, -1, timeAt, recordAt, end) : undefined
}

const keyBytes = new Map<string, Buffer>()
const bytesOf = (key: string): Buffer => {
  let b = keyBytes.get(key)
  if (b === undefined) { b = Buffer.from(key, 'utf8'); if (keyBytes.size < 1024) keyBytes.set(key, b) }
  return b
}

/** The UTF-8 bytes of each key, once per key list (the sidecar's lists are fixed: message keys, enrichment keys). */
const keyLists = new WeakMap<readonly string[], Buffer[]>()
const bytesOfAll = (keys: readonly string[]): Buffer[] => {
  let b = keyLists.get(keys)
  if (b === undefined) { b = keys.map(bytesOf); keyLists.set(keys, b) }
  return b
}

function sameBytes (buf: Uint8Array, at: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (buf[at + i] !== key[i]) return false
  return true
}

/**
 * For each of `keys`, the value offset of its last occurrence among the
 * record's str keys (the last wins, as when the record is decoded), or -1.
 * Runs once or twice per record, so it allocates nothing: the offsets go into
 * `found` (at least keys.length long), which the caller owns.
 */
function valueOffsets (e: WireEntry, keys: readonly string[], found: Int32Array): void {
  const { buf, end } = e
  const want = bytesOfAll(keys)
  found.fill(-1, 0, keys.length)
  const { n, head } = readMapHeader(buf, e.recordAt)
  let p = e.recordAt + head
  for (let i = 0; i < n; i++) {
    const v = skipPlain(buf, p, end)
    const h = strHead(buf, p)
    if (h > 0) {
      const len = strLen(buf, p, h)
      for (let k = 0; k < want.length; k++) {
        if (want[k].length === len && sameBytes(buf, p + h, want[k])) found[k] = v
      }
    }
    p = skipPlain(buf, v, end)
  }
}

/** Scratch offsets for the usual few keys (JavaScript runs one call at a time); more keys get their own array. */
const scratch = new Int32Array(16)
const offsetsFor = (n: number): Int32Array => n <= scratch.length ? scratch : new Int32Array(n)

/** The record's first of `keys` holding a str (decoded as UTF-8) or bin value, without decoding the record. */
export function stringField (e: WireEntry, keys: readonly string[]): string | Uint8Array | undefined {
  const at = offsetsFor(keys.length)
  valueOffsets(e, keys, at)
  for (let k = 0; k < keys.length; k++) {
    const v = at[k]
    if (v < 0) continue
    const h = strHead(e.buf, v)
    if (h > 0) return e.buf.toString('utf8', v + h, v + h + strLen(e.buf, v, h))
    const b = e.buf[v]
    if (b === 0xc4 || b === 0xc5 || b === 0xc6) return decode(e.buf.subarray(v, skipPlain(e.buf, v, e.end))) as Uint8Array
  }
  return undefined
}

/** One key list per key, so `valueOffsets` finds its bytes cached (keyLists is keyed by the list). */
const oneKey = new Map<string, readonly string[]>()

/** The value of the record's `key` (a str key; the last one when repeated), decoded alone, without decoding the record; undefined when absent. */
export function fieldValue (e: WireEntry, key: string): unknown {
  let keys = oneKey.get(key)
  if (keys === undefined) { keys = [key]; if (oneKey.size < 1024) oneKey.set(key, keys) }
  const at = offsetsFor(1)
  valueOffsets(e, keys, at)
  return at[0] < 0 ? undefined : decode(e.buf.subarray(at[0], skipPlain(e.buf, at[0], e.end)))
}

/** Whether the record has any of `keys` (as str keys). */
export function hasAnyKey (e: WireEntry, keys: readonly string[]): boolean {
  const at = offsetsFor(keys.length)
  valueOffsets(e, keys, at)
  for (let k = 0; k < keys.length; k++) if (at[k] >= 0) return true
  return false
}
