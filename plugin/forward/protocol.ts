/**
 * The Fluent Forward protocol v1 as types, guards and one normaliser.
 * Spec: https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1
 * Real-peer quirks (see ../shared/fixtures/forward-captures/README.md):
 * - Fluent Bit >= 5.0.4 sends entries as `[[time, metadata], record]`.
 * - Fluentd sends the PackedForward payload as msgpack *str*, not bin.
 * - Fluentd's chunk id ends in a newline; the ack must echo it byte for byte.
 * - CompressedPackedForward may hold several concatenated gzip members.
 */
import { EventTime } from './event-time.js'
import { decode, decodeMany } from './codec.js'
import { arrayElementOffsets, arrayHeaderAt, mapEntryOffsets, rawStrOrBin } from './msgpack-frame.js'
import { MAX_RECORD_DEPTH, messageEntry, scanEntries } from './wire-entry.js'

/** EventTime (ext 0) or integer seconds. Floats are accepted and become EventTime. */
export type Time = EventTime | number
export type FluentRecordBody = Record<string, unknown>

/** Options map, the last element of every mode ([spec: option](https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#option)). */
export interface ForwardOptions {
  size?: number
  /** Ack request; echoed back as `{ack: chunk}`. A string (usual) or bytes. */
  chunk?: string | Uint8Array
  /** `gzip` for CompressedPackedForward; Fluentd sends `text` when not compressing. */
  compressed?: 'gzip' | 'text'
  fluent_signal?: number
  [key: string]: unknown
}

// The four transport modes as they are on the wire (tuples), for reference and guards.
/** [spec: Message Mode](https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#message-modes) */
export type MessageMode = [tag: string, time: Time, record: FluentRecordBody, options?: ForwardOptions]
/** [spec: Forward Mode](https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#forward-mode) */
export type ForwardMode = [tag: string, entries: WireEntry[], options?: ForwardOptions]
/** [spec: PackedForward Mode](https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#packedforward-mode) */
export type PackedForwardMode = [tag: string, entries: Uint8Array, options?: ForwardOptions]
/** [spec: CompressedPackedForward Mode](https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#compressedpackedforward-mode) */
export type CompressedPackedForwardMode = [tag: string, entries: Uint8Array, options: ForwardOptions & { compressed: 'gzip' }]
/** `[time, record]` (spec) or `[[time, metadata], record]` (Fluent Bit v2 event format). */
export type WireEntry = [Time, FluentRecordBody] | [[Time, FluentRecordBody], FluentRecordBody]

/** One event, normalised. `metadata` is present only when the peer sent the v2 form. */
export interface Entry {
  time: Time
  record: FluentRecordBody
  metadata?: FluentRecordBody
}

export type Mode = 'message' | 'forward' | 'packed' | 'compressed'

/** What one frame from a client turned out to be. */
export type ClientFrame =
  | { kind: 'nil' } // health check (Fluentd's `heartbeat_type transport` never sends one; some monitors do)
  | { kind: 'ping', elements: Uint8Array[] } // raw str/bin payloads of the PING array
  | { kind: 'events', mode: Mode, tag: string, options: ForwardOptions, entries: Entry[], rejected: number }
  /** Packed payload still to be inflated (gzip) before its entries can be read. */
  | { kind: 'compressed', tag: string, options: ForwardOptions, payload: Uint8Array }
  | { kind: 'invalid', reason: string }

const isStrHeader = (b: number): boolean => (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)
const isBinHeader = (b: number): boolean => b >= 0xc4 && b <= 0xc6

export const isRecord = (v: unknown): v is FluentRecordBody =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof EventTime)

/** Normalise a wire time. Returns undefined when it is not a time. */
export function toTime (t: unknown): Time | undefined {
  if (t instanceof EventTime) return t
  if (typeof t === 'number' && Number.isFinite(t) && t >= 0) return Number.isInteger(t) ? t : EventTime.fromFloat(t)
  if (typeof t === 'bigint' && t >= 0n) return Number(t)
  return undefined
}

export { MAX_RECORD_DEPTH } from './wire-entry.js'

