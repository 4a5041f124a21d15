/**
 * IEEE 754 half precision <-> float32, little-endian in files.
 * Node 20 has no Float16Array, so the conversion is done by hand:
 * encode rounds to nearest, ties to even (as numpy's astype(float16) does);
 * decode goes through a 65,536-entry table built once.
 */
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

export function toHalf (x: number): number {
  f32[0] = x
  const bits = u32[0]
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0) // Inf / NaN
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00 // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign // underflow -> signed zero
    mant |= 0x800000 // implicit leading 1
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++ // may carry into the exponent: still correct
  return sign | half
}

let table: Float32Array | undefined

function decodeTable (): Float32Array {
  if (table !== undefined) return table
  table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) !== 0 ? -1 : 1
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    let v: number
    if (exp === 0) v = mant * 2 ** -24
    else if (exp === 0x1f) v = mant === 0 ? Infinity : NaN
    else v = (1 + mant / 1024) * 2 ** (exp - 15)
    table[h] = sign * v
  }
  return table
}

export function fromHalf (h: number): number {
  return decodeTable()[h & 0xffff]
}

/** float32 values -> fp16 little-endian bytes. */
export function encodeHalfArray (src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2)
  for (let i = 0; i < src.length; i++) {
    const h = toHalf(src[i])
    out[2 * i] = h & 0xff
    out[2 * i + 1] = h >>> 8
  }
  return out
}

/** fp16 little-endian bytes -> float32 values. */
export function decodeHalfArray (bytes: Uint8Array, count: number): Float32Array {
  if (bytes.length < count * 2) throw new RangeError(`fp16: need ${count * 2} bytes, have ${bytes.length}`)
  const t = decodeTable()
  const out = new Float32Array(count)
  for (let i = 0; i < count; i++) out[i] = t[bytes[2 * i] | (bytes[2 * i + 1] << 8)]
  return out
}

/** Round float32 values through fp16, in place: what a reader of the file will see. */
export function roundTripHalf (values: Float32Array): Float32Array {
  const t = decodeTable()
  for (let i = 0; i < values.length; i++) values[i] = t[toHalf(values[i])]
  return values
}
