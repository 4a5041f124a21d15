/**
 * The scoring stage: records in, the same records out, enriched with their
 * window's anomaly score.
 *
 *   push(events) ─ tag → source (Router) ─▶ SourceRuntime.add: parse, template, window
 *        │ no source / no message / no window key: emitted at once, unscored
 *        ▼
 *   closed windows ─▶ Scorer.score (worker pool) ─▶ the adapter's rule (decision.ts) ─▶ enrich the lines each window owns ─▶ emit
 *                                                                                     └▶ summary event per anomalous window
 *
 * A record is held until the window that owns it is scored; idle and age
 * limits (one timer for all sources, at the earliest deadline, turned back
 * from each source's window clock into wall time) bound the wait, and
 * `maxHeldRecords` bounds the records in open windows: past it the least
 * recently active windows, of any source, are scored early (`held_limit`).
 * Why that cap: held records count against limits.max_pending_records; with
 * event-time windows and long idle limits they could fill it, the input would
 * stop, log time would stop advancing, and no window would close until the
 * wall-clock part of the clock ran out (hours). With the cap below the level
 * where the paused input resumes (half of max_pending_records), the rest
 * drains and reading resumes.
 * A failed score never loses a record: its lines go on unscored and the
 * failure is counted.
 */
import type { Telemetry } from '../events.js'
import { Receipt } from '../pipeline/receipt.js'
import type { Emit, LogEvent, Stage } from '../pipeline/stage.js'
import type { Window } from '../windowing/index.js'
import { EventTime } from '../forward/event-time.js'
import type { DecisionRule } from '../../models/manifest.js'
import { holdsUnseen, isAnomalous, topIndex, topTemplates, unseenTemplates, type TemplateTable } from './decision.js'
import { EnrichmentEncoder, type EnrichOptions } from './enrich.js'
import type { Router } from './router.js'
import type { Scorer } from './scorer.js'
import type { HeldLine, SourceRuntime } from './source-runtime.js'

/** A scored window, as its records and its summary event report it. */
interface Scored {
  score: number
  contribution: Float32Array
  isAnomaly: boolean
  threshold: number
  model: string
  adapter: string
  rule: DecisionRule
  table: TemplateTable | undefined
}

export interface ScoringStageOptions {
  enrich: EnrichOptions
  /** Tag of the summary event per anomalous window; undefined = none. */
  summaryTag: string | undefined
  /** Wall clock in ms (injected for tests). */
  now?: () => number
  /** Distinguishes window ids across restarts. */
  instance?: string
  /** Records in open windows, all sources, beyond which the least recently active windows are scored early (limits.max_held_records). Default: no cap. */
  maxHeldRecords?: number
}

export class ScoringStage implements Stage {
  readonly name = 'scoring'
  private emit: Emit = () => { throw new Error('scoring stage used before start()') }
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private readonly inflight = new Set<Promise<void>>()
  private heldCount = 0
  /** Records owned by windows still open (held, and not yet handed to the scorer). */
  private openCount = 0
  private readonly maxHeld: number
  private readonly now: () => number
  private readonly instance: string
  private readonly encoder: EnrichmentEncoder

  constructor (
    private readonly router: Router<SourceRuntime>,
    private readonly sources: readonly SourceRuntime[],
    private readonly scorer: Scorer,
    private readonly telemetry: Telemetry,
    private readonly opts: ScoringStageOptions,
  ) {
    // read Date.now at each call, not once: a test's fake clock (tap t.clock) replaces it
    this.now = opts.now ?? (() => Date.now())
    this.maxHeld = opts.maxHeldRecords ?? Infinity
    this.instance = opts.instance ?? Math.floor(Date.now() / 1000).toString(36)
    this.encoder = new EnrichmentEncoder(opts.enrich)
    telemetry.counters.gauge('scoring_held_records', () => this.heldCount)
    telemetry.counters.gauge('scoring_window_records', () => this.openCount)
    telemetry.counters.gauge('scoring_open_windows', () => sources.reduce((a, s) => a + s.stats().open, 0))
  }

  get held (): number { return this.heldCount }
  /** Records in windows still open (bounded by maxHeldRecords). */
  get inOpenWindows (): number { return this.openCount }

  start (emit: Emit): void { this.emit = emit }

