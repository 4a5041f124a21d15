/**
 * Fuzzing kit for the Forward input (the issue: "a fuzz test of the decoder:
 * no crash, no hang, memory bounded, other connections unharmed").
 *
 * - `Prng`: seeded (sfc32, seeded through splitmix32). Input i of a run is
 *   made from its own PRNG `forInput(seed, i)`, so one input reproduces from
 *   (seed, i) alone; failing inputs are also printed as hex.
 * - `loadCorpus`: the real Fluent Bit 5.1.1 / Fluentd 1.18 client bytes of
 *   ../shared/fixtures/forward-captures, whole streams and single frames.
 * - mutators (bit flips, insert, delete, truncate, splice, duplicate, huge
 *   length headers) and generators (random bytes, random Forward messages
 *   built token by token with msgpack's odd corners, gzip payloads).
 * - `runConnection`: one connection's bytes through FrameDecoder and
 *   readClientFrame exactly as plugin/forward/server.ts handles them
 *   (Connection.drain / handleFrame; no shared_key), then the two things the
 *   server does later with what it accepted: write `{"ack": chunk}` and
 *   re-encode the entries for the downstream (plugin/forward/client.ts seal).
 *   It checks the properties on the way and predicts the counters the real
 *   server must show, which the TCP test compares with /metrics. When
 *   server.ts or client.ts change what they do with a frame, change it here
 *   too: the TCP test fails while the two disagree.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzip, gunzipSync, gzipSync } from 'node:zlib'
import { promisify } from 'node:util'
import { FluentAnomalyError } from '../../plugin/errors.js'
import { encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { encodeAck, readClientFrame, unpackEntries, type ClientFrame, type Entry, type ForwardOptions } from '../../plugin/forward/protocol.js'
import { CAPTURES } from './captures.js'

// ---- seeded PRNG ----

const splitmix32 = (s: number): () => number => () => {
  s = (s + 0x9e3779b9) >>> 0
  let z = s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export class Prng {
  private a: number; private b: number; private c: number; private d: number
  constructor (seed: number) {
    const next = splitmix32(seed >>> 0)
    this.a = next(); this.b = next(); this.c = next(); this.d = next()
  }

  u32 (): number { // sfc32
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** Integer in [0, n). */
  int (n: number): number { return Math.floor((this.u32() / 0x1_0000_0000) * n) }
  /** Integer in [lo, hi]. */
  range (lo: number, hi: number): number { return lo + this.int(hi - lo + 1) }
  chance (p: number): boolean { return this.u32() / 0x1_0000_0000 < p }
  pick<T> (xs: readonly T[]): T { return xs[this.int(xs.length)] }
  bytes (n: number): Buffer { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff; return b }
}

/** The PRNG of input `i` of a run: reproducible from (seed, i) without replaying the inputs before it. */
export const forInput = (seed: number, i: number, salt = 0): Prng => new Prng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b) ^ salt) >>> 0)

// ---- corpus ----

export interface Corpus { streams: Buffer[], frames: Buffer[], payloads: Buffer[] }

/** Every non-empty client→server capture, its frames, and the entries bytes of its packed frames (gunzipped). */
export function loadCorpus (): Corpus {
  const streams = readdirSync(CAPTURES).filter(f => f.endsWith('.c2s.bin')).sort()
    .map(f => readFileSync(join(CAPTURES, f))).filter(b => b.length > 0)
  const frames: Buffer[] = []
  const payloads: Buffer[] = []
  for (const s of streams) {
    const d = new FrameDecoder(1 << 20)
    d.push(s)
    for (let r = d.next(); r.kind === 'frame'; r = d.next()) {
      frames.push(r.bytes)
      const f = readClientFrame(r.bytes)
      const p = f.kind === 'compressed' ? gunzipSync(f.payload) : f.kind === 'events' && f.mode === 'packed' ? packedPayload(r.bytes) : undefined
      if (p !== undefined) payloads.push(p)
    }
  }
  return { streams, frames, payloads }
}