/** True when `v` nests maps / arrays more than `left` levels deep. */
function tooDeep (v: unknown, left: number): boolean {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v instanceof EventTime) return false
  if (left === 0) return true
  if (Array.isArray(v)) {
    for (const x of v) if (tooDeep(x, left - 1)) return true
    return false
  }
  for (const k in v) if (tooDeep((v as Record<string, unknown>)[k], left - 1)) return true
  return false
}

/** Normalise one wire entry; undefined when its shape is wrong (or it nests deeper than MAX_RECORD_DEPTH). */
export function toEntry (e: unknown): Entry | undefined {
  if (!Array.isArray(e) || e.length !== 2 || !isRecord(e[1]) || tooDeep(e[1], MAX_RECORD_DEPTH)) return undefined
  const head = e[0]
  if (Array.isArray(head)) {
    // Fluent Bit v2: [[time, metadata], record]
    if (head.length !== 2 || !isRecord(head[1]) || tooDeep(head[1], MAX_RECORD_DEPTH)) return undefined
    const time = toTime(head[0])
    return time === undefined ? undefined : { time, metadata: head[1], record: e[1] }
  }
  const time = toTime(head)
  return time === undefined ? undefined : { time, record: e[1] }
}

/**
 * Entries from a PackedForward payload: concatenated msgpack entries. Throws
 * on malformed msgpack. Entries of the usual form stay as their bytes
 * (wire-entry.ts); a payload with anything else is decoded as a whole.
 */
export function unpackEntries (payload: Uint8Array): { entries: Entry[], rejected: number } {
  const wire = scanEntries(payload, 0, payload.length)
  if (wire !== undefined) return { entries: wire, rejected: 0 }
  const entries: Entry[] = []
  let rejected = 0
  for (const raw of decodeMany(payload)) {
    const e = toEntry(raw)
    if (e === undefined) rejected++
    else entries.push(e)
  }
  return { entries, rejected }
}

