/**
 * The scoring stage on real HDFS lines, against what `prepare` wrote for the
 * same lines: the sidecar must feed the encoder exactly the arrays the trainer
 * learned from (same templates, vectors, parameter buckets, window grouping),
 * and every record must come out once, enriched.
 * The scorer here is `recording-scorer`: it keeps each input and answers a
 * score derived from the input itself, so the test can check both directions.
 */
import t from 'tap'
import { createReadStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { prepare } from '../../plugin/prepare/prepare.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { readNpy } from '../../plugin/prepare/npy.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { Featurizer } from '../../plugin/scoring/features.js'
import { Router } from '../../plugin/scoring/router.js'
import { SourceRuntime } from '../../plugin/scoring/source-runtime.js'
import { ScoringStage } from '../../plugin/scoring/stage.js'
import type { Scorer, WindowInput, WindowScore } from '../../plugin/scoring/scorer.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { outputRecord } from '../../plugin/pipeline/enrichment.js'
import { quietTelemetry } from '../../plugin/events.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { DATASETS } from '../../bench/lib/datasets.js'

const LINES = 20_000
const dir = mkdtempSync(join(tmpdir(), 'fa-scoring-'))

async function headLines (file: string, n: number): Promise<string[]> {
  const out: string[] = []
  const rl = createInterface({ input: createReadStream(file) })
  for await (const line of rl) { if (out.length >= n) break; out.push(line) }
  rl.close()
  return out
}

class RecordingScorer implements Scorer {
  readonly inputs: WindowInput[] = []
  adapter () { return { version: 'v1', threshold: 0.5, model: 'test-model', adapter: 'hdfs@test', rule: 'model' as const } }
  async score (_source: string, windows: WindowInput[]): Promise<{ adapter: ReturnType<RecordingScorer['adapter']>, scores: WindowScore[] }> {
    this.inputs.push(...windows)
    // deterministic: the first embedding value, squashed; contribution peaks at the last line
    return { adapter: this.adapter(), scores: windows.map(w => ({ score: 1 / (1 + Math.exp(-w.embeddings[0][0] * 10)), contribution: Float32Array.from({ length: w.T }, (_, i) => i === w.T - 1 ? 1 : 0) })) }
  }
}

t.test('online featurisation equals prepare, and every record comes out enriched', async t => {
  const lines = await headLines(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), LINES)
  const logs = join(dir, 'hdfs.log')
  writeFileSync(logs, lines.join('\n') + '\n')
  const out = join(dir, 'prep')
  // whole block sessions (no limits), as the runtime below serves: this test is about featurisation; test/scoring/event-clock.test.ts compares the cuts
  await prepare({ format: 'hdfs', logs, labels: join(DATASETS, 'hdfs_loglead_2pct', 'anomaly_label.csv'), out, idleTimeout: null, maxAge: null, maxLength: null })
  const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'))
  const drain = await loadSnapshot(join(out, 'drain.json'))
  if (drain === null) throw new Error('prepare wrote no drain.json')
  const featurizer = new Featurizer(drain, await loadEmbedder(join(out, 'embedder.safetensors')), { buckets: meta.buckets, maxParams: meta.P })
  const rt = new SourceRuntime({
    name: 'hdfs', messageKeys: ['log'], format: logFormat('hdfs'), maxLen: meta.T, time: 'event', formatTimed: true,
    window: { mode: 'session', keyPattern: /blk_-?\d+/, idleMs: Infinity, maxAgeMs: Infinity, maxLength: Infinity, maxOpen: Infinity },
  }, featurizer)
  const scorer = new RecordingScorer()
  const emitted: LogEvent[] = []
  const stage = new ScoringStage(new Router([{ patterns: ['*.hdfs'], source: rt }]), [rt], scorer, quietTelemetry(), {
    enrich: { field: 'anomaly', flat: false, names: {} }, summaryTag: 'anomaly.summary', now: () => 0,
  })
  stage.start(events => emitted.push(...events))
  const receipt = new Receipt(lines.length)
  for (let i = 0; i < lines.length; i += 500) {
    stage.push(lines.slice(i, i + 500).map((log, j) => ({ tag: 'app.hdfs', time: new EventTime(1700000000, i + j), record: { log, n: i + j }, receipt })))
  }
  stage.push([{ tag: 'other.tag', time: 1, record: { log: 'not routed' }, receipt: new Receipt(1) }])
  t.equal(emitted.length, 1, 'an unrouted record passes at once; HDFS records wait for their session')
  t.equal(stage.held, lines.length, 'every HDFS line held')
  await stage.flush()
  t.equal(stage.held, 0, 'nothing held after flush')

  // as they would be re-emitted: the anomaly fields travel as bytes beside the record (plugin/pipeline/enrichment.ts)
  const records = emitted.filter(e => e.tag === 'app.hdfs').map(e => ({ ...e, record: outputRecord(e) }))
  t.equal(records.length, lines.length, 'every record out exactly once')
  t.same([...new Set(records.map(e => e.record.n))].length, lines.length, 'no duplicates')
  const a = records[0].record.anomaly as Record<string, unknown>
  t.match(a, { score: Number, is_anomaly: Boolean, threshold: 0.5, window_id: /^hdfs:/, window_size: Number, template_id: /^[0-9a-f]{16}$/, template: String, model: 'test-model', adapter: 'hdfs@test', top_line: String })
  const first = records.find(e => e.record.n === 0) as LogEvent
  t.equal(first.record.log, lines[0], 'the original fields are unchanged')

  // Window by window: the same grouping, vectors and buckets as prepare's arrays.
  const windows = await readNpy(join(out, 'windows.npy'))
  const vectors = await readNpy(join(out, 'template_vectors.npy'))
  const buckets = await readNpy(join(out, 'param_buckets.npy'))
  const info = readFileSync(join(out, 'window_info.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as { key: string })
  t.equal(scorer.inputs.length, info.length, `${info.length} sessions scored, as many as prepare made`)
  const [N, T] = windows.shape
  const [, D] = vectors.shape
  const P = buckets.shape[2]
  // map each scored input to its session key via the records' window ids
  const byKey = new Map<string, WindowInput>()
  // The recording scorer saw inputs in dispatch order; windows are released in the same order, ids `hdfs:<instance>:<key>#<seq>`.
  const ids = [...new Set(records.map(e => (e.record.anomaly as { window_id: string }).window_id))]
  t.equal(ids.length, N, 'one window id per session')
  let checked = 0
  let mismatched = 0
  for (let i = 0; i < scorer.inputs.length; i++) {
    const key = ids[i].split(':').slice(2).join(':').replace(/#\d+$/, '')
    byKey.set(key, scorer.inputs[i])
  }
  for (let n = 0; n < N; n++) {
    const w = byKey.get(info[n].key)
    if (w === undefined) { mismatched++; continue }
    let len = 0
    while (len < T && (windows.data as Int32Array)[n * T + len] >= 0) len++
    if (w.T !== len) { mismatched++; continue }
    for (let i = 0; i < len; i++) {
      const row = (windows.data as Int32Array)[n * T + i]
      for (let d = 0; d < D; d++) if (Math.abs(w.embeddings[i][d] - (vectors.data as Float32Array)[row * D + d]) > 1e-7) { mismatched++; i = len; break }
      for (let p = 0; p < P; p++) if ((w.buckets[i][p] ?? -1) !== (buckets.data as Int32Array)[(n * T + i) * P + p]) { mismatched++; i = len; break }
    }
    checked++
  }
  t.equal(mismatched, 0, `every one of ${checked} sessions has prepare's template vectors and parameter buckets, line for line`)
  t.ok(emitted.some(e => e.tag === 'anomaly.summary'), 'summary events for anomalous windows')

  // A file with CRLF line ends (loghub_2k's HDFS_2k.log is one), tailed as it is: the record
  // keeps its \r, and the line must parse as prepare parses it (prepare strips the \r).
  const crlf = readFileSync(join(DATASETS, 'loghub_2k', 'HDFS', 'HDFS_2k.log'), 'latin1').split('\n').filter(l => l.endsWith('\r')).slice(0, 300)
  t.ok(crlf.some(l => l.includes('Got exception while serving')), 'the sample holds the lines a trailing \\r used to break')
  let same = 0
  for (const line of crlf) {
    const a = rt.add({ tag: 'app.hdfs', time: 1, record: { log: line }, receipt: new Receipt(1) }, 0)
    const b = rt.add({ tag: 'app.hdfs', time: 1, record: { log: line.slice(0, -1) }, receipt: new Receipt(1) }, 0)
    if (a.kind === 'windowed' && b.kind === 'windowed') same++
  }
  t.equal(same, crlf.length, `all ${crlf.length} CRLF lines are windowed by their block id, as without the \\r`)
  const withCr = rt.featurizer.line(rt.spec.format?.parse(rt.message({ record: { log: crlf[0] } } as unknown as LogEvent) as string)?.content as string)
  const without = rt.featurizer.line(rt.spec.format?.parse(crlf[0].slice(0, -1))?.content as string)
  t.same(withCr, without, 'with the same template and parameters')
})
