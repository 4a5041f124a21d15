/**
 * Sliding (count) windows: the last `size` lines of a stream, advancing by
 * `step` lines. The stream key is chosen by the caller (source, plus the
 * value of an optional group-by field).
 *
 *   add(line, stream) ──▶ stream buffer ──size reached──▶ window (full), keep size − step lines as context
 *                              │
 *                              └─ idle / max_age / evicted / flush ──▶ partial window, stream ends
 *
 * Ownership (which window reports a line): the FIRST window that contains it,
 * which is also the first to close, so a caller holding records until their
 * owning window is scored holds each one as briefly as possible. So the first
 * window of a stream owns all its lines, each later full window owns its last
 * `step` lines, and a partial window owns the lines that arrived after the
 * last full one. Every line is owned by exactly one window. A stream whose
 * buffer holds only already-owned context ends silently (no window).
 *
 * `maxAgeMs` bounds how long a line can wait: a trickling stream that never
 * goes idle still flushes a partial window once its oldest unowned line is
 * that old.
 *
 * Cost per line is O(1) amortised (O(size / step) for the buffer shift): two
 * linked lists keep streams by last activity and by the arrival of their
 * oldest waiting line, so expiry and eviction look only at their heads.
 */
import {
  type Window, type WindowReason, type WindowStats,
  checkCount, checkDuration, emptyCounts, monotonic,
} from './types.js'
import { type Link, Order } from './order.js'

export interface SlidingOptions {
  /** Lines per window. Default 20. */
  size?: number
  /** Lines between window starts, 1..size. Default `size` (no overlap). */
  step?: number
  /** Flush a stream's partial window after this long with no line. Default 10 000 ms. */
  idleMs?: number
  /** Flush a partial window once a line has waited this long for its window to fill. Default 60 000 ms. */
  maxAgeMs?: number
  /** At most this many open streams; past it the least recently active one is flushed (`evicted`). Default 1 000. */
  maxOpen?: number
}

export const SLIDING_DEFAULTS = {
  size: 20,
  idleMs: 10_000,
  maxAgeMs: 60_000,
  maxOpen: 1_000,
} as const satisfies SlidingOptions

interface Stream<T> {
  key: string
  items: T[]
  times: number[]
  /** The first `owned` items are context already owned by an earlier window. */
  owned: number
  /** Arrival of the oldest unowned item (meaningful while `pending` is set). */
  pendingSince: number
  lastSeen: number
  activity: Link<Stream<T>> | undefined
  /** Set while the stream holds unowned items. */
  pending: Link<Stream<T>> | undefined
}

export class SlidingWindows<T> {
  readonly options: Readonly<Required<SlidingOptions>>
  private readonly streams = new Map<string, Stream<T>>()
  /** Streams, least recently active first. */
  private readonly byActivity = new Order<Stream<T>>()
  /** Streams holding unowned lines, the one whose oldest unowned line is oldest first. */
  private readonly byPending = new Order<Stream<T>>()
  private readonly closedCounts = emptyCounts()
  private early = 0
  private lines = 0
  private seq = 0
  private now = -Infinity