/** The raw entries bytes of a PackedForward frame (bin8/16/32 or str8/16/32 second element). */
function packedPayload (frame: Buffer): Buffer | undefined {
  const tag = headerAt(frame, frame[0] === 0xdd ? 5 : frame[0] === 0xdc ? 3 : 1)
  if (tag?.kind !== 'str') return undefined
  const p = headerAt(frame, tag.body + tag.len)
  return p !== undefined && (p.kind === 'bin' || p.kind === 'str') ? frame.subarray(p.body, p.body + p.len) : undefined
}

// ---- msgpack headers (a linear token walk: children follow their container) ----

export interface Header { at: number, kind: 'str' | 'bin' | 'array' | 'map' | 'ext', width: 0 | 1 | 2 | 4, len: number, body: number }

function headerAt (b: Uint8Array, p: number): Header | undefined {
  const c = b[p]
  const u = (w: number): number => w === 1 ? b[p + 1] : w === 2 ? (b[p + 1] << 8) | b[p + 2] : ((b[p + 1] << 24) >>> 0) + (b[p + 2] << 16) + (b[p + 3] << 8) + b[p + 4]
  if (c >= 0x80 && c <= 0x8f) return { at: p, kind: 'map', width: 0, len: c & 0x0f, body: p + 1 }
  if (c >= 0x90 && c <= 0x9f) return { at: p, kind: 'array', width: 0, len: c & 0x0f, body: p + 1 }
  if (c >= 0xa0 && c <= 0xbf) return { at: p, kind: 'str', width: 0, len: c & 0x1f, body: p + 1 }
  const w = ({ 0xc4: 1, 0xc5: 2, 0xc6: 4, 0xc7: 1, 0xc8: 2, 0xc9: 4, 0xd9: 1, 0xda: 2, 0xdb: 4, 0xdc: 2, 0xdd: 4, 0xde: 2, 0xdf: 4 } as Record<number, 1 | 2 | 4>)[c]
  if (w === undefined || p + w >= b.length) return undefined
  const kind = c <= 0xc6 ? 'bin' : c <= 0xc9 ? 'ext' : c <= 0xdb ? 'str' : c <= 0xdd ? 'array' : 'map'
  return { at: p, kind, width: w, len: u(w), body: p + 1 + w + (kind === 'ext' ? 1 : 0) }
}

/** Sizes (type byte included) of the fixed-size types among c0..df; any other byte that headerAt does not read counts 1. */
const FIXED: Record<number, number> = { 0xc0: 1, 0xc2: 1, 0xc3: 1, 0xca: 5, 0xcb: 9, 0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, 0xd4: 3, 0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18 }

/** Every str/bin/ext/array/map header in `b`, walking tokens in order (resyncs one byte on garbage). */
export function headers (b: Uint8Array): Header[] {
  const out: Header[] = []
  let p = 0
  while (p < b.length) {
    const h = headerAt(b, p)
    if (h !== undefined) {
      out.push(h)
      p = h.kind === 'array' || h.kind === 'map' ? h.body : h.body + h.len
    } else p += FIXED[b[p]] ?? 1
  }
  return out
}

// ---- mutators ----

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc6, 0xc7, 0xc9, 0xd4, 0xd7, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff]
const u32be = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b }

/** Rewrite one header so it declares a huge (or off-by-some) length; fix-size headers are widened to 32 bits. */
export function hugeLength (rng: Prng, b: Buffer, maxFrame: number): Buffer {
  const hs = headers(b)
  if (hs.length === 0) return b
  const h = rng.pick(hs)
  const len = rng.pick([0xffff_ffff, 0x8000_0000, 0x7fff_ffff, maxFrame + 1, maxFrame, Math.max(0, maxFrame - h.at - 6), h.len + 1, h.len * 2 + 1, 0x1_0000, 0])
  const wide = { str: 0xdb, bin: 0xc6, ext: 0xc9, array: 0xdd, map: 0xdf }[h.kind]
  const typeByte = h.kind === 'ext' ? b.subarray(h.body - 1, h.body) : Buffer.alloc(0)
  return Buffer.concat([b.subarray(0, h.at), Buffer.from([wide]), u32be(len), typeByte, b.subarray(h.body)])
}

