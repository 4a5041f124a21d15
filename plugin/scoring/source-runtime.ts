/**
 * Everything one source needs between "record arrived" and "window closed":
 * header parsing (the same formats as `prepare`), the Drain parser, the
 * windower, the featurizer, and the source's window clock. Pure apart from
 * the injected wall time: every method takes `wall` (ms) and turns it into the
 * windowers' `now`.
 *
 * The window clock (`time: event`, issue 16): the highest event time seen on
 * this source plus the wall time since its last record arrived.
 *
 *   record ──time──▶ header time (format.parse, as prepare reads it), else the Forward event time
 *                        │ max
 *   clock(wall) = highest event time + (wall − arrival of the last record)
 *
 * So while records come, the windows run on log time: a replay at full speed,
 * Fluent Bit catching up after an outage and `prepare` all cut the same
 * windows (idle_timeout 30 s means 30 s of log time, not 30 s of replay);
 * and when the source goes quiet the clock runs on with the wall clock, so
 * its last windows still close. A record never sets the clock back for the
 * windowers (they never let time run backwards). `time: arrival`: the clock is
 * the wall clock on arrival. Deadlines go back to wall time with `wallAt`.
 */
import type { LogFormat } from '../prepare/formats.js'
import type { LogEvent } from '../pipeline/stage.js'
import { EventTime } from '../forward/event-time.js'
import { stringField, WireEntry } from '../forward/wire-entry.js'
import { SessionWindows, SlidingWindows, type Window, type WindowStats } from '../windowing/index.js'
import type { Featurizer } from './features.js'
import { TemplateNovelty } from './novelty.js'
import type { WindowInput } from './scorer.js'

/**
 * One record held inside a window until the window is scored: only what the
 * window's encoder input and the output need. Held records outlive V8's young
 * generation, so each byte kept here is copied and traced by the garbage
 * collector; the log line (and the parameters, slices of it) are not kept:
 * the parameters as their bucket ids, the line read again for `top_line`.
 */
export interface HeldLine {
  readonly event: LogEvent
  readonly templateId: string
  readonly template: string
  /** The first record of a template the parser snapshot lacks (`anomaly.new_template`, novelty.ts). */
  readonly newTemplate: boolean
  /**
   * The line's parameter bucket ids (Log-Attention), at most P, unpadded. A
   * plain array, not an Int32Array: a typed array per held line is an
   * ArrayBuffer per line for the garbage collector to track and sweep.
   */
  readonly buckets: readonly number[]
}

export type WindowSpec =
  | { mode: 'session', keyPattern?: RegExp, keyField?: string, idleMs: number, maxAgeMs: number, maxLength: number, maxOpen: number }
  | { mode: 'sliding', size: number, step: number, groupBy?: string, idleMs: number, maxAgeMs: number, maxOpen: number }

export interface SourceSpec {
  name: string
  /** Record fields tried in order for the log line. */
  messageKeys: readonly string[]
  format: LogFormat | undefined
  window: WindowSpec
  /** Lines of a window the encoder sees (the trained T): longer windows keep their first T lines, as `prepare` does. */
  maxLen: number
  /** What the window limits run on: `event` (log time, see above) or `arrival` (the wall clock). */
  time: 'event' | 'arrival'
  /**
   * The format gives every line its own time (hdfs, bgl, thunderbird): a line
   * whose header does not parse then leaves the clock where it is, as in
   * `prepare`, instead of moving it to its Forward time (in a replay of old
   * logs that is today, and would close every window at once). Without it,
   * the Forward time is used until the first line with a header time.
   */
  formatTimed?: boolean
}

/**
 * What adding a record did. `closed`: windows that closed on the way (expired
 * by the time the record moved the clock to, full, evicted): also when the
 * record itself is not windowed (no key), whose time still counts.
 */
export type AddOutcome =
  | { kind: 'windowed', closed: Array<Window<HeldLine>> }
  | { kind: 'unscored', reason: 'no_message' | 'no_window_key', closed: Array<Window<HeldLine>> }

const NONE: Array<Window<HeldLine>> = []
/** The least backward jump of a source's log time that resets its window clock (the idle limit when longer). */
export const CLOCK_RESET_MIN_MS = 3_600_000

const withReset = (reset: Array<Window<HeldLine>>, closed: Array<Window<HeldLine>>): Array<Window<HeldLine>> =>
  reset.length === 0 ? closed : closed.length === 0 ? reset : [...reset, ...closed]

/** `s` without one trailing \n, \r\n or \r. */
function chomp (s: string): string {
  const last = s.charCodeAt(s.length - 1)
  if (last === 10) return s.charCodeAt(s.length - 2) === 13 ? s.slice(0, -2) : s.slice(0, -1)
  if (last === 13) return s.slice(0, -1)
  return s
}

