/**
 * The held-records cap in the scoring stage: with windows that no limit
 * closes (trained sessions can idle for hours), records in open windows stay
 * at or below maxHeldRecords; beyond it the least recently active windows of
 * any source are scored early (windows_closed_total{reason="held_limit"}),
 * never dropped. Real HDFS lines, the bundled embedder, a recording scorer.
 */
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { quietTelemetry } from '../../plugin/events.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { Drain } from '../../plugin/mining/drain.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { Featurizer } from '../../plugin/scoring/features.js'
import { Router } from '../../plugin/scoring/router.js'
import { SourceRuntime } from '../../plugin/scoring/source-runtime.js'
import { ScoringStage } from '../../plugin/scoring/stage.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { RecordingScorer } from './recording-scorer.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const lines = readFileSync(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8').split('\n', 4000)

t.test('records in open windows stay under the cap; the least recently active windows, of any source, are scored early', async t => {
  const embedder = await loadEmbedder(join(root, 'models', 'default', 'embedder.safetensors'))
  const runtime = (name: string) => new SourceRuntime({
    // arrival: "least recently active" is then plain wall time (with event time it is the longest idle on each source's own clock)
    name, messageKeys: ['log'], format: logFormat('hdfs'), maxLen: 512, time: 'arrival', formatTimed: true,
    // as a trained policy with no time limit would be served
    window: { mode: 'session', keyPattern: /blk_-?\d+/, idleMs: Infinity, maxAgeMs: Infinity, maxLength: Infinity, maxOpen: Infinity },
  }, new Featurizer(new Drain(), embedder, { buckets: 1024, maxParams: 8 }))
  const a = runtime('a')
  const b = runtime('b')
  const telemetry = quietTelemetry()
  let wall = 1_000
  const emitted: LogEvent[] = []
  const stage = new ScoringStage(new Router([{ patterns: ['a.*'], source: a }, { patterns: ['b.*'], source: b }]), [a, b], new RecordingScorer(), telemetry, {
    enrich: { field: 'anomaly', flat: false, names: {} }, summaryTag: undefined, now: () => wall, maxHeldRecords: 500,
  })
  stage.start(events => emitted.push(...events))
  const send = (tag: string, part: string[], from: number) => {
    const receipt = new Receipt(part.length)
    stage.push(part.map((log, i) => ({ tag, time: EventTime.now(), record: { log, n: from + i }, receipt })))
  }
  send('a.hdfs', lines.slice(0, 400), 0)
  t.equal(stage.inOpenWindows, 400, 'under the cap: every record waits in its session')
  wall = 2_000
  send('b.hdfs', lines.slice(400, 800), 400)
  t.ok(stage.inOpenWindows <= 500, `back at the cap: ${stage.inOpenWindows} records in open windows`)
  const early = (s: string) => telemetry.counters.get('windows_closed_total', { source: s, reason: 'held_limit' })
  t.ok(early('a') > 0, `source a, idle longest, paid: ${early('a')} windows scored early`)
  t.equal(early('b'), 0, 'source b, just active, kept its windows')
  let peak = 0
  for (let i = 800; i < 4000; i += 200) {
    wall += 100
    send(i % 400 === 0 ? 'a.hdfs' : 'b.hdfs', lines.slice(i, i + 200), i)
    peak = Math.max(peak, stage.inOpenWindows)
  }
  t.ok(peak <= 500, `the cap holds while records keep coming (peak ${peak})`)
  t.equal(telemetry.counters.snapshot().scoring_window_records, stage.inOpenWindows, 'exported as scoring_window_records')
  await stage.flush()
  t.equal(stage.inOpenWindows, 0)
  t.equal(stage.held, 0, 'nothing held after the flush')
  const out = emitted.map(e => e.record.n as number).sort((x, y) => x - y)
  t.same(out, Array.from({ length: 4000 }, (_, i) => i), 'every record out exactly once: scored early, never dropped')
  t.ok(emitted.every(e => e.enrichment !== undefined), 'and scored')
  const closed = ['held_limit', 'flush'].map(reason => telemetry.counters.get('windows_closed_total', { source: 'a', reason }) + telemetry.counters.get('windows_closed_total', { source: 'b', reason }))
  t.equal(closed[0] + closed[1], telemetry.counters.get('windows_scored_total', { source: 'a' }) + telemetry.counters.get('windows_scored_total', { source: 'b' }), 'every window closed by the cap or the flush, counted by reason')
})
