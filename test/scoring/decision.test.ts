/**
 * The decision helpers (plugin/scoring/decision.ts) and `new_template` in the
 * scoring stage, on real HDFS lines parsed by a real Drain: ties in the
 * template table broken by the contribution, only the first T lines counted,
 * the summary lists; and a new template's mark on the first record that
 * carries anomaly fields, in flat mode with a renamed field. The model side is
 * the recording scorer (its contribution peaks on the last line); the real
 * model, bundle and hot swaps are in test/integration/decision-rules.test.ts.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { quietTelemetry } from '../../plugin/events.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { Drain } from '../../plugin/mining/drain.js'
import { presetFor } from '../../plugin/mining/presets.js'
import { outputRecord } from '../../plugin/pipeline/enrichment.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { holdsUnseen, isAnomalous, topIndex, topTemplates, unseenTemplates, type Line } from '../../plugin/scoring/decision.js'
import { Featurizer } from '../../plugin/scoring/features.js'
import { Router } from '../../plugin/scoring/router.js'
import { SourceRuntime } from '../../plugin/scoring/source-runtime.js'
import { ScoringStage } from '../../plugin/scoring/stage.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { RecordingScorer } from './recording-scorer.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const hdfs = logFormat('hdfs')
const all = readFileSync(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8').split('\n', 12_000)
const content = (l: string): string => hdfs.parse(l)?.content ?? l

t.test('the rules, top_line and the summary lists, on real templates', async t => {
  const drain = new Drain(presetFor('HDFS').drain)
  for (const l of all.slice(0, 2000)) drain.add(content(l))
  const line = (s: string): Line => { const r = drain.add(content(s)); return { templateId: r.templateId, template: r.template } }
  const pick = (needle: string): Line => line(all.find(l => l.includes(needle)) as string)
  const receiving = pick('Receiving block')
  const received = pick('Received block')
  const responder = pick('PacketResponder')
  const exception = pick('Got exception while serving')
  t.equal(new Set([receiving, received, responder, exception].map(l => l.templateId)).size, 4, 'four templates')
  // shares as the trainer writes them: receiving in every normal window, received and responder in 90 %, the exception in none (absent)
  const table = new Map([[receiving.templateId, 1], [received.templateId, 0.9], [responder.templateId, 0.9]])
  const w = [receiving, received, responder, received, exception]

  t.equal(topIndex(w, Float32Array.from([5, 1, 2, 3, 0]), table), 4, 'the template no normal window holds is the top line, whatever its contribution')
  t.equal(topIndex(w.slice(0, 4), Float32Array.from([5, 1, 2, 3]), table), 3, 'equal shares (0.9): the larger contribution wins, across templates and lines')
  t.equal(topIndex(w, Float32Array.from([5, 1, 2, 3, 0]), undefined), 0, 'no table: the largest contribution, as before issue 16')
  t.equal(topIndex(w, Float32Array.from([5, 1, 2, 3]), table), 3, 'only the first T lines (those with a contribution) count')
  t.same(topTemplates(w, Float32Array.from([5, 1, 2, 3, 0]), table), [exception.template, received.template, responder.template], 'top_templates in top_line order, distinct')
  t.same(topTemplates(w, Float32Array.from([5, 1, 2, 3, 0]), undefined), [receiving.template, received.template, responder.template], 'without a table: by contribution')

  t.ok(holdsUnseen(w, 5, table), 'the exception line is unseen')
  t.notOk(holdsUnseen(w, 4, table), 'but not among the first 4 lines: a line the model did not see does not count')
  t.same(unseenTemplates(w, 5, table), [exception.template])
  t.same(unseenTemplates([...w, exception, exception], 7, new Map(), 2), [receiving.template, received.template], 'at most max, distinct, in window order')
  t.same(unseenTemplates(w, 5, undefined), [], 'no table: none listed')
  const truth = [[false, false], [false, true], [true, false], [true, true]] as const
  t.same(truth.map(([m, u]) => isAnomalous('model', m, u)), [false, false, true, true])
  t.same(truth.map(([m, u]) => isAnomalous('unseen_template', m, u)), [false, true, false, true])
  t.same(truth.map(([m, u]) => isAnomalous('model_or_unseen_template', m, u)), [false, true, true, true])
})

t.test('new_template: once per new template, on the first record with anomaly fields; flat and renamed', async t => {
  const drain = new Drain(presetFor('HDFS').drain)
  for (const l of all.slice(0, 2000)) drain.add(content(l))
  const embedder = await loadEmbedder(join(root, 'models', 'default', 'embedder.safetensors'))
  // constructed now: the templates Drain holds are the "snapshot"
  const rt = new SourceRuntime({
    name: 'hdfs', messageKeys: ['log'], format: hdfs, maxLen: 20, time: 'arrival', formatTimed: true,
    window: { mode: 'session', keyPattern: /blk_-?\d+/, idleMs: Infinity, maxAgeMs: Infinity, maxLength: Infinity, maxOpen: Infinity },
  }, new Featurizer(drain, embedder, { buckets: 1024, maxParams: 8 }))
  const novel = all.filter(l => l.includes('Got exception while serving')).slice(0, 3)
  const known = all.slice(2000).filter(l => l !== '' && drain.match(content(l)) !== null).slice(0, 600)
  t.ok(novel.length === 3 && novel.every(l => drain.match(content(l)) === null), 'three real lines of a template Drain does not hold')
  t.equal(known.length, 600, 'and 600 of templates it holds')

  class LateAdapter extends RecordingScorer {
    live = false
    override adapter () { return this.live ? this.ref : undefined }
  }
  const scorer = new LateAdapter()
  const telemetry = quietTelemetry()
  const emitted: LogEvent[] = []
  const stage = new ScoringStage(new Router([{ patterns: ['*.hdfs'], source: rt }]), [rt], scorer, telemetry, {
    enrich: { field: 'anomaly', flat: true, names: { new_template: 'first_seen' } }, summaryTag: undefined, now: () => 0,
  })
  stage.start(events => emitted.push(...events))
  const send = async (lines: string[]) => {
    emitted.length = 0
    const receipt = new Receipt(lines.length)
    stage.push(lines.map(log => ({ tag: 'app.hdfs', time: EventTime.now(), record: { log }, receipt })))
    await stage.flush()
    return emitted.map(e => outputRecord(e))
  }
  const first = await send([...known.slice(0, 300), novel[0]])
  t.ok(first.every(r => !('anomaly.first_seen' in r)), 'no adapter yet: every record goes on unscored, without anomaly fields')
  scorer.live = true
  const second = await send([...known.slice(300), novel[1], novel[2]])
  t.same(second.filter(r => r['anomaly.first_seen'] === true).map(r => r.log), [novel[1]], 'the template\'s next record carries new_template (renamed first_seen, flat), the one after does not')
  t.ok(second.every(r => typeof r['anomaly.first_seen'] === 'boolean' && !('anomaly.new_template' in r)), 'every scored record has the renamed field, false but once')
  t.equal(telemetry.counters.get('new_templates_total', { source: 'hdfs' }), 1, 'counted once, when reported')
  const third = await send([novel[0], ...known.slice(0, 50)])
  t.ok(third.every(r => r['anomaly.first_seen'] === false), 'a template learnt since start is new once')
})