/** The options map; undefined when it is not a map or its chunk id is not a string or bytes (it could not be acked). */
function toOptions (v: unknown): ForwardOptions | undefined {
  if (v === undefined || v === null) return {}
  if (!isRecord(v)) return undefined
  const chunk = (v as { chunk?: unknown }).chunk
  if (chunk !== undefined && typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return undefined
  return v as ForwardOptions
}

/**
 * Classify and decode one complete top-level msgpack object sent by a client.
 * Throws only for msgpack that the frame scanner accepted but msgpackr cannot
 * decode (treated as malformed by the caller).
 */
export function readClientFrame (frame: Uint8Array): ClientFrame {
  if (frame[0] === 0xc0) return { kind: 'nil' }
  const offs = arrayElementOffsets(frame)
  if (offs === undefined) return { kind: 'invalid', reason: 'top-level object is not an array' }
  const n = offs.length
  const el = (i: number): Uint8Array => frame.subarray(offs[i], i + 1 < n ? offs[i + 1] : frame.length)
  if (n < 2 || !isStrHeader(frame[offs[0]])) return { kind: 'invalid', reason: `expected [tag, ...] with a string tag, got an array of ${n}` }
  const tag = decode(el(0)) as string
  if (tag === 'PING' && n === 6) {
    const elements = offs.map((o, i) => rawStrOrBin(frame, o) ?? el(i))
    return { kind: 'ping', elements }
  }
  const second = frame[offs[1]]
  const entriesHeader = arrayHeaderAt(frame, offs[1])
  if (entriesHeader !== undefined) {
    if (n > 3) return { kind: 'invalid', reason: `Forward mode with ${n} elements` }
    const options = n === 3 ? toOptions(decode(el(2))) : {}
    if (options === undefined) return { kind: 'invalid', reason: 'options is not a map with a string chunk id' }
    const kept = scanEntries(frame, offs[1] + entriesHeader.head, n === 3 ? offs[2] : frame.length, entriesHeader.n)
    if (kept !== undefined) return { kind: 'events', mode: 'forward', tag, options, entries: kept, rejected: 0 }
    const wire = decode(el(1)) as unknown[]
    const entries: Entry[] = []
    let rejected = 0
    for (const w of wire) {
      const e = toEntry(w)
      if (e === undefined) rejected++
      else entries.push(e)
    }
    return { kind: 'events', mode: 'forward', tag, options, entries, rejected }
  }
  if (isStrHeader(second) || isBinHeader(second)) {
    if (n > 3) return { kind: 'invalid', reason: `PackedForward mode with ${n} elements` }
    const options = n === 3 ? toOptions(decode(el(2))) : {}
    if (options === undefined) return { kind: 'invalid', reason: 'options is not a map with a string chunk id' }
    // Raw bytes whether the peer typed the payload as bin or (Fluentd) str.
    const payload = rawStrOrBin(frame, offs[1])
    if (payload === undefined) return { kind: 'invalid', reason: 'truncated payload' }
    if (options.compressed === 'gzip') return { kind: 'compressed', tag, options, payload }
    const { entries, rejected } = unpackEntries(payload)
    return { kind: 'events', mode: 'packed', tag, options, entries, rejected }
  }
  // Message mode: [tag, time, record, options?]
  if (n !== 3 && n !== 4) return { kind: 'invalid', reason: `Message mode with ${n} elements` }
  const options = n === 4 ? toOptions(decode(el(3))) : {}
  if (options === undefined) return { kind: 'invalid', reason: 'options is not a map with a string chunk id' }
  const kept = messageEntry(frame, offs[1], offs[2], n === 4 ? offs[3] : frame.length)
  if (kept !== undefined) return { kind: 'events', mode: 'message', tag, options, entries: [kept], rejected: 0 }
  const entry = toEntry([decode(el(1)), decode(el(2))])
  return entry === undefined
    ? { kind: 'events', mode: 'message', tag, options, entries: [], rejected: 1 }
    : { kind: 'events', mode: 'message', tag, options, entries: [entry], rejected: 0 }
}

// ---- server → client messages, each encoded to one buffer (one write) ----

/** msgpack str or bin with the minimal header, bytes unchanged. */
export function encodeRaw (bytes: Uint8Array, as: 'str' | 'bin'): Buffer {
  const n = bytes.length
  let head: number[]
  if (as === 'str') {
    head = n < 32 ? [0xa0 | n] : n < 0x100 ? [0xd9, n] : n < 0x10000 ? [0xda, n >> 8, n & 0xff] : [0xdb, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
  } else {
    head = n < 0x100 ? [0xc4, n] : n < 0x10000 ? [0xc5, n >> 8, n & 0xff] : [0xc6, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
  }
  return Buffer.concat([Buffer.from(head), bytes])
}

const ACK_PREFIX = Buffer.from([0x81, 0xa3, 0x61, 0x63, 0x6b]) // fixmap(1) "ack"

/** `{"ack": chunk}` exactly as Fluent Bit and Fluentd in_forward write it. */
export function encodeAck (chunk: string | Uint8Array): Buffer {
  const body = typeof chunk === 'string' ? encodeRaw(Buffer.from(chunk, 'utf8'), 'str') : encodeRaw(chunk, 'bin')
  return Buffer.concat([ACK_PREFIX, body])
}

// ---- client side: what a server sends us ----

/**
 * HELO `["HELO", {nonce, auth?, keepalive?}]` with nonce and auth as raw
 * bytes (Fluent Bit sends them as str holding random bytes; Fluentd as bin).
 */
export function readHelo (frame: Uint8Array): { nonce: Uint8Array, auth?: Uint8Array } | undefined {
  const offs = arrayElementOffsets(frame)
  if (offs === undefined || offs.length !== 2) return undefined
  if (decode(frame.subarray(offs[0], offs[1])) !== 'HELO') return undefined
  const pairs = mapEntryOffsets(frame, offs[1])
  if (pairs === undefined) return undefined
  let nonce: Uint8Array | undefined
  let auth: Uint8Array | undefined
  for (const [k, v] of pairs) {
    const key = rawStrOrBin(frame, k)
    if (key === undefined) continue
    const name = Buffer.from(key).toString('latin1')
    if (name === 'nonce') nonce = rawStrOrBin(frame, v)
    else if (name === 'auth') auth = rawStrOrBin(frame, v)
  }
  return nonce === undefined ? undefined : { nonce, auth: auth !== undefined && auth.length > 0 ? auth : undefined }
}