type Mutator = (rng: Prng, b: Buffer, other: Buffer) => Buffer
const MUTATORS: Record<string, Mutator> = {
  'bit-flip': (rng, b) => { const c = Buffer.from(b); for (let k = rng.range(1, 4); k > 0 && c.length > 0; k--) c[rng.int(c.length)] ^= 1 << rng.int(8); return c },
  'set-byte': (rng, b) => { const c = Buffer.from(b); if (c.length > 0) c[rng.int(c.length)] = rng.chance(0.7) ? rng.pick(INTERESTING) : rng.int(256); return c },
  insert: (rng, b) => { const p = rng.int(b.length + 1); return Buffer.concat([b.subarray(0, p), rng.bytes(rng.range(1, 16)), b.subarray(p)]) },
  delete: (rng, b) => { const p = rng.int(b.length + 1); return Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + rng.range(1, 16)))]) },
  truncate: (rng, b) => b.subarray(0, rng.int(b.length + 1)),
  splice: (rng, b, o) => Buffer.concat([b.subarray(0, rng.int(b.length + 1)), o.subarray(rng.int(o.length + 1))]),
  duplicate: (rng, b) => { const i = rng.int(b.length + 1); const j = Math.min(b.length, i + rng.range(1, 64)); const k = rng.int(b.length + 1); return Buffer.concat([b.subarray(0, k), b.subarray(i, j), b.subarray(k)]) },
}

/** 1 to 4 stacked mutations of a capture stream or frame; `name` lists them. */
export function mutate (rng: Prng, corpus: Corpus, maxFrame: number): { name: string, bytes: Buffer } {
  const pool = rng.chance(0.5) ? corpus.streams : corpus.frames
  let b = rng.pick(pool)
  const names: string[] = []
  for (let k = rng.range(1, 4); k > 0; k--) {
    if (rng.chance(0.12)) { b = hugeLength(rng, b, maxFrame); names.push('huge-length'); continue }
    const name = rng.pick(Object.keys(MUTATORS))
    b = MUTATORS[name](rng, b, rng.pick(corpus.streams))
    names.push(name)
  }
  return { name: names.join('+'), bytes: b }
}

// ---- generators ----

/** Random bytes; half start like a Forward message ([tag, ...) so the noise reaches deeper code. */
export function randomBytes (rng: Prng): Buffer {
  const n = rng.chance(0.6) ? rng.range(0, 64) : rng.chance(0.8) ? rng.range(64, 1024) : rng.range(1024, 16384)
  const noise = rng.bytes(n)
  return rng.chance(0.5) ? Buffer.concat([Buffer.from([rng.pick([0x92, 0x93, 0x94]), 0xa4, 0x66, 0x75, 0x7a, 0x7a]), noise]) : noise
}

/**
 * Token writer for hand-built msgpack, including what encoders never write:
 * msgpackr's own extension types (0x42 BigInt, 0x65 Error, 0x69/0x70
 * structured-clone id/pointer, 0x73 Set, 0x74 typed array, 0x78 RegExp,
 * 0x62 bundled strings, 0x72 record definition), wrong-size EventTime,
 * invalid UTF-8, non-string map keys, deep nesting, wrong option types.
 */