  constructor (opts: SlidingOptions = {}) {
    const size = opts.size ?? SLIDING_DEFAULTS.size
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`windowing: size must be an integer >= 1, got ${size}`)
    const step = opts.step ?? size
    // step > size would leave lines in no window.
    if (!(Number.isInteger(step) && step >= 1 && step <= size)) {
      throw new RangeError(`windowing: step must be an integer in 1..size (${size}), got ${step}`)
    }
    this.options = Object.freeze({
      size,
      step,
      idleMs: checkDuration('idleMs', opts.idleMs ?? SLIDING_DEFAULTS.idleMs),
      maxAgeMs: checkDuration('maxAgeMs', opts.maxAgeMs ?? SLIDING_DEFAULTS.maxAgeMs),
      maxOpen: checkCount('maxOpen', opts.maxOpen ?? SLIDING_DEFAULTS.maxOpen),
    })
  }

  /** Streams holding lines now. */
  get openCount (): number {
    return this.streams.size
  }

  /** Add one line to `stream`; returns the windows that closed (expired ones first). */
  add (item: T, stream: string, now: number): Window<T>[] {
    now = this.now = monotonic(this.now, now)
    const closed = this.expire(now)
    this.lines++
    let s = this.streams.get(stream)
    if (s !== undefined) {
      this.byActivity.moveToEnd(s.activity!)
    } else {
      if (this.streams.size >= this.options.maxOpen) {
        this.end(this.byActivity.first()!, 'evicted', now, closed)
      }
      s = { key: stream, items: [], times: [], owned: 0, pendingSince: now, lastSeen: now, activity: undefined, pending: undefined }
      s.activity = this.byActivity.push(s)
      this.streams.set(stream, s)
    }
    s.lastSeen = now
    s.items.push(item)
    s.times.push(now)
    if (s.pending === undefined) {
      s.pendingSince = now
      s.pending = this.byPending.push(s)
    }
    if (s.items.length === this.options.size) closed.push(this.full(s, now))
    return closed
  }

  /** Flush the streams whose idle or max-age deadline is `<= now`. Call it at `nextDeadline()`. */
  tick (now: number): Window<T>[] {
    now = this.now = monotonic(this.now, now)
    return this.expire(now)
  }

  /** Flush every stream's partial window (reason `flush`). */
  flushAll (now: number): Window<T>[] {
    now = this.now = monotonic(this.now, now)
    const out: Window<T>[] = []
    for (const s of this.byActivity.values()) this.end(s, 'flush', now, out)
    return out
  }

  /** The earliest time `tick` has work, or undefined when no stream is open (or no limit is finite). */
  nextDeadline (): number | undefined {
    const a = this.byActivity.first()
    if (a === undefined) return undefined
    const p = this.byPending.first()
    const at = Math.min(a.lastSeen + this.options.idleMs, p === undefined ? Infinity : p.pendingSince + this.options.maxAgeMs)
    return Number.isFinite(at) ? at : undefined
  }

  /** When the least recently active stream had its last line; undefined when none is open. */
  oldestActivity (): number | undefined {
    return this.byActivity.first()?.lastSeen
  }

  /**
   * End the least recently active stream now, at the caller's request
   * (reason `held_limit`): its partial window, or undefined when the stream
   * held only context already owned by an earlier window (it ends silently,
   * holding no record) or when no stream is open.
   */
  closeLeastRecent (now: number): Window<T> | undefined {
    now = this.now = monotonic(this.now, now)
    const s = this.byActivity.first()
    if (s === undefined) return undefined
    const out: Window<T>[] = []
    this.end(s, 'held_limit', now, out)
    return out[0]
  }

  stats (): WindowStats {
    return { open: this.streams.size, lines: this.lines, closed: { ...this.closedCounts }, early: this.early }
  }

  private expire (now: number): Window<T>[] {
    const out: Window<T>[] = []
    const { idleMs, maxAgeMs } = this.options
    for (;;) {
      const a = this.byActivity.first()
      if (a === undefined) return out
      const p = this.byPending.first()
      const idleAt = a.lastSeen + idleMs
      const ageAt = p === undefined ? Infinity : p.pendingSince + maxAgeMs
      if (ageAt <= idleAt) {
        if (ageAt > now) return out
        this.end(p!, 'max_age', now, out)
      } else {
        if (idleAt > now) return out
        this.end(a, 'idle', now, out)
      }
    }
  }

  /** The buffer reached `size`: emit it, keep the last size − step lines as context. */
  private full (s: Stream<T>, now: number): Window<T> {
    const { size, step } = this.options
    const w = this.toWindow(s, 'full', now)
    this.byPending.remove(s.pending!)
    s.pending = undefined
    if (step === size) {
      this.forget(s) // no context to keep
    } else {
      s.items = s.items.slice(step)
      s.times = s.times.slice(step)
      s.owned = size - step
    }
    return w
  }

  /** Remove the stream; emit its partial window when it holds unowned lines. */
  private end (s: Stream<T>, reason: WindowReason, now: number, out: Window<T>[]): void {
    if (s.pending !== undefined) out.push(this.toWindow(s, reason, now))
    this.forget(s)
  }

  private forget (s: Stream<T>): void {
    this.streams.delete(s.key)
    this.byActivity.remove(s.activity!)
    if (s.pending !== undefined) this.byPending.remove(s.pending)
    s.activity = s.pending = undefined
  }

  private toWindow (s: Stream<T>, reason: WindowReason, now: number): Window<T> {
    if (reason === 'held_limit') this.early++
    else this.closedCounts[reason]++
    const owned = new Array<boolean>(s.items.length)
    for (let i = 0; i < owned.length; i++) owned[i] = i >= s.owned
    return { id: `${s.key}#${this.seq++}`, key: s.key, items: s.items, owned, openedAt: s.times[0], closedAt: now, reason }
  }
}
