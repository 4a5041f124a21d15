/**
 * Online = offline under the serving defaults, not only with infinite limits
 * (issue 16). `prepare` cuts 20,000 real HDFS lines into sessions under its
 * default policy (block id, idle 30 s, max age 10 min, 256 lines, in log
 * time); the scoring stage, serving that policy as resolved from the
 * manifest entry the trainer would write, must cut exactly the same windows:
 *
 *   - time: event, a replay as fast as it goes: the wall clock frozen
 *     (tap's t.clock), so only the lines' own times move the window clock;
 *   - time: arrival, records arriving live: the wall clock advanced by the
 *     log's own gaps between lines (timers fire as they would);
 *   - and the quiet fallback: after the last record the clock runs on with
 *     the wall clock, so an idle window closes once idle_timeout of wall time
 *     has passed.
 *
 * Windows are compared as (key, first line, last line, size) with prepare's
 * window_info.jsonl. A recording-runtime keeps each window as it closes.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../config/load.js'
import { WINDOW_DEFAULTS } from '../../config/schema.js'
import { quietTelemetry, type Telemetry } from '../../plugin/events.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { outputRecord } from '../../plugin/pipeline/enrichment.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { prepare } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'
import { Featurizer } from '../../plugin/scoring/features.js'
import { Router } from '../../plugin/scoring/router.js'
import { SourceRuntime, type HeldLine, type SourceSpec } from '../../plugin/scoring/source-runtime.js'
import { ScoringStage } from '../../plugin/scoring/stage.js'
import { resolveWindow, type TrainedWindow } from '../../plugin/scoring/window-policy.js'
import type { Window } from '../../plugin/windowing/index.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { RecordingScorer } from './recording-scorer.js'

const LINES = 20_000
const dir = mkdtempSync(join(tmpdir(), 'fa-event-clock-'))
const hdfs = logFormat('hdfs')
const lines = readFileSync(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8').split('\n', LINES)
const REPLAYED_AT = Date.UTC(2026, 11, 7)
const { UTC, parse } = Date
/**
 * tap's t.clock, entered: Date.now, timers and setImmediate follow the fake
 * clock. Its Date copies only the enumerable statics of the real one, so
 * Date.UTC (which the HDFS header time uses) is put back.
 */
function enterClock (t: Test): void {
  t.clock.enter()
  Object.assign(globalThis.Date, { UTC, parse })
}
/** Let the recording scorer's promises settle (setImmediate is the fake clock's too). */
async function settle (): Promise<void> { for (let i = 0; i < 20; i++) await Promise.resolve() }
const timeMs = (line: string): number => (hdfs.parse(line)?.time as number) * 1000

/** A source runtime that keeps every window it closes (records carry their line number `n`, 1-based). */
class RecordingRuntime extends SourceRuntime {
  readonly closed: Array<Window<HeldLine>> = []
  private keep (ws: Array<Window<HeldLine>>): Array<Window<HeldLine>> { this.closed.push(...ws); return ws }
  override add (event: LogEvent, wall: number) { const r = super.add(event, wall); this.keep(r.closed); return r }
  override tick (wall: number) { return this.keep(super.tick(wall)) }
  override flushAll (wall: number) { return this.keep(super.flushAll(wall)) }
  override closeLeastRecent (wall: number) { const w = super.closeLeastRecent(wall); if (w !== undefined) this.keep([w]); return w }
}

interface Cut { key: string, first: number, last: number, size: number }
const sig = (c: Cut): string => `${c.key} ${c.first}-${c.last} (${c.size})`
const cutsOf = (ws: Array<Window<HeldLine>>): string[] => ws.map(w => sig({
  key: w.key, first: w.items[0].event.record.n as number, last: w.items[w.items.length - 1].event.record.n as number, size: w.items.length,
})).sort()

let offline: { cuts: string[], window: TrainedWindow, closed: Record<string, number>, featurizer: () => Promise<Featurizer> }

