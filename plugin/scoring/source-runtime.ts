/**
 * Everything one source needs between "record arrived" and "window closed":
 * header parsing (the same formats as `prepare`), the Drain parser, the
 * windower and the featurizer. Pure apart from the injected `now`.
 */
import type { LogFormat } from '../prepare/formats.js'
import type { LogEvent } from '../pipeline/stage.js'
import { SessionWindows, SlidingWindows, type Window, type WindowStats } from '../windowing/index.js'
import type { Featurizer, LineFeatures } from './features.js'
import type { WindowInput } from './scorer.js'

/** One record held inside a window until the window is scored. */
export interface HeldLine {
  event: LogEvent
  content: string
  features: LineFeatures
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
  message (record: Record<string, unknown>): string | undefined {
    for (const k of this.spec.messageKeys) {
      const v = record[k]
      if (typeof v === 'string') return chomp(v)
      if (v instanceof Uint8Array) return chomp(Buffer.from(v).toString('utf8'))
    }
    return undefined
  }

  add (event: LogEvent, now: number): AddOutcome {
    const raw = this.message(event.record)
    if (raw === undefined) return { kind: 'unscored', reason: 'no_message' }
    const content = this.spec.format?.parse(raw)?.content ?? raw
    const held: HeldLine = { event, content, features: this.featurizer.line(content) }
    if (this.session !== undefined) {
      const r = this.session.add(held, content, event.record, now)
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

  /** The encoder input of a window: its first `maxLen` lines. */
  input (w: Window<HeldLine>): WindowInput {
    const T = Math.min(w.items.length, this.spec.maxLen)
    const D = this.featurizer.dim
    const P = this.featurizer.params.maxParams
    const embeddings = new Float32Array(T * D)
    const buckets = new Int32Array(T * P)
    for (let i = 0; i < T; i++) {
      const f = w.items[i].features
      embeddings.set(this.featurizer.vector(f.template), i * D)
      this.featurizer.writeBuckets(f.params, buckets, i * P)
    }
    return { T, embeddings, buckets }
  }
}
