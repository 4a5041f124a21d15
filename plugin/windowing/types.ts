/**
 * Types shared by the session and sliding windowers.
 *
 * Both windowers are pure: no timers, no I/O. Every method takes `now` (ms) and
 * returns the windows that closed because of it, so the same code runs in the
 * sidecar (wall clock) and offline in `prepare` (record timestamps).
 */

/**
 * Why a window was emitted. Each reason is one counter in `stats().closed`, so
 * an operator can see when a limit bites.
 * - `idle`: no line for `idleMs`.
 * - `max_length`: a session reached `maxLength` lines.
 * - `max_age`: a session was open `maxAgeMs`, or (sliding) a line waited
 *   `maxAgeMs` without its window filling.
 * - `evicted`: the `maxOpen` cap was reached; the least recently active
 *   window was emitted early (never dropped) to make room.
 * - `full`: a sliding window reached `size` lines.
 * - `unkeyed`: a line with no session key, emitted as its own one-line window
 *   (session `unkeyed: 'single'`).
 * - `flush`: `flushAll()` (shutdown, reload).
 */
export type CloseReason = 'idle' | 'max_length' | 'max_age' | 'evicted' | 'full' | 'unkeyed' | 'flush'

/**
 * Why a window was emitted at the caller's request rather than by a limit of
 * the windower's own: `held_limit`, the caller holds too many records (the
 * sidecar's `limits.max_held_records`) and asked for the least recently
 * active window (`closeLeastRecent`). Counted in `stats().early`.
 */
export type EarlyReason = 'held_limit'

export type WindowReason = CloseReason | EarlyReason

export const CLOSE_REASONS: readonly CloseReason[] = [
  'idle', 'max_length', 'max_age', 'evicted', 'full', 'unkeyed', 'flush',
]

export interface Window<T> {
  /** `${key}#${seq}`; seq counts windows opened by this windower, so ids never repeat within it. */
  id: string
  /** Session key or stream key ('' for an unkeyed single-line window). */
  key: string
  /** The lines in arrival order. */
  items: T[]
  /**
   * `owned[i]` is true when this window is the one that reports `items[i]`.
   * Across all windows a windower emits, every line it took in is owned
   * exactly once, so a caller that holds each record until its owning window
   * is scored releases every record exactly once.
   */
  owned: boolean[]
  /** Arrival time of `items[0]`. */
  openedAt: number
  closedAt: number
  reason: WindowReason
}

export interface WindowStats {
  /** Windows (sessions or streams) open now. */
  open: number
  /** Lines taken in. */
  lines: number
  /** Windows emitted, by reason. */
  closed: Record<CloseReason, number>
  /** Windows emitted early at the caller's request (`closeLeastRecent`, reason `held_limit`). */
  early: number
}

export function emptyCounts(): Record<CloseReason, number> {
  const counts = {} as Record<CloseReason, number>
  for (const r of CLOSE_REASONS) counts[r] = 0
  return counts
}

/** `name` must be a positive integer, or Infinity to turn the limit off. */
export function checkCount(name: string, value: number): number {
  if (value !== Infinity && !(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(`windowing: ${name} must be an integer >= 1 or Infinity, got ${value}`)
  }
  return value
}

/** `name` must be a duration > 0 ms, or Infinity to turn the limit off. */
export function checkDuration(name: string, value: number): number {
  if (!(typeof value === 'number' && value > 0)) {
    throw new RangeError(`windowing: ${name} must be > 0 ms or Infinity, got ${value}`)
  }
  return value
}

/**
 * Time never runs backwards inside a windower: a `now` smaller than one
 * already seen (clock step, out-of-order record time) counts as the latest
 * seen, so deadlines stay ordered and nothing closes twice.
 */
export function monotonic(last: number, now: number): number {
  if (Number.isNaN(now)) throw new TypeError('windowing: now is NaN')
  return now > last ? now : last
}
