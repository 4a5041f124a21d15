/**
 * A growable byte buffer for output built from pieces: ranges of the frames
 * entries arrived in, pre-encoded fields, and msgpack headers. Used by the
 * Forward output (pack-entries.ts) and the disk buffer's segment frames.
 */
export class ByteWriter {
  private buf: Buffer
  private at = 0

  constructor (capacity = 0) { this.buf = Buffer.allocUnsafe(Math.max(256, capacity)) }

  get length (): number { return this.at }

  private room (n: number): void {
    if (this.at + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n))
    this.buf.copy(next, 0, 0, this.at)
    this.buf = next
  }

  put (b: Uint8Array): void {
    this.room(b.length)
    this.buf.set(b, this.at)
    this.at += b.length
  }

  /** `src[start, end)`. */
  range (src: Uint8Array, start: number, end: number): void {
    const n = end - start
    this.room(n)
    if (n < 48) {
      const out = this.buf
      let o = this.at
      for (let i = start; i < end; i++) out[o++] = src[i]
    } else {
      this.buf.set(src.subarray(start, end), this.at)
    }
    this.at += n
  }

  byte (b: number): void {
    this.room(1)
    this.buf[this.at++] = b
  }

  /** msgpack map header for `n` pairs. */
  mapHeader (n: number): void { this.header(n, 0x80, 0xde, 0xdf) }

  /** msgpack array header for `n` elements. */
  arrayHeader (n: number): void { this.header(n, 0x90, 0xdc, 0xdd) }

  private header (n: number, fix: number, h16: number, h32: number): void {
    this.room(5)
    const b = this.buf
    if (n < 16) { b[this.at++] = fix | n; return }
    if (n < 0x10000) { b[this.at++] = h16; b[this.at++] = n >> 8; b[this.at++] = n & 0xff; return }
    b[this.at++] = h32
    b.writeUInt32BE(n, this.at)
    this.at += 4
  }

  done (): Buffer { return this.buf.subarray(0, this.at) }
}