class Gen {
  private readonly out: Buffer[] = []
  private ids = 0
  constructor (private readonly rng: Prng) {}
  bytes (): Buffer { return Buffer.concat(this.out) }
  raw (...b: Array<number | Buffer>): void { for (const x of b) this.out.push(typeof x === 'number' ? Buffer.from([x]) : x) }
  str (s: Buffer): void { const n = s.length; this.raw(n < 32 ? 0xa0 | n : n < 256 ? Buffer.from([0xd9, n]) : Buffer.from([0xda, n >> 8, n & 0xff]), s) }
  array (n: number): void { this.raw(n < 16 ? 0x90 | n : Buffer.concat([Buffer.from([0xdd]), u32be(n)])) }
  map (n: number): void { this.raw(n < 16 ? 0x80 | n : Buffer.concat([Buffer.from([0xdf]), u32be(n)])) }
  eventTime (): void { this.raw(0xd7, 0x00, u32be(this.rng.u32()), u32be(this.rng.int(1_000_000_000))) }

  value (depth: number): void {
    const r = this.rng
    switch (r.int(depth > 3 ? 9 : 12)) {
      case 0: this.raw(r.pick([0x00, 0x2a, 0x7f, 0xe0, 0xff, 0xc0, 0xc2, 0xc3])); return
      case 1: { const [h, n] = r.pick([[0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8], [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8]] as const); this.raw(h, r.bytes(n)); return }
      case 2: this.raw(0xcb, r.pick([Buffer.from('7ff8000000000000', 'hex'), Buffer.from('7ff0000000000000', 'hex'), Buffer.from('41d954fc40000000', 'hex'), r.bytes(8)])); return
      case 3: this.str(r.chance(0.7) ? Buffer.from(`v${r.u32().toString(36)}`) : r.bytes(r.range(0, 40))); return
      case 4: { const n = r.range(0, 40); this.raw(0xc4, n, r.bytes(n)); return }
      case 5: this.eventTime(); return
      case 6: this.ext(); return
      case 7: if (r.chance(0.3)) { this.nest(r.range(1, 3000)); return } this.value(depth); return
      case 8: this.reference(depth); return
      case 9: case 10: { const n = r.range(0, 4); this.array(n); for (let i = 0; i < n; i++) this.value(depth + 1); return }
      default: { const n = r.range(0, 4); this.map(n); for (let i = 0; i < n; i++) { this.key(); this.value(depth + 1) } }
    }
  }

  key (): void {
    if (this.rng.chance(0.85)) this.str(Buffer.from(this.rng.pick(['log', 'message', 'n', 'kind', 'nested', '__proto__', 'constructor', 'a'])))
    else this.value(4)
  }

  /** An ext with an interesting type and a random-length payload, fixext or ext8. */
  ext (): void {
    const r = this.rng
    const type = r.pick([0x00, 0xff, 0x42, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78, 0x62, 0x72, r.int(256)])
    const fix = [[0xd4, 1], [0xd5, 2], [0xd6, 4], [0xd7, 8], [0xd8, 16]] as const
    if (r.chance(0.7)) { const [h, n] = r.pick(fix); this.raw(h, type, r.bytes(n)) } else { const n = r.range(0, 40); this.raw(0xc7, n, type, r.bytes(n)) }
    if (type === 0x65 || type === 0x78 || type === 0x73 || type === 0x62) this.value(4) // these read the next object too
  }

  /** msgpackr structured clone: an id (0x69) on a container that may point (0x70) at itself or at an earlier id. */
  reference (depth: number): void {
    const r = this.rng
    if (this.ids > 0 && r.chance(0.5)) { this.raw(0xd6, 0x70, u32be(r.range(1, this.ids + 1))); return }
    const id = ++this.ids
    this.raw(0xd6, 0x69, u32be(id))
    const n = r.range(1, 3)
    this.array(n)
    for (let i = 0; i < n; i++) { if (r.chance(0.6)) this.raw(0xd6, 0x70, u32be(r.range(1, id))); else this.value(depth + 1) }
  }

