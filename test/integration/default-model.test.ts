/**
 * The bundled default model, as `npm start` runs it (config/default.yaml,
 * models/default), against the trainer's offline evaluation:
 *
 *   HDFS_2pct.log ──prepare (bundle's embedder)──▶ arrays ──trainer evaluate --scores──▶ score per session (PyTorch)
 *        │
 *        └─ lines of the test-split sessions ──Forward──▶ sidecar (ONNX Runtime) ──Forward──▶ receiver
 *                                                           └─ score per session, from the enriched records
 *
 * Every test-split session must come back with the score `eval` gave it
 * (within 1e-5), the same decision, and so the same precision / recall / F1.
 * Real data, real sockets, the real bundle and both runtimes.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { loadConfig, parseConfig } from '../../config/load.js'
import type { Config } from '../../config/schema.js'
import { quietTelemetry } from '../../plugin/events.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { ForwardClient } from '../../plugin/forward/client.js'
import { buildSidecar } from '../../plugin/index.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { prepare } from '../../plugin/prepare/prepare.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { startReceiver } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const configFile = join(root, 'config', 'default.yaml')
const bundle = join(root, 'models', 'default')
const hdfs = join(DATASETS, 'hdfs_loglead_2pct')
const tmp = mkdtempSync(join(tmpdir(), 'fa-default-model-'))
const BLOCK = /blk_-?\d+/g

interface OfflineScore { row: number, split: string, key: string, label: number, score: number, is_anomaly: boolean }

function prf (pairs: Array<{ predicted: boolean, label: boolean }>): { precision: number, recall: number, f1: number, tp: number, fp: number, fn: number } {
  let tp = 0; let fp = 0; let fn = 0
  for (const p of pairs) {
    if (p.predicted && p.label) tp++
    else if (p.predicted) fp++
    else if (p.label) fn++
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
  return { precision, recall, f1: precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall), tp, fp, fn }
}

t.test('config/default.yaml scores HDFS and BGL with the bundled model', async t => {
  const c = loadConfig(configFile)
  t.equal(c.model.bundle, '../models/default', 'the bundle path is relative to the config file')
  t.same(c.sources.map(s => [s.name, s.match, s.window.mode]), [['hdfs', ['*.hdfs'], 'session'], ['bgl', ['*.bgl'], 'sliding']])
  t.equal(c.sources[1].window.size, 20, 'BGL: sliding windows of 20 lines')
  t.equal(c.enrich.field, 'anomaly', 'the fields go under one anomaly map')
  t.equal(c.enrich.flat, false)
  t.equal(c.admin.port, 24231)
  t.equal(c.buffer.enabled, true, 'the disk buffer is on')
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'))
  t.same(Object.keys(manifest.sources).sort(), ['bgl', 'hdfs'], 'the bundle has an adapter for each configured source')
  for (const s of ['hdfs', 'bgl']) {
    const meta = JSON.parse(readFileSync(join(bundle, 'adapters', `${s}.json`), 'utf8'))
    t.equal(meta.data.split.method, 'chronological', `${s}: trained on a chronological split`)
    t.ok(meta.data.split.test.windows > 0, `${s}: the latest windows were held out as a test split`)
  }
})

t.test('online scores equal `eval` scores on the HDFS test split (within 1e-5)', async t => {
  // 1. Offline: prepare the whole file with the bundle's embedder, then the trainer scores every window.
  const prep = join(tmp, 'prep-hdfs')
  await prepare({ format: 'hdfs', logs: join(hdfs, 'HDFS_2pct.log'), labels: join(hdfs, 'anomaly_label.csv'), out: prep, embedder: join(bundle, 'embedder.safetensors') })
  const bundled = await loadSnapshot(join(bundle, 'parsers', 'hdfs.drain.json'))
  const prepared = await loadSnapshot(join(prep, 'drain.json'))
  t.same(prepared?.templates().map(x => x.template).sort(), bundled?.templates().map(x => x.template).sort(),
    'prepare learns the same templates the bundle\'s parser holds (so both sides see the same lines as the same events)')
  const scoresFile = join(tmp, 'scores.jsonl')
  const reportFile = join(tmp, 'report.json')
  const py = spawnSync('/usr/bin/python3', ['-m', 'models.trainer', 'evaluate', '--bundle', bundle, '--data', prep, '--source', 'hdfs', '--threads', '1',
    '--scores', scoresFile, '--report', reportFile], { cwd: root, encoding: 'utf8' })
  t.equal(py.status, 0, `trainer evaluate: ${py.stderr.slice(-2000)}`)
  const offline = readFileSync(scoresFile, 'utf8').trim().split('\n').map(l => JSON.parse(l) as OfflineScore)
  const test = new Map(offline.filter(o => o.split === 'test').map(o => [o.key, o]))
  const report = JSON.parse(readFileSync(reportFile, 'utf8'))
  t.equal(test.size, report.split.test.windows, 'one offline score per test-split session')

  // 2. Online: the sidecar from config/default.yaml (ports moved to 0), fed every line of the test sessions.
  const rx = await startReceiver()
  const loaded = loadConfig(configFile)
  const config: Config = {
    ...loaded,
    input: { ...loaded.input, forward: { ...loaded.input.forward, port: 0 } },
    output: { forward: { ...loaded.output.forward, port: rx.port } },
    admin: { ...loaded.admin, port: 0 },
    buffer: { ...loaded.buffer, path: join(tmp, 'buffer') }, // not the repository's var/buffer
    log: { level: 'warn' },
  }
  const sc = await buildSidecar(config, { telemetry: quietTelemetry(), baseDir: dirname(configFile) })
  const { forward, admin } = await sc.start()
  t.teardown(async () => { await sc.stop(); await rx.close() })

  const lines: string[] = []
  const rl = createInterface({ input: createReadStream(join(hdfs, 'HDFS_2pct.log')) })
  for await (const line of rl) {
    for (const k of line.match(BLOCK) ?? []) if (test.has(k)) { lines.push(line); break }
  }
  // Every chunk stays unacked until its sessions are flushed, so the sender
  // must not stop at a few chunks in flight (as replay's --max-unacked).
  const sender = new ForwardClient(parseConfig({ output: { forward: { port: forward.port, tag_prefix: '', max_inflight_chunks: 10_000, ack_timeout: '10m' } } }).output.forward, quietTelemetry())
  const acked: Array<Promise<void>> = []
  for (let i = 0; i < lines.length; i += 500) {
    const part = lines.slice(i, i + 500)
    const receipt = new Receipt(part.length)
    sender.write(part.map((log, j): LogEvent => ({ tag: 'app.hdfs', time: new EventTime(1_700_000_000 + Math.floor((i + j) / 1000), 0), record: { log, seq: i + j }, receipt })))
    acked.push(receipt.whenDone())
  }
  // The sessions stay open (idle_timeout 30 s) until flushed: nothing comes back before.
  t.ok(await waitFor(() => sc.pipeline.pending + rx.sink.events.length >= lines.length, 60_000), 'the sidecar holds every line')
  t.ok(rx.sink.events.length < lines.length, 'sessions stay open while lines arrive (records wait for their window)')
  const flush = await request(`http://127.0.0.1:${(admin as { port: number }).port}/v1/flush`, { method: 'POST' })
  t.equal(flush.statusCode, 200, 'POST /v1/flush scores the open windows')
  const flushed = await flush.body.json() as { windows: number, records: number }
  t.ok(flushed.windows >= test.size, `flush closed ${flushed.windows} windows`)
  await rx.sink.waitFor(lines.length, 60_000)
  await Promise.all(acked)
  await sender.close(1000)

  // 3. Compare, session by session. A window's key is the block id every record it owns names.
  const records = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.equal(records.length, lines.length, 'every line came back once')
  t.same(new Set(records.map(e => e.record.seq)).size, lines.length, 'no line twice')
  const byWindow = new Map<string, { keys: Set<string>, score: number, isAnomaly: boolean }>()
  let unscored = 0
  for (const e of records) {
    const a = e.record.anomaly as { window_id: string, score: number, is_anomaly: boolean } | undefined
    if (a === undefined) { unscored++; continue }
    const keys = new Set(String(e.record.log).match(BLOCK) ?? [])
    const w = byWindow.get(a.window_id)
    if (w === undefined) byWindow.set(a.window_id, { keys, score: a.score, isAnomaly: a.is_anomaly })
    else for (const k of w.keys) if (!keys.has(k)) w.keys.delete(k)
  }
  t.equal(unscored, 0, 'every record carries an anomaly map')
  let compared = 0
  let worst = 0
  const pairs: Array<{ predicted: boolean, label: boolean }> = []
  const mismatches: string[] = []
  for (const w of byWindow.values()) {
    const key = [...w.keys].find(k => test.has(k))
    if (key === undefined || w.keys.size !== 1) continue
    const o = test.get(key) as OfflineScore
    const d = Math.abs(o.score - w.score)
    worst = Math.max(worst, d)
    if (d > 1e-5 || o.is_anomaly !== w.isAnomaly) mismatches.push(`${key}: online ${w.score} offline ${o.score}`)
    pairs.push({ predicted: w.isAnomaly, label: o.label === 1 })
    compared++
  }
  t.equal(compared, test.size, 'every test-split session was scored online, as one window')
  t.same(mismatches, [], `online score = offline score within 1e-5 (largest difference ${worst.toExponential(2)})`)
  const online = prf(pairs)
  const off = report.model.test
  t.same([online.tp, online.fp, online.fn], [off.tp, off.fp, off.fn], 'the same hits, false alarms and misses as `eval`')
  t.ok(Math.abs(online.f1 - off.f1) < 1e-9, `the same F1 (${online.f1.toFixed(3)})`)
})
