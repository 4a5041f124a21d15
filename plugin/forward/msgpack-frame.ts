/**
 * Finds where one top-level msgpack object ends in a byte stream, without
 * decoding it, so the Forward decoder can (1) tell "need more bytes" from
 * "malformed", (2) refuse an oversized frame as soon as its header says so,
 * and (3) resume scanning where it stopped when more bytes arrive (linear in
 * the frame size however it is split across TCP reads).
 *
 * Hand-written because msgpackr has no incremental boundary detection: its
 * `incomplete` error forces a re-parse from the start of the frame on every
 * read, which is quadratic for a 6 MB frame arriving in 64 KB reads.
 * Format: https://github.com/msgpack/msgpack/blob/master/spec.md
 */

export type ScanStep =
  | { kind: 'done', end: number }
  | { kind: 'need-more' }
  | { kind: 'malformed', at: number, byte: number }
  | { kind: 'too-large', declared: number }

/** Resumable scan state of one frame: where we are and how many objects are still owed. */
export class FrameScanner {
  /** Offset (relative to the frame start) of the next header to read. */
  pos = 0
  /** Objects still to read before the top-level one is complete. */
  pending = 1

  constructor (private readonly maxFrame: number) {}

  reset (): void { this.pos = 0; this.pending = 1 }

  /**
   * Advance over `buf[base + pos .. base + len)`. `len` is how many bytes of
   * the frame are buffered so far.
   */
  scan (buf: Uint8Array, base: number, len: number): ScanStep {
    const max = this.maxFrame
    let pos = this.pos
    let pending = this.pending
    while (pending > 0) {
      if (pos >= len) break
      const b = buf[base + pos]
      let head = 1 // header bytes
      let body = 0 // payload bytes that follow the header
      let children = 0 // objects contained (arrays: n, maps: 2n)
      if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
        // fixint, nil, bool
      } else if (b <= 0x8f) { children = (b & 0x0f) * 2
      } else if (b <= 0x9f) { children = b & 0x0f
      } else if (b <= 0xbf) { body = b & 0x1f
      } else {
        const need = HEADER_LEN[b - 0xc0]
        if (need === 0) return { kind: 'malformed', at: pos, byte: b }
        if (pos + need > len) break
        const p = base + pos + 1
        head = need
        switch (b) {
          case 0xc4: case 0xc7: case 0xd9: body = buf[p]; break // bin8, ext8 (+type), str8
          case 0xc5: case 0xc8: case 0xda: body = (buf[p] << 8) | buf[p + 1]; break
          case 0xc6: case 0xc9: case 0xdb: body = u32(buf, p); break
          case 0xdc: children = (buf[p] << 8) | buf[p + 1]; break
          case 0xdd: children = u32(buf, p); break
          case 0xde: children = ((buf[p] << 8) | buf[p + 1]) * 2; break
          case 0xdf: children = u32(buf, p) * 2; break
          default: break // fixed-size scalars and fixext: HEADER_LEN covers them
        }
      }
      pos += head + body
      pending += children - 1
      // Every pending object takes at least one byte: refuse early when the
      // declared sizes cannot fit (a 4 GiB str32 header, a 2^32 array32).
      if (pos + pending > max) {
        this.pos = pos; this.pending = pending
        return { kind: 'too-large', declared: pos + pending }
      }
    }
    this.pos = pos
    this.pending = pending
    if (pending === 0 && pos <= len) return { kind: 'done', end: pos }
    return { kind: 'need-more' }
  }
}

export const u32 = (b: Uint8Array, p: number): number =>
  ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3]

/**
 * Header length (type byte included) for 0xc0..0xdf; 0 = never used (0xc1).
 * Fixed-size scalars count their payload here too.
 */
const HEADER_LEN = new Uint8Array([
  1, 0, 1, 1, //  c0 nil, c1 unused, c2 false, c3 true
  2, 3, 5, //     c4-c6 bin8/16/32 (+len)
  3, 4, 6, //     c7-c9 ext8/16/32 (+len +type)
  5, 9, //        ca float32, cb float64
  2, 3, 5, 9, //  cc-cf uint8..64
  2, 3, 5, 9, //  d0-d3 int8..64
  3, 4, 6, 10, 18, // d4-d8 fixext1/2/4/8/16 (type + data)
  2, 3, 5, //     d9-db str8/16/32 (+len)
  3, 5, //        dc array16, dd array32
  3, 5, //        de map16, df map32
])

/** Offset just past the object at `pos` in a complete buffer, or -1 if it does not fit / is malformed. */
export function skipObject (buf: Uint8Array, pos: number, end = buf.length): number {
  const s = new FrameScanner(Number.MAX_SAFE_INTEGER)
  const r = s.scan(buf, pos, end - pos)
  return r.kind === 'done' ? pos + r.end : -1
}

