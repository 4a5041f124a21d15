/**
 * Everything one source needs between "record arrived" and "window closed":
 * header parsing (the same formats as `prepare`), the Drain parser, the
 * windower and the featurizer. Pure apart from the injected `now`.
 */
import type { LogFormat } from '../prepare/formats.js'
import type { LogEvent } from '../pipeline/stage.js'
import { stringField, WireEntry } from '../forward/wire-entry.js'
import { SessionWindows, SlidingWindows, type Window, type WindowStats } from '../windowing/index.js'
import type { Featurizer } from './features.js'
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
  /** The encoder's max window length: longer windows keep their first T lines (as `prepare` does). */
  maxLen: number
}

export type AddOutcome =
  | { kind: 'windowed', closed: Array<Window<HeldLine>> }
  | { kind: 'unscored', reason: 'no_message' | 'no_window_key' }

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

export class SourceRuntime {
  private readonly session: SessionWindows<HeldLine> | undefined
  private readonly sliding: SlidingWindows<HeldLine> | undefined
  /** Whichever of the two this source uses, for the calls both kinds share. */
  private readonly windower: SessionWindows<HeldLine> | SlidingWindows<HeldLine>

  constructor (readonly spec: SourceSpec, readonly featurizer: Featurizer) {
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
    if (raw === undefined) return undefined
    const f = this.spec.format
    if (f === undefined) return raw
    return (f.content !== undefined ? f.content(raw) : f.parse(raw)?.content) ?? raw
  }

  add (event: LogEvent, now: number): AddOutcome {
    const content = this.content(event)
    if (content === undefined) return { kind: 'unscored', reason: 'no_message' }
    const f = this.featurizer.line(content)
    const held: HeldLine = { event, templateId: f.templateId, template: f.template, buckets: this.featurizer.buckets(f.params) }
    if (this.session !== undefined) {
      const w = this.spec.window
      const r = this.session.add(held, content, w.mode === 'session' && w.keyField !== undefined ? event.record : undefined, now)
      if (r.unkeyed) return { kind: 'unscored', reason: 'no_window_key' }
      return { kind: 'windowed', closed: r.closed }
    }
    const w = this.spec.window
    const stream = w.mode === 'sliding' && w.groupBy !== undefined ? String(event.record[w.groupBy] ?? '') : ''
    return { kind: 'windowed', closed: (this.sliding as SlidingWindows<HeldLine>).add(held, stream, now) }
  }

  tick (now: number): Array<Window<HeldLine>> { return this.windower.tick(now) }
  flushAll (now: number): Array<Window<HeldLine>> { return this.windower.flushAll(now) }
  nextDeadline (): number | undefined { return this.windower.nextDeadline() }
  stats (): WindowStats { return this.windower.stats() }

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