t.before(async () => {
  const logs = join(dir, 'hdfs.log')
  writeFileSync(logs, lines.join('\n') + '\n')
  const out = join(dir, 'prep')
  // the built-in policy (prepare's defaults are the same numbers), given explicitly
  const { meta } = await prepare({
    format: 'hdfs', logs, labels: join(DATASETS, 'hdfs_loglead_2pct', 'anomaly_label.csv'), out, progress: createProgress(process.stderr, { quiet: true }),
    idleTimeout: WINDOW_DEFAULTS.idle_timeout, maxAge: WINDOW_DEFAULTS.max_age, maxLength: WINDOW_DEFAULTS.max_length,
  })
  const info = readFileSync(join(out, 'window_info.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as { key: string, first_line: number, last_line: number, size: number })
  offline = {
    cuts: info.map(i => sig({ key: i.key, first: i.first_line, last: i.last_line, size: i.size })).sort(),
    // as the trainer copies it into the bundle manifest: format, mode, T beside meta.window
    window: { format: meta.format, mode: meta.mode, T: meta.T, ...meta.window } as unknown as TrainedWindow,
    closed: meta.counts.closed,
    featurizer: async () => {
      const drain = await loadSnapshot(join(out, 'drain.json'))
      if (drain === null) throw new Error('prepare wrote no drain.json')
      return new Featurizer(drain, await loadEmbedder(join(out, 'embedder.safetensors')), { buckets: meta.buckets, maxParams: meta.P })
    },
  }
})

/** A stage serving what the bundle records (the config silent but for `time`), with a recording runtime. */
async function served (time: 'event' | 'arrival', telemetry: Telemetry = quietTelemetry()) {
  const src = parseConfig({ sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { time } }] }).sources[0]
  const r = resolveWindow(src, offline.window, 512)
  const spec: SourceSpec = { name: 'hdfs', messageKeys: ['log'], format: hdfs, window: r.window, maxLen: r.maxLen, time: r.time, formatTimed: true }
  const rt = new RecordingRuntime(spec, await offline.featurizer())
  const emitted: LogEvent[] = []
  const stage = new ScoringStage(new Router([{ patterns: ['*.hdfs'], source: rt }]), [rt], new RecordingScorer(), telemetry, {
    enrich: { field: 'anomaly', flat: false, names: {} }, summaryTag: undefined,
  })
  stage.start(events => emitted.push(...events))
  return { rt, stage, emitted, resolved: r, telemetry }
}

const record = (log: string, n: number, receipt: Receipt): LogEvent => ({ tag: 'app.hdfs', time: EventTime.now(), record: { log, n }, receipt })

t.test('the policy prepare wrote is the one served: block sessions, idle 30 s, max age 10 min, 256 lines, in log time', async t => {
  t.match(offline.window, { mode: 'session', session_key: 'blk_-?\\d+', key_from: 'pattern', clock: 'event', idle_timeout_ms: 30_000, max_age_ms: 600_000, max_length: 256, truncation: 'first T lines' })
  const { resolved } = await served('event')
  t.match(resolved, { known: true, mismatches: [], time: 'event', window: { mode: 'session', idleMs: 30_000, maxAgeMs: 600_000, maxLength: 256 } })
  t.equal(resolved.maxLen, offline.window.T, 'windows are scored on their first T lines, as prepare truncates')
  t.ok(offline.closed.idle > 1000, `the limits bite offline (${JSON.stringify(offline.closed)}), so equal cuts mean something`)
})

t.test('time: event, a replay at full speed (wall clock frozen): exactly the windows prepare cut', async t => {
  enterClock(t)
  t.clock.travel(REPLAYED_AT) // replayed years after the log was written
  const { rt, stage, emitted, telemetry } = await served('event')
  const receipt = new Receipt(LINES)
  for (let i = 0; i < LINES; i += 500) stage.push(lines.slice(i, i + 500).map((log, j) => record(log, i + j + 1, receipt)))
  t.ok(rt.closed.length > offline.cuts.length / 2, `${rt.closed.length} windows closed by log time alone, with no wall time passing`)
  await stage.flush()
  t.same(cutsOf(rt.closed), offline.cuts, `the same ${offline.cuts.length} windows (key, first line, last line, size)`)
  t.equal(emitted.length, LINES, 'every record out once')
  const c = telemetry.counters
  t.same(['idle', 'max_age', 'max_length', 'flush'].map(reason => c.get('windows_closed_total', { source: 'hdfs', reason })),
    ['idle', 'max_age', 'max_length', 'flush'].map(reason => offline.closed[reason]), 'closed for the same reasons, counted in windows_closed_total')
})