  push (events: LogEvent[]): void {
    const now = this.now()
    const pass: LogEvent[] = []
    // counted per run of one source (a chunk has one tag), not per record: the counter key is a string built per call
    let counted: SourceRuntime | undefined
    let held = 0
    // windows closed by this call, scored together (one pool request per source, not one per window)
    let closedBy: SourceRuntime | undefined
    let closed: Array<Window<HeldLine>> = []
    for (const e of events) {
      const rt = this.router.route(e.tag)
      if (rt === undefined) { pass.push(e); continue }
      const out = rt.add(e, now)
      if (out.kind === 'unscored') {
        this.telemetry.counters.inc('records_unscored_total', 1, { source: rt.name, reason: out.reason })
        pass.push(e)
      } else {
        this.heldCount++
        this.openCount++
        if (rt !== counted) {
          if (counted !== undefined) this.telemetry.counters.inc('records_scored_in_total', held, { source: counted.name })
          counted = rt
          held = 0
        }
        held++
      }
      if (out.closed.length === 0) continue
      if (rt !== closedBy) {
        if (closedBy !== undefined) this.dispatch(closedBy, closed)
        closedBy = rt
        closed = []
      }
      for (const w of out.closed) closed.push(w)
    }
    if (closedBy !== undefined) this.dispatch(closedBy, closed)
    if (counted !== undefined) this.telemetry.counters.inc('records_scored_in_total', held, { source: counted.name })
    if (pass.length > 0) this.emit(pass)
    if (this.openCount > this.maxHeld) this.closeEarly(now)
    this.schedule()
  }

  /**
   * Score the least recently active windows (across sources, by the wall
   * time of their last line) until at most maxHeld records are in open
   * windows. One pool request per source, as for other closes.
   */
  private closeEarly (wall: number): void {
    const bySource = new Map<SourceRuntime, Array<Window<HeldLine>>>()
    while (this.openCount > this.maxHeld) {
      let pick: SourceRuntime | undefined
      let oldest = Infinity
      for (const rt of this.sources) {
        const at = rt.oldestActivity()
        if (at !== undefined && (pick === undefined || at < oldest)) { pick = rt; oldest = at }
      }
      if (pick === undefined) break // nothing open (cannot happen while openCount > 0)
      const w = pick.closeLeastRecent(wall)
      if (w === undefined) continue // a sliding stream holding only owned context ended
      this.closing(pick, w)
      const list = bySource.get(pick)
      if (list === undefined) bySource.set(pick, [w])
      else list.push(w)
    }
    for (const [rt, ws] of bySource) this.dispatch(rt, ws, true)
  }

  /** A window left the open ones: count it by how it closed, and its records as no longer in open windows. */
  private closing (rt: SourceRuntime, w: Window<HeldLine>): void {
    for (const o of w.owned) if (o) this.openCount--
    this.telemetry.counters.inc('windows_closed_total', 1, { source: rt.name, reason: w.reason })
  }

  /** Close due windows of every source; called by the timer. */
  private tick (): void {
    this.timer = undefined
    this.timerAt = Infinity
    const now = this.now()
    for (const rt of this.sources) {
      const closed = rt.tick(now)
      if (closed.length > 0) this.dispatch(rt, closed)
    }
    this.schedule()
  }

