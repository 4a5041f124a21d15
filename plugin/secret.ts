/**
 * Comparing a secret a peer sent (a bearer token, a handshake digest) with
 * the one we hold, in time that does not depend on where they differ.
 */
import { timingSafeEqual } from 'node:crypto'

const bytes = (v: string | Uint8Array): Buffer => typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v)

/** True when `got` and `want` are the same bytes (strings as UTF-8). */
export function sameSecret (got: string | Uint8Array, want: string | Uint8Array): boolean {
  const a = bytes(got)
  const b = bytes(want)
  return a.length === b.length && timingSafeEqual(a, b)
}