  nest (d: number): void {
    const b: number[] = []
    for (let i = 0; i < d; i++) { if (this.rng.chance(0.5)) b.push(0x91); else b.push(0x81, 0xa1, 0x6b) }
    this.raw(Buffer.from(b), 0x01)
  }

  time (): void {
    const r = this.rng.int(10)
    if (r < 5) this.eventTime(); else if (r < 7) this.raw(0xce, u32be(this.rng.u32())); else if (r < 8) this.raw(0xcb, this.rng.bytes(8)); else this.value(3)
  }

  record (): void { const n = this.rng.range(0, 5); this.map(n); for (let i = 0; i < n; i++) { this.key(); this.value(1) } }

  entry (): void {
    const r = this.rng.int(10)
    if (r < 5) { this.array(2); this.time(); this.record() } else if (r < 8) { this.array(2); this.array(2); this.time(); this.record(); this.record() } else this.value(1)
  }

  options (compressed: boolean): void {
    const r = this.rng
    const keys = ['chunk', 'size', 'compressed', 'fluent_signal'].filter(() => r.chance(0.6))
    if (compressed && !keys.includes('compressed')) keys.push('compressed')
    this.map(keys.length)
    for (const k of keys) {
      this.str(Buffer.from(k))
      if (r.chance(0.2)) { this.value(2); continue } // wrong type: a chunk that is an int, a map, nil ...
      if (k === 'chunk') this.str(Buffer.from(r.bytes(16).toString('base64')))
      else if (k === 'compressed') this.str(Buffer.from(compressed ? 'gzip' : 'text'))
      else this.raw(r.int(128))
    }
  }
}

/** A random Forward message (any mode), token by token; valid structure most of the time. */
export function grammarFrame (rng: Prng): Buffer {
  const g = new Gen(rng)
  const mode = rng.int(5)
  const withOptions = rng.chance(0.7)
  const tag = (): void => { if (rng.chance(0.9)) g.str(Buffer.from(`fuzz.g${rng.int(4)}`)); else g.value(3) }
  const entries = (): Buffer => { const e = new Gen(rng); for (let n = rng.range(1, 4); n > 0; n--) e.entry(); return e.bytes() }
  if (mode === 0) { g.array(withOptions ? 4 : 3); tag(); g.time(); g.record(); if (withOptions) g.options(false) } else if (mode === 1) {
    const n = rng.range(0, 4)
    g.array(withOptions ? 3 : 2); tag(); g.array(n); for (let i = 0; i < n; i++) g.entry(); if (withOptions) g.options(false)
  } else if (mode === 2 || mode === 3) {
    const gz = mode === 3
    const p = entries()
    const body = gz ? gzipSync(p) : p
    g.array(withOptions || gz ? 3 : 2); tag()
    if (rng.chance(0.5)) g.raw(0xc6, u32be(body.length), body); else g.raw(0xdb, u32be(body.length), body)
    if (withOptions || gz) g.options(gz)
  } else g.value(0)
  return g.bytes()
}

/** CompressedPackedForward frames with gzip that is corrupt, truncated, multi-member, or a bomb past `maxInflate`. */
export function gzipFrame (rng: Prng, corpus: Corpus, maxInflate: number): { name: string, bytes: Buffer } {
  const payload = rng.pick(corpus.payloads)
  const good = gzipSync(payload)
  const variants: Record<string, () => Buffer> = {
    'bit-flip': () => { const c = Buffer.from(good); c[rng.int(c.length)] ^= 1 << rng.int(8); return c },
    truncated: () => good.subarray(0, rng.int(good.length)),
    'trailing-garbage': () => Buffer.concat([good, rng.bytes(rng.range(1, 32))]),
    'second-member-corrupt': () => { const c = Buffer.from(good); c[rng.range(10, c.length - 1)] ^= 0xff; return Buffer.concat([good, c]) },
    'bomb-zeros': () => bomb(`zeros ${maxInflate}`, () => Buffer.alloc(maxInflate + 1)),
    'bomb-entries': () => bomb(`entries ${maxInflate} ${corpus.payloads.indexOf(payload)}`, () => Buffer.concat(Array.from({ length: Math.ceil((maxInflate + 1) / payload.length) }, () => payload))),
    'not-msgpack': () => gzipSync(rng.bytes(rng.range(1, 256))),
    empty: () => Buffer.alloc(0),
    'raw-deflate': () => good.subarray(10, good.length - 8), // the deflate stream without gzip header and trailer
  }
  const name = rng.pick(Object.keys(variants))
  const z = variants[name]()
  const head = Buffer.from([0x93, 0xa8, ...Buffer.from('fuzz.gzp'), 0xc6])
  return { name, bytes: Buffer.concat([head, u32be(z.length), z, encode({ compressed: 'gzip', chunk: `gz${rng.u32()}` })]) }
}