/** The first of `keys` holding a string or bytes. */
function fieldOf (record: Record<string, unknown>, keys: readonly string[]): string | Uint8Array | undefined {
  for (const k of keys) {
    const v = record[k]
    if (typeof v === 'string' || v instanceof Uint8Array) return v
  }
  return undefined
}

/** A Forward event time in ms; NaN when it is not one. */
function forwardMs (t: unknown): number {
  if (t instanceof EventTime) return t.sec * 1000 + t.nsec / 1e6
  return typeof t === 'number' ? t * 1000 : NaN
}

export class SourceRuntime {
  private readonly session: SessionWindows<HeldLine> | undefined
  private readonly sliding: SlidingWindows<HeldLine> | undefined
  /** Whichever of the two this source uses, for the calls both kinds share. */
  private readonly windower: SessionWindows<HeldLine> | SlidingWindows<HeldLine>
  /** Highest event time seen (ms); -Infinity before the first record. */
  private maxEventMs = -Infinity
  /** Wall time (ms) the last record arrived. */
  private arrivedAt = -Infinity
  /**
   * Added to event times so that the windowers' clock never runs backwards
   * across a clock reset (below); grows by the size of each backward jump.
   */
  private offsetMs = 0
  /** A line this far behind the clock starts a new timeline (see arrive). */
  private readonly resetMs: number
  /** Set by arrive: the (offset) time of a line that starts a new timeline; add() flushes and re-anchors. */
  private resetTo: number | undefined
  /** How often the clock was reset (window_clock_resets_total). */
  clockResets = 0
  /** Lines carry header times: a line without one does not move the clock. */
  private headerTimed: boolean
  private readonly novelty: TemplateNovelty

  /**
   * `featurizer.drain` as restored from the bundle's parser snapshot: the
   * templates it holds now are the known ones (`anomaly.new_template`).
   */
  constructor (readonly spec: SourceSpec, readonly featurizer: Featurizer) {
    this.headerTimed = spec.formatTimed ?? false
    this.resetMs = Math.max(CLOCK_RESET_MIN_MS, Number.isFinite(spec.window.idleMs) ? spec.window.idleMs : 0)
    this.novelty = new TemplateNovelty(featurizer.drain.templates().map(t => t.templateId))
    const w = spec.window
    if (w.mode === 'session') {
      this.session = new SessionWindows<HeldLine>({ keyPattern: w.keyPattern, keyField: w.keyField, unkeyed: 'pass', idleMs: w.idleMs, maxAgeMs: w.maxAgeMs, maxLength: w.maxLength, maxOpen: w.maxOpen })
    } else {
      this.sliding = new SlidingWindows<HeldLine>({ size: w.size, step: w.step, idleMs: w.idleMs, maxAgeMs: w.maxAgeMs, maxOpen: w.maxOpen })
    }
    this.windower = (this.session ?? this.sliding) as SessionWindows<HeldLine> | SlidingWindows<HeldLine>
  }

  get name (): string { return this.spec.name }

  /**
   * The log line of a record, without a trailing line break: a file tailed
   * with CRLF line ends (Fluent Bit tail, Vector file) keeps the `\r`, which
   * `prepare` strips; left on, it made the HDFS header parse to empty content.
   */
  message (event: LogEvent): string | undefined {
    // read from the bytes the record arrived in when it still is those bytes (no record object built)
    const v = event instanceof WireEntry && event.pristine ? stringField(event, this.spec.messageKeys) : fieldOf(event.record, this.spec.messageKeys)
    if (typeof v === 'string') return chomp(v)
    if (v instanceof Uint8Array) return chomp(Buffer.from(v).toString('utf8'))
    return undefined
  }

  /** The part of the record's log line that Drain parses (the whole line when the format does not match); undefined without a log line. */
  content (event: LogEvent): string | undefined {
    const raw = this.message(event)
    return raw === undefined ? undefined : this.contentOf(raw)
  }

  private contentOf (raw: string): string {
    const f = this.spec.format
    if (f === undefined) return raw
    return (f.content !== undefined ? f.content(raw) : f.parse(raw)?.content) ?? raw
  }

  /** The window clock at wall time `wall`; -Infinity before the first record (no window is open then). */
  clock (wall: number): number {
    if (this.spec.time === 'arrival') return wall
    if (this.maxEventMs === -Infinity) return -Infinity
    return this.maxEventMs + Math.max(0, wall - this.arrivedAt)
  }

  /** The wall time at which the clock will read `at`, if no record comes before. */
  wallAt (at: number): number {
    if (this.spec.time === 'arrival') return at
    return this.arrivedAt + (at - this.maxEventMs)
  }

