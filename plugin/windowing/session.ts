/**
 * Session windows: lines grouped by an id found in the line (HDFS block id,
 * request id, trace id), closed on idle timeout, max length or max age.
 *
 *   add(line) ──▶ keys (regex over message, or record field) ──▶ one session per key
 *                                                                   │ closes on idle / max_length /
 *                                                                   │ max_age / evicted (cap) / flush
 *                                                                   ▼
 *                                                             Window<T>[] returned
 *
 * Nothing is lost: every line added comes back in at least one window, or in
 * an `unkeyed` result when it has no key and `unkeyed: 'pass'`. A line that
 * names several ids (HDFS "ask ... to delete blk_1 blk_2") is in the session
 * of each; `owned` marks it in exactly one of them: the first to close.
 *
 * Cost per line is O(keys in the line): two linked lists keep the open
 * sessions by last activity and by open time, so expiry and eviction look
 * only at their heads and never scan the open sessions.
 */
import {
  type Window, type WindowReason, type WindowStats,
  checkCount, checkDuration, emptyCounts, monotonic,
} from './types.js'
import { type Link, Order } from './order.js'

/** What happens to a line with no session key. */
export type UnkeyedMode =
  /** Emit it at once as its own one-line window (reason `unkeyed`), so it is scored alone. */
  | 'single'
  /** Emit nothing; `add` returns `unkeyed: true` and the caller passes the record through unscored. */
  | 'pass'

export interface SessionOptions {
  /**
   * Regex over the message; every distinct match is a key (capture group 1
   * when the pattern has one, else the whole match). E.g. `/blk_-?\d+/`.
   */
  keyPattern?: RegExp | string
  /**
   * Record field holding the key: a string or number, or an array of them for
   * a line that belongs to several sessions. Tried before `keyPattern`.
   */
  keyField?: string
  /** Default `'single'`. */
  unkeyed?: UnkeyedMode
  /** Close a session after this long with no line. Default 60 000 ms. */
  idleMs?: number
  /** Close a session this long after its first line, however busy. Default 600 000 ms. */
  maxAgeMs?: number
  /** Close a session when it holds this many lines. Default 256. */
  maxLength?: number
  /** At most this many open sessions; past it the least recently active one is emitted (`evicted`). Default 10 000. */
  maxOpen?: number
}

export const SESSION_DEFAULTS = {
  unkeyed: 'single',
  idleMs: 60_000,
  maxAgeMs: 600_000,
  maxLength: 256,
  maxOpen: 10_000,
} as const satisfies SessionOptions

export interface SessionAddResult<T> {
  /** Windows closed by this call (expired ones first, in deadline order). */
  closed: Window<T>[]
  /** The line had no key: it is in a `unkeyed` window in `closed` (`'single'`), or in no window (`'pass'`). */
  unkeyed: boolean
}

/** Shared by the sessions of a multi-key line: the first of them to close owns the line. */
interface Claim { taken: boolean }

interface Session<T> {
  key: string
  id: string
  items: T[]
  /** index in `items` → claim, only for lines that are in several sessions. */
  claims: Map<number, Claim> | undefined
  openedAt: number
  lastSeen: number
  activity: Link<Session<T>> | undefined
  age: Link<Session<T>> | undefined
}

export class SessionWindows<T> {
  readonly options: Readonly<Required<Omit<SessionOptions, 'keyPattern' | 'keyField'>>>
  private readonly pattern: RegExp | undefined
  private readonly field: string | undefined
  private readonly open = new Map<string, Session<T>>()
  /** Open sessions, least recently active first. */
  private readonly byActivity = new Order<Session<T>>()
  /** The same sessions, oldest first. */
  private readonly byOpen = new Order<Session<T>>()
  private readonly closedCounts = emptyCounts()
  private early = 0
  private lines = 0
  private seq = 0
  private now = -Infinity

  constructor (opts: SessionOptions) {
    if (opts.keyPattern === undefined && opts.keyField === undefined) {
      throw new TypeError('windowing: session windows need keyPattern or keyField')
    }
    if (opts.keyPattern !== undefined) {
      const re = typeof opts.keyPattern === 'string' ? new RegExp(opts.keyPattern) : opts.keyPattern
      // Our own global copy: exec() walks every match, and the caller's lastIndex is left alone.
      this.pattern = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')
    }
    this.field = opts.keyField
    const unkeyed = opts.unkeyed ?? SESSION_DEFAULTS.unkeyed
    if (unkeyed !== 'single' && unkeyed !== 'pass') {
      throw new RangeError(`windowing: unkeyed must be 'single' or 'pass', got ${String(unkeyed)}`)
    }
    this.options = Object.freeze({
      unkeyed,
      idleMs: checkDuration('idleMs', opts.idleMs ?? SESSION_DEFAULTS.idleMs),
      maxAgeMs: checkDuration('maxAgeMs', opts.maxAgeMs ?? SESSION_DEFAULTS.maxAgeMs),
      maxLength: checkCount('maxLength', opts.maxLength ?? SESSION_DEFAULTS.maxLength),
      maxOpen: checkCount('maxOpen', opts.maxOpen ?? SESSION_DEFAULTS.maxOpen),
    })
  }

  get openCount (): number {
    return this.open.size
  }