const bombs = new Map<string, Buffer>()
/** Gzip bombs are the same every time: compress each once (6 MB each by default). */
const bomb = (key: string, make: () => Buffer): Buffer => {
  let z = bombs.get(key)
  if (z === undefined) { z = gzipSync(make()); bombs.set(key, z) }
  return z
}

/** [tag, ...] messages whose record, entries, packed payload, options or gzip payload nest `depth` arrays or maps. */
export function depthBomb (depth: number, where: 'record' | 'entries' | 'packed' | 'options' | 'gzip', kind: 'array' | 'map'): Buffer {
  const nest = Buffer.concat([kind === 'array' ? Buffer.alloc(depth, 0x91) : Buffer.alloc(depth * 3, 0).fill(Buffer.from([0x81, 0xa1, 0x6b])), Buffer.from([0x01])])
  const rec = Buffer.concat([Buffer.from([0x81, 0xa1, 0x6b]), nest]) // {k: <nest>}
  const entry = Buffer.concat([Buffer.from([0x92, 0x01]), rec])
  const tag = Buffer.from([0xa6, ...Buffer.from('fuzz.d')])
  const bin = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0xc6]), u32be(b.length), b])
  switch (where) {
    case 'record': return Buffer.concat([Buffer.from([0x93]), tag, Buffer.from([0x01]), rec])
    case 'entries': return Buffer.concat([Buffer.from([0x92]), tag, Buffer.from([0x91]), entry])
    case 'packed': return Buffer.concat([Buffer.from([0x92]), tag, bin(entry)])
    case 'options': return Buffer.concat([Buffer.from([0x93]), tag, Buffer.from([0x90]), rec])
    case 'gzip': return Buffer.concat([Buffer.from([0x93]), tag, bin(gzipSync(entry)), encode({ compressed: 'gzip' })])
  }
}

/**
 * A PackedForward frame whose one record is a chain of `levels` msgpackr
 * structured-clone ids, each an array of two pointers to the one before:
 * about 15 bytes per level on the wire, 2^levels elements once decoded and
 * re-encoded.
 */
export function dagFrame (levels: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0x92, 0x01, 0x81, 0xa1, 0x61, 0xdc, levels >> 8, levels & 0xff]), Buffer.from([0xd6, 0x69]), u32be(1), Buffer.from([0x92, 0x00, 0x00])]
  for (let k = 2; k <= levels; k++) parts.push(Buffer.from([0xd6, 0x69]), u32be(k), Buffer.from([0x92, 0xd6, 0x70]), u32be(k - 1), Buffer.from([0xd6, 0x70]), u32be(k - 1))
  const payload = Buffer.concat(parts)
  return Buffer.concat([Buffer.from([0x92, 0xa8, ...Buffer.from('fuzz.dag'), 0xc6]), u32be(payload.length), payload])
}

// ---- the oracle: one connection, as the server handles it ----

export interface Limits { maxFrame: number, maxInflate: number, retainMetadata: boolean }

/** How far a re-encoded entry may outgrow its input: invalid UTF-8 becomes U+FFFD (x3), a nil map key "null" (x5). */
export const MAX_GROWTH = 8

