/**
 * FNV-1a, 32 bit, over the UTF-8 bytes of a string.
 * (http://www.isthe.com/chongo/tech/comp/fnv/ : offset basis 0x811c9dc5, prime 0x01000193.)
 *
 * One hash for the whole project: parameter buckets (Log-Attention) and the
 * embedder's character n-gram table both use it, in `prepare` and in the
 * sidecar, so a value always lands in the same bucket. Python equivalent:
 *
 *   def fnv1a32(s):
 *       h = 0x811c9dc5
 *       for b in s.encode('utf-8'): h = ((h ^ b) * 0x01000193) & 0xffffffff
 *       return h
 *
 * The UTF-8 encoding is done inline (no TextEncoder allocation per call)
 * because `prepare` hashes every parameter of every line. A lone surrogate is
 * hashed as U+FFFD, as TextEncoder would encode it.
 */
export const FNV_OFFSET = 0x811c9dc5
export const FNV_PRIME = 0x01000193

export function fnv1a32 (s: string): number {
  let h = FNV_OFFSET
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME)
      continue
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      } else {
        c = 0xfffd
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME)
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME)
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME)
    }
  }
  return h >>> 0
}