  private schedule (): void {
    let at = Infinity
    for (const rt of this.sources) at = Math.min(at, rt.nextDeadline() ?? Infinity)
    if (at === Infinity || at >= this.timerAt) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - this.now()))
    this.timer.unref?.()
  }

  /** Score closed windows (`counted`: closing() already ran for them). */
  private dispatch (rt: SourceRuntime, windows: Array<Window<HeldLine>>, counted = false): void {
    if (!counted) for (const w of windows) this.closing(rt, w)
    if (this.scorer.adapter(rt.name) === undefined) {
      for (const w of windows) this.release(rt, w, undefined, 'no_adapter')
      return
    }
    const inputs = windows.map(w => rt.input(w))
    const p = this.scorer.score(rt.name, inputs).then(({ adapter, scores }) => {
      const { rule, normalTemplates: table } = adapter
      windows.forEach((w, i) => {
        const s = scores[i]
        // the rule, the threshold and the table all come from the adapter version that scored the window
        const unseen = rule !== 'model' && table !== undefined && holdsUnseen(w.items, s.contribution.length, table)
        const isAnomaly = isAnomalous(rule, s.score >= adapter.threshold, unseen)
        this.telemetry.counters.inc('windows_scored_total', 1, { source: rt.name })
        if (isAnomaly) this.telemetry.counters.inc('anomalies_total', 1, { source: rt.name })
        this.release(rt, w, { score: s.score, contribution: s.contribution, isAnomaly, threshold: adapter.threshold, model: adapter.model, adapter: adapter.adapter, rule, table })
      })
    }, (err: unknown) => {
      const code = (err as { code?: string }).code ?? 'SCORE_FAILED'
      this.telemetry.counters.inc('scoring_errors_total', windows.length, { source: rt.name, code })
      this.telemetry.log.error({ source: rt.name, code, windows: windows.length, err: (err as Error).message }, 'scoring failed: records go on unscored')
      for (const w of windows) this.release(rt, w, undefined, 'score_failed')
    })
    // A throw while emitting (not expected: the sink closes only after flush)
    // must not become an unhandled rejection that ends the process.
    const tracked: Promise<void> = p.catch((err: unknown) => {
      this.telemetry.log.error({ code: 'SCORE_EMIT_FAILED', source: rt.name, err: (err as Error).message }, 'emitting scored records failed')
    }).finally(() => this.inflight.delete(tracked))
    this.inflight.add(tracked)
  }

  /** Emit the lines this window owns, enriched when it was scored. */
  private release (rt: SourceRuntime, w: Window<HeldLine>, result: Scored | undefined, unscoredReason?: string): void {
    const out: LogEvent[] = []
    const windowId = `${rt.name}:${this.instance}:${w.id}`
    const topLine = result === undefined ? undefined : rt.content(w.items[topIndex(w.items, result.contribution, result.table)].event)
    const pairs = result === undefined
      ? undefined
      : this.encoder.window({
        score: round6(result.score),
        is_anomaly: result.isAnomaly,
        threshold: result.threshold,
        window_id: windowId,
        window_size: w.items.length,
        model: result.model,
        adapter: result.adapter,
        top_line: topLine,
      })
    let unscored = 0
    let fresh = 0
    for (let i = 0; i < w.items.length; i++) {
      if (!w.owned[i]) continue
      const h = w.items[i]
      this.heldCount--
      if (pairs === undefined) {
        unscored++
        rt.unreport(h)
      } else {
        h.event.enrichment = this.encoder.record(pairs, h.templateId, h.template, h.newTemplate)
        if (h.newTemplate) fresh++
      }
      out.push(h.event)
    }
    if (unscored > 0) this.telemetry.counters.inc('records_unscored_total', unscored, { source: rt.name, reason: unscoredReason ?? 'unknown' })
    if (fresh > 0) this.telemetry.counters.inc('new_templates_total', fresh, { source: rt.name })
    if (result?.isAnomaly === true && this.opts.summaryTag !== undefined) out.push(this.summary(rt, w, windowId, result, topLine))
    if (out.length > 0) this.emit(out)
  }

  /** One event per anomalous window, on its own tag, for alert rules. Not tied to any upstream chunk. */
  private summary (rt: SourceRuntime, w: Window<HeldLine>, windowId: string, r: Scored, topLine: string | undefined): LogEvent {
    const receipt = new Receipt(1)
    return {
      tag: this.opts.summaryTag as string,
      time: EventTime.now(),
      record: {
        source: rt.name, window_id: windowId, window_size: w.items.length, score: round6(r.score), threshold: r.threshold, rule: r.rule,
        top_templates: topTemplates(w.items, r.contribution, r.table), top_line: topLine,
        unseen_templates: unseenTemplates(w.items, r.contribution.length, r.table), model: r.model, adapter: r.adapter,
        first_time: w.items[0].event.time instanceof EventTime ? w.items[0].event.time.toNumber() : w.items[0].event.time,
      },
      receipt,
    }
  }

  /**
   * Close every open window now, score it and emit its records; resolves once
   * all of them (and any scoring already under way) are emitted. Used at
   * shutdown and by `POST /v1/flush` (replays, tests): returns what it closed.
   */
  async flush (): Promise<{ windows: number, records: number }> {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; this.timerAt = Infinity }
    const now = this.now()
    let windows = 0
    let records = 0
    for (const rt of this.sources) {
      const closed = rt.flushAll(now)
      windows += closed.length
      for (const w of closed) for (const o of w.owned) if (o) records++
      if (closed.length > 0) this.dispatch(rt, closed)
    }
    while (this.inflight.size > 0) await Promise.all([...this.inflight])
    return { windows, records }
  }

  async close (): Promise<void> { await this.flush() }
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6