export interface Violation { property: string, detail: string }

export interface Outcome {
  frames: number
  /** sha1 over the frames' bytes: equal whatever the TCP reads were. */
  digest: string
  /** The code the server closes the connection with, if it does. */
  fatal?: string
  skipped: Record<string, number>
  accepted: number
  rejected: number
  /** Exception classes thrown by readClientFrame / unpackEntries (the server maps them to a code). */
  thrown: Record<string, number>
  violations: Violation[]
}

const FATAL_DECODER_CODES = new Set(['FWD_MALFORMED', 'FWD_FRAME_TOO_LARGE'])
const errText = (e: unknown): string => e instanceof Error ? `${e.constructor.name}: ${e.message.slice(0, 160)}` : `non-Error thrown: ${String(e)}`

// The server's own inflate call. (Not gunzipSync: on a corrupt payload it
// leaks its zlib state, about 10 KB a call, which would blur the memory check.)
const gunzipAsync = promisify(gunzip)

/** Run `bytes` through the decoder as one connection receiving them in the reads that `cuts` mark. */
export async function runConnection (bytes: Uint8Array, limits: Limits, cuts: number[] = []): Promise<Outcome> {
  const out: Outcome = { frames: 0, digest: '', skipped: {}, accepted: 0, rejected: 0, thrown: {}, violations: [] }
  const hash = createHash('sha1')
  const d = new FrameDecoder(limits.maxFrame)
  let from = 0
  reads: for (const to of [...cuts, bytes.length]) {
    try { d.push(bytes.subarray(from, to)) } catch (e) { out.violations.push({ property: 'decoder never throws', detail: `push: ${errText(e)}` }); break }
    from = to
    for (let guard = bytes.length + 1; ; guard--) {
      if (guard < 0) { out.violations.push({ property: 'decoder makes progress', detail: `more frames than bytes at offset ${to}` }); break reads }
      let r
      try { r = d.next() } catch (e) { out.violations.push({ property: 'decoder never throws', detail: `next: ${errText(e)}` }); break reads }
      if (r.kind === 'need-more') {
        if (d.buffered > limits.maxFrame) out.violations.push({ property: 'buffer bounded by max_frame_size', detail: `${d.buffered} bytes buffered` })
        break
      }
      if (r.kind === 'error') {
        if (!(r.error instanceof FluentAnomalyError) || !FATAL_DECODER_CODES.has(r.error.code)) out.violations.push({ property: 'only stable error codes', detail: errText(r.error) })
        out.fatal = r.error.code
        break reads
      }
      if (r.bytes.length === 0 || r.bytes.length > limits.maxFrame) out.violations.push({ property: 'decoder makes progress', detail: `frame of ${r.bytes.length} bytes` })
      out.frames++
      hash.update(r.bytes)
      if (await handleFrame(r.bytes, limits, out)) break reads
    }
  }
  out.digest = hash.digest('hex')
  return out
}

/** server.ts handleFrame without a handshake. True when the server closes the connection. */
async function handleFrame (bytes: Buffer, limits: Limits, out: Outcome): Promise<boolean> {
  let frame: ClientFrame
  try {
    frame = readClientFrame(bytes)
  } catch (e) {
    noteThrow(out, e)
    out.fatal = 'FWD_MALFORMED'
    return true
  }
  const skip = (code: string): void => { out.skipped[code] = (out.skipped[code] ?? 0) + 1 }
  switch (frame.kind) {
    case 'nil': return false
    case 'ping': case 'invalid': skip('FWD_BAD_MESSAGE'); return false
    case 'events': submit(out, limits, frame.options, frame.entries, frame.rejected, bytes.length); return false
    case 'compressed': {
      let inflated: Buffer
      try {
        inflated = await gunzipAsync(frame.payload, { maxOutputLength: limits.maxInflate })
      } catch (e) {
        const err = e as NodeJS.ErrnoException
        if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) { out.fatal = 'FWD_DECOMPRESSED_TOO_LARGE'; return true }
        skip('FWD_BAD_GZIP')
        return false
      }
      let unpacked
      try { unpacked = unpackEntries(inflated) } catch (e) { noteThrow(out, e); skip('FWD_BAD_MESSAGE'); return false }
      submit(out, limits, frame.options, unpacked.entries, unpacked.rejected, Math.max(bytes.length, inflated.length))
      return false
    }
  }
}