  /** Add one line; returns the windows that closed (including any that expired before `now`). */
  add (item: T, message: string, fields: Readonly<Record<string, unknown>> | undefined, now: number): SessionAddResult<T> {
    now = this.now = monotonic(this.now, now)
    const closed = this.expire(now)
    this.lines++
    const keys = this.keysOf(message, fields)
    if (keys.length === 0) {
      if (this.options.unkeyed === 'single') {
        const single: Session<T> = {
          key: '', id: `#${this.seq++}`, items: [item], claims: undefined,
          openedAt: now, lastSeen: now, activity: undefined, age: undefined,
        }
        closed.push(this.toWindow(single, 'unkeyed', now))
      }
      return { closed, unkeyed: true }
    }
    const claim: Claim | undefined = keys.length > 1 ? { taken: false } : undefined
    for (const key of keys) {
      let s = this.open.get(key)
      if (s !== undefined) {
        this.byActivity.moveToEnd(s.activity!)
        s.lastSeen = now
      } else {
        if (this.open.size >= this.options.maxOpen) {
          closed.push(this.close(this.byActivity.first()!, 'evicted', now))
        }
        s = {
          key, id: `${key}#${this.seq++}`, items: [], claims: undefined,
          openedAt: now, lastSeen: now, activity: undefined, age: undefined,
        }
        s.activity = this.byActivity.push(s)
        s.age = this.byOpen.push(s)
        this.open.set(key, s)
      }
      if (claim !== undefined) (s.claims ??= new Map()).set(s.items.length, claim)
      s.items.push(item)
      if (s.items.length >= this.options.maxLength) closed.push(this.close(s, 'max_length', now))
    }
    return { closed, unkeyed: false }
  }

  /** Close the sessions whose idle or age deadline is `<= now`. Call it at `nextDeadline()`. */
  tick (now: number): Window<T>[] {
    now = this.now = monotonic(this.now, now)
    return this.expire(now)
  }

  /** Close every open session (reason `flush`), least recently active first. */
  flushAll (now: number): Window<T>[] {
    now = this.now = monotonic(this.now, now)
    const out: Window<T>[] = []
    for (const s of this.byActivity.values()) out.push(this.close(s, 'flush', now))
    return out
  }

  /** The earliest time `tick` has work, or undefined when nothing is open (or no limit is finite). */
  nextDeadline (): number | undefined {
    const a = this.byActivity.first()
    if (a === undefined) return undefined
    const at = Math.min(a.lastSeen + this.options.idleMs, this.byOpen.first()!.openedAt + this.options.maxAgeMs)
    return Number.isFinite(at) ? at : undefined
  }

  /** When the least recently active session had its last line; undefined when none is open. */
  oldestActivity (): number | undefined {
    return this.byActivity.first()?.lastSeen
  }

  /**
   * Close the least recently active session now, at the caller's request
   * (reason `held_limit`: the caller holds too many records). Undefined when
   * none is open.
   */
  closeLeastRecent (now: number): Window<T> | undefined {
    now = this.now = monotonic(this.now, now)
    const s = this.byActivity.first()
    return s === undefined ? undefined : this.close(s, 'held_limit', now)
  }

  stats (): WindowStats {
    return { open: this.open.size, lines: this.lines, closed: { ...this.closedCounts }, early: this.early }
  }

  /** Close expired sessions in deadline order, so the result does not depend on how often tick runs. */
  private expire (now: number): Window<T>[] {
    const out: Window<T>[] = []
    const { idleMs, maxAgeMs } = this.options
    for (;;) {
      const a = this.byActivity.first()
      if (a === undefined) return out
      const o = this.byOpen.first()!
      const idleAt = a.lastSeen + idleMs
      const ageAt = o.openedAt + maxAgeMs
      if (ageAt <= idleAt) {
        if (ageAt > now) return out
        out.push(this.close(o, 'max_age', now))
      } else {
        if (idleAt > now) return out
        out.push(this.close(a, 'idle', now))
      }
    }
  }

  private close (s: Session<T>, reason: WindowReason, now: number): Window<T> {
    this.open.delete(s.key)
    this.byActivity.remove(s.activity!)
    this.byOpen.remove(s.age!)
    return this.toWindow(s, reason, now)
  }

  private toWindow (s: Session<T>, reason: WindowReason, now: number): Window<T> {
    if (reason === 'held_limit') this.early++
    else this.closedCounts[reason]++
    const owned = new Array<boolean>(s.items.length).fill(true)
    if (s.claims !== undefined) {
      for (const [i, claim] of s.claims) {
        owned[i] = !claim.taken
        claim.taken = true
      }
    }
    return { id: s.id, key: s.key, items: s.items, owned, openedAt: s.openedAt, closedAt: now, reason }
  }

  /** Distinct non-empty keys of a line, in order of appearance. */
  private keysOf (message: string, fields: Readonly<Record<string, unknown>> | undefined): string[] {
    const keys: string[] = []
    if (this.field !== undefined && fields !== undefined) {
      const v = fields[this.field]
      if (Array.isArray(v)) for (const e of v) pushKey(keys, e)
      else pushKey(keys, v)
    }
    const re = this.pattern
    if (keys.length === 0 && re !== undefined) {
      re.lastIndex = 0
      let m: RegExpExecArray | null
      while ((m = re.exec(message)) !== null) {
        if (m[0].length === 0) re.lastIndex++ // an empty match would loop forever
        pushKey(keys, m[1] ?? m[0])
      }
    }
    return keys
  }
}

function pushKey (keys: string[], v: unknown): void {
  const k = typeof v === 'string' ? v : (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint' ? String(v) : ''
  if (k !== '' && !keys.includes(k)) keys.push(k)
}