/** Header length of the str or bin at `pos` (1 for a fixstr, else 2, 3 or 5 bytes), 0 for any other type. */
function strOrBinHead (buf: Uint8Array, pos: number): number {
  const b = buf[pos]
  if (b >= 0xa0 && b <= 0xbf) return 1
  return b === 0xd9 || b === 0xc4 ? 2 : b === 0xda || b === 0xc5 ? 3 : b === 0xdb || b === 0xc6 ? 5 : 0
}

/** Header length of the str at `pos` (1, 2, 3 or 5 bytes), 0 for any other type, bin included (no allocation, for per-record lookups). */
export function strHead (buf: Uint8Array, pos: number): number {
  const b = buf[pos]
  return b >= 0xc4 && b <= 0xc6 ? 0 : strOrBinHead(buf, pos)
}

/** Payload length of the str or bin at `pos` whose header is `head` bytes long (str and bin lay out their lengths alike). */
export function strLen (buf: Uint8Array, pos: number, head: number): number {
  return head === 1 ? buf[pos] & 0x1f : head === 2 ? buf[pos + 1] : head === 3 ? (buf[pos + 1] << 8) | buf[pos + 2] : u32(buf, pos + 1)
}

/** Payload offset and length of the str or bin at `pos` (`bin`: which of the two); undefined for any other type. */
export function strOrBinAt (buf: Uint8Array, pos: number): { at: number, len: number, bin: boolean } | undefined {
  const head = strOrBinHead(buf, pos)
  if (head === 0) return undefined
  const b = buf[pos]
  return { at: pos + head, len: strLen(buf, pos, head), bin: b >= 0xc4 && b <= 0xc6 }
}

/**
 * Raw payload of a str or bin object at `pos` (the bytes as sent, not decoded
 * as UTF-8). The handshake needs this: Fluent Bit sends its nonce, auth salt
 * and PING salt as msgpack *str* holding random, non-UTF-8 bytes.
 */
export function rawStrOrBin (buf: Uint8Array, pos: number): Uint8Array | undefined {
  const s = strOrBinAt(buf, pos)
  if (s === undefined || s.at + s.len > buf.length) return undefined
  return buf.subarray(s.at, s.at + s.len)
}

/**
 * Count and header length of a container at `pos` whose fix form is
 * `fix`..`fix + 15` and whose 16-bit form is `c16` (the 32-bit form is
 * `c16 + 1`): arrays and maps are laid out alike.
 */
function containerHeaderAt (buf: Uint8Array, pos: number, fix: number, c16: number): { n: number, head: number } | undefined {
  const b = buf[pos]
  if (b >= fix && b <= fix + 0x0f) return { n: b & 0x0f, head: 1 }
  if (b === c16) return { n: (buf[pos + 1] << 8) | buf[pos + 2], head: 3 }
  if (b === c16 + 1) return { n: u32(buf, pos + 1), head: 5 }
  return undefined
}

/** Element count and header length of the array at `pos`; undefined when it is not an array. */
export const arrayHeaderAt = (buf: Uint8Array, pos: number): { n: number, head: number } | undefined => containerHeaderAt(buf, pos, 0x90, 0xdc)

/** Pair count and header length of the map at `pos`; undefined when it is not a map. */
export const mapHeaderAt = (buf: Uint8Array, pos: number): { n: number, head: number } | undefined => containerHeaderAt(buf, pos, 0x80, 0xde)

/** `mapHeaderAt` for a map known to be there: throws when it is not. */
export function readMapHeader (buf: Uint8Array, pos: number): { n: number, head: number } {
  const h = mapHeaderAt(buf, pos)
  if (h === undefined) throw new Error(`not a msgpack map (0x${buf[pos].toString(16)})`)
  return h
}

/** Byte offsets of each element of the top-level array at the start of `frame`. */
export function arrayElementOffsets (frame: Uint8Array): number[] | undefined {
  const h = arrayHeaderAt(frame, 0)
  if (h === undefined) return undefined
  let pos = h.head
  const out: number[] = []
  for (let i = 0; i < h.n; i++) {
    out.push(pos)
    pos = skipObject(frame, pos)
    if (pos < 0) return undefined
  }
  return out
}

/** For the map at `pos`: [keyOffset, valueOffset] pairs. */
export function mapEntryOffsets (buf: Uint8Array, pos: number): Array<[number, number]> | undefined {
  const h = mapHeaderAt(buf, pos)
  if (h === undefined) return undefined
  let p = pos + h.head
  const out: Array<[number, number]> = []
  for (let i = 0; i < h.n; i++) {
    const k = p
    const v = skipObject(buf, k)
    if (v < 0) return undefined
    p = skipObject(buf, v)
    if (p < 0) return undefined
    out.push([k, v])
  }
  return out
}