function noteThrow (out: Outcome, e: unknown): void {
  if (!(e instanceof Error)) out.violations.push({ property: 'only Error instances thrown', detail: errText(e) })
  const name = e instanceof Error ? e.constructor.name : typeof e
  out.thrown[name] = (out.thrown[name] ?? 0) + 1
}

/**
 * What happens to accepted entries later, off this call stack: server.ts
 * writes `encodeAck(options.chunk)` in a promise callback once the
 * downstream acked, and client.ts `seal` encodes the entries in a
 * setImmediate. A throw in either is uncaught: the process exits.
 */
function submit (out: Outcome, limits: Limits, options: ForwardOptions, entries: Entry[], rejected: number, inBytes: number): void {
  out.rejected += rejected
  out.accepted += entries.length
  const chunk: unknown = options.chunk
  if (chunk !== undefined) {
    const property = 'options.chunk of an accepted frame is a string or bytes, and its ack can be written'
    const type = chunk === null ? 'nil' : typeof chunk === 'object' ? (chunk as object).constructor.name : typeof chunk
    try {
      encodeAck(chunk as string)
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) out.violations.push({ property, detail: `chunk is ${type}` })
    } catch (e) { out.violations.push({ property, detail: `chunk is ${type}: ${errText(e)}` }) }
  }
  if (entries.length === 0) return
  const wire = entries.map(e => limits.retainMetadata && e.metadata !== undefined ? [[e.time, e.metadata], e.record] : [e.time, e.record])
  const budget = MAX_GROWTH * inBytes + 256
  const m = measure(wire, budget)
  if (m === 'cycle') { out.violations.push({ property: 'accepted entries can be re-emitted', detail: 'an entry holds a cycle (encoding it recurses without end)' }); return }
  if (m > budget) { out.violations.push({ property: 'memory bounded: re-emitted size within MAX_GROWTH x input', detail: `a ${inBytes}-byte input re-encodes to more than ${budget} bytes` }); return }
  try { encode(wire) } catch (e) { out.violations.push({ property: 'accepted entries can be re-emitted', detail: `encode: ${errText(e)}` }) }
}

/**
 * Upper bound of the encoded size of `root`, walked without recursion and
 * without encoding; stops past `budget` (a 500-byte input can describe a DAG
 * of 2^30 nodes) and on a cycle.
 */
export function measure (root: unknown, budget: number): number | 'cycle' {
  const onPath = new Set<object>()
  const stack: Array<[unknown, boolean]> = [[root, false]]
  let size = 0
  while (stack.length > 0) {
    const [v, leaving] = stack.pop() as [unknown, boolean]
    if (leaving) { onPath.delete(v as object); continue }
    size += 1
    if (size > budget) return size
    if (typeof v === 'string') size += 3 * v.length
    else if (typeof v === 'number' || typeof v === 'bigint') size += 8
    else if (ArrayBuffer.isView(v)) size += v.byteLength
    else if (v instanceof EventTime) size += 9
    else if (typeof v === 'object' && v !== null) {
      if (onPath.has(v)) return 'cycle'
      onPath.add(v)
      stack.push([v, true])
      const children: unknown[] = Array.isArray(v) ? v : v instanceof Map ? [...v].flat() : v instanceof Set ? [...v] : Object.entries(v).flat()
      for (const c of children) stack.push([c, false])
    }
  }
  return size
}