t.test('time: arrival, records arriving live (wall clock advanced by the log\'s own gaps): the same windows', async t => {
  enterClock(t)
  t.clock.travel(timeMs(lines[0]))
  const { rt, stage, emitted } = await served('arrival')
  const receipt = new Receipt(LINES)
  for (let i = 0; i < LINES;) {
    // the lines of one second of log arrive together; the timer closes what is due on the way
    let j = i
    while (j < LINES && timeMs(lines[j]) === timeMs(lines[i])) j++
    t.clock.advance(timeMs(lines[i]) - Date.now())
    stage.push(lines.slice(i, j).map((log, k) => record(log, i + k + 1, receipt)))
    i = j
  }
  await stage.flush()
  t.same(cutsOf(rt.closed), offline.cuts, `the same ${offline.cuts.length} windows`)
  t.equal(emitted.length, LINES, 'every record out once')
})

t.test('the quiet fallback: after the last record an idle window closes once idle_timeout of wall time has passed', async t => {
  enterClock(t)
  t.clock.travel(REPLAYED_AT)
  const { stage, emitted, telemetry } = await served('event')
  const key = /blk_-?\d+/.exec(lines[0])?.[0] as string
  const block = lines.filter(l => l.match(/blk_-?\d+/g)?.length === 1 && l.includes(key + ' ')).slice(0, 3)
  t.ok(block.length === 3 && timeMs(block[2]) - timeMs(block[0]) < 30_000, 'three lines of one block, under 30 s of log time apart')
  const receipt = new Receipt(block.length)
  stage.push(block.map((log, i) => record(log, i + 1, receipt)))
  t.equal(stage.inOpenWindows, 3, 'the block\'s session is open')
  t.clock.advance(29_999)
  await settle()
  t.equal(emitted.length, 0, 'not yet: 29.999 s of wall time since the last record')
  t.clock.advance(1)
  t.equal(telemetry.counters.get('windows_closed_total', { source: 'hdfs', reason: 'idle' }), 1, 'closed by the timer, as idle')
  await settle()
  t.equal(emitted.length, 3, 'and its records went out, scored')
  t.match(outputRecord(emitted[0]).anomaly, { score: Number, window_size: 3 }, 'enriched with the window score')
})

t.test('a replay started over: the clock resets, the old windows are scored, and the second pass cuts the same windows', async t => {
  enterClock(t)
  t.clock.travel(REPLAYED_AT)
  const { rt, stage, emitted } = await served('event')
  const receipt = new Receipt(2 * LINES)
  for (const pass of [0, 1]) {
    for (let i = 0; i < LINES; i += 500) stage.push(lines.slice(i, i + 500).map((log, j) => record(log, pass * LINES + i + j + 1, receipt)))
    if (pass === 0) t.equal(rt.clockResets, 0, 'one pass: no reset')
  }
  t.equal(rt.clockResets, 1, 'the first line of the second pass (hours behind the clock) reset it once')
  await stage.flush()
  const first = cutsOf(rt.closed.filter(w => (w.items[0].event.record.n as number) <= LINES))
  const second = cutsOf(rt.closed.filter(w => (w.items[0].event.record.n as number) > LINES)).map(c => c.replace(/ (\d+)-(\d+) /, (_, a, b) => ` ${Number(a) - LINES}-${Number(b) - LINES} `)).sort()
  t.same(first, offline.cuts, 'the first pass: the windows prepare cut')
  t.same(second, offline.cuts, 'the second pass too: its lines did not land in the first pass\'s windows, and they idled out in log time')
  t.equal(emitted.length, 2 * LINES, 'every record out once')
})