  /**
   * The line's content and, with `time: event`, the clock moved by its time.
   * parse() reads the header time (and costs a little more than content());
   * only the event clock needs it.
   */
  private arrive (event: LogEvent, raw: string, wall: number): string {
    if (this.spec.time === 'arrival') return this.contentOf(raw)
    const f = this.spec.format
    let content = raw
    let ms = NaN
    if (f !== undefined) {
      const p = f.parse(raw)
      if (p !== null) { content = p.content; ms = p.time * 1000 }
    }
    if (Number.isFinite(ms)) this.headerTimed = true
    // as prepare: a line of a timed log without its own time takes the previous line's (the first one: its Forward time)
    else if (!this.headerTimed || this.maxEventMs === -Infinity) ms = forwardMs(event.time)
    // no usable time at all before any: start the clock at the wall clock
    if (!Number.isFinite(ms) && this.maxEventMs === -Infinity) ms = wall
    ms += this.offsetMs
    if (ms > this.maxEventMs) this.maxEventMs = ms
    // Far behind the clock (more than the idle limit, at least an hour): a replay started over, a file read
    // twice, a host whose clock was put right. Left alone, the clock would stay at the old high mark while
    // such lines come, and no window would idle out until they passed it.
    else if (ms < this.maxEventMs - this.resetMs) this.resetTo = ms
    this.arrivedAt = wall
    return content
  }

  add (event: LogEvent, wall: number): AddOutcome {
    const raw = this.message(event)
    if (raw === undefined) return { kind: 'unscored', reason: 'no_message', closed: NONE }
    const content = this.arrive(event, raw, wall)
    const reset = this.resetTo === undefined ? NONE : this.reset(wall)
    const now = this.clock(wall)
    const f = this.featurizer.line(content)
    const isNew = this.novelty.check(f.templateId, f.learned)
    const held: HeldLine = { event, templateId: f.templateId, template: f.template, newTemplate: isNew, buckets: this.featurizer.buckets(f.params) }
    if (this.session !== undefined) {
      const w = this.spec.window
      const r = this.session.add(held, content, w.mode === 'session' && w.keyField !== undefined ? event.record : undefined, now)
      if (r.unkeyed) {
        if (isNew) this.novelty.unreport(f.templateId)
        return { kind: 'unscored', reason: 'no_window_key', closed: withReset(reset, r.closed) }
      }
      return { kind: 'windowed', closed: withReset(reset, r.closed) }
    }
    const w = this.spec.window
    const stream = w.mode === 'sliding' && w.groupBy !== undefined ? String(event.record[w.groupBy] ?? '') : ''
    return { kind: 'windowed', closed: withReset(reset, (this.sliding as SlidingWindows<HeldLine>).add(held, stream, now)) }
  }

  /**
   * A new timeline: the windows of the old one close now (reason flush), and
   * the offset moves so that the new line lands at the old high mark (the
   * windowers' time never runs backwards); log time runs on from there.
   */
  private reset (wall: number): Array<Window<HeldLine>> {
    const closed = this.windower.flushAll(this.clock(wall))
    this.offsetMs += this.maxEventMs - (this.resetTo as number)
    this.resetTo = undefined
    this.clockResets++
    return closed
  }

  tick (wall: number): Array<Window<HeldLine>> { return this.windower.tick(this.clock(wall)) }
  flushAll (wall: number): Array<Window<HeldLine>> { return this.windower.flushAll(this.clock(wall)) }

  /** The wall time of the next idle / age deadline, or undefined when nothing is due. */
  nextDeadline (): number | undefined {
    const at = this.windower.nextDeadline()
    return at === undefined ? undefined : this.wallAt(at)
  }

  /** Wall time of the last line of the least recently active window (to compare across sources); undefined when none is open. */
  oldestActivity (): number | undefined {
    const at = this.windower.oldestActivity()
    return at === undefined ? undefined : this.wallAt(at)
  }

  /** Close the least recently active window early (reason `held_limit`); undefined when it held no record of its own or none is open. */
  closeLeastRecent (wall: number): Window<HeldLine> | undefined { return this.windower.closeLeastRecent(this.clock(wall)) }

  stats (): WindowStats { return this.windower.stats() }

  /** A record marked `newTemplate` went on without anomaly fields (its window was not scored): the template's next record carries the mark. */
  unreport (held: HeldLine): void { if (held.newTemplate) this.novelty.unreport(held.templateId) }

  /** The encoder input of a window: its first `maxLen` lines (references to the template vectors and bucket ids, no copy). */
  input (w: Window<HeldLine>): WindowInput {
    const T = Math.min(w.items.length, this.spec.maxLen)
    const embeddings = new Array<Float32Array>(T)
    const buckets = new Array<readonly number[]>(T)
    for (let i = 0; i < T; i++) {
      const h = w.items[i]
      embeddings[i] = this.featurizer.vector(h.template)
      buckets[i] = h.buckets
    }
    return { T, embeddings, buckets }
  }
}
