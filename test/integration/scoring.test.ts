/**
 * The product path end to end: a real Forward client sends real HDFS lines,
 * the sidecar parses, windows and scores them with a bundle made by the
 * trainer (real ONNX Runtime workers), and a downstream receives every record
 * once, enriched. Then adapters are swapped while records flow.
 */
import t from 'tap'
import { cp, mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FluentClient } from '@fluent-org/logger'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { startReceiver } from '../helpers/sidecar.js'

async function setup (overrides: Record<string, unknown> = {}) {
  const bundle = await mkdtemp(join(tmpdir(), 'fa-bundle-'))
  await cp(await tinyBundle(), bundle, { recursive: true }) // a private copy: the swap test rewrites adapters
  const rx = await startReceiver()
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port, retry_initial: 50 } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { idle_timeout: 300 } }],
    limits: { shutdown_grace: 5000 },
    admin: { port: 0 },
    ...overrides,
  })
  const sidecar = await buildSidecar(config, { telemetry })
  const { forward } = await sidecar.start()
  return { bundle, rx, telemetry, sidecar, port: forward.port }
}

const hdfsLines = async (n: number, from = 0): Promise<string[]> =>
  (await readFile(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')).split('\n').slice(from, from + n)

t.test('HDFS lines through the scoring sidecar: every record once, enriched with its session score', async t => {
  const { rx, telemetry, sidecar, port } = await setup()
  const lines = await hdfsLines(3000)
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port }, ack: { ackTimeout: 20_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  await Promise.all(lines.map((log, i) => client.emit('hdfs', { log, seq: i })))
  // every emit resolved: each chunk was acked, so its records were scored and delivered downstream
  await rx.sink.waitFor(lines.length)
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.equal(got.length, lines.length, 'count for count')
  t.equal(new Set(got.map(e => e.record.seq)).size, lines.length, 'no duplicates')
  const a = got[0].record.anomaly as Record<string, unknown>
  t.match(a, { score: Number, is_anomaly: Boolean, threshold: Number, window_id: /^hdfs:/, window_size: Number, template_id: /^[0-9a-f]{16}$/, template: String, model: String, adapter: /^hdfs@/, top_line: String })
  t.ok(got.every(e => { const s = (e.record.anomaly as { score: number }).score; return s >= 0 && s <= 1 }), 'scores are probabilities')
  const windows = new Set(got.map(e => (e.record.anomaly as { window_id: string }).window_id))
  t.equal(telemetry.counters.get('windows_scored_total', { source: 'hdfs' }), windows.size, 'each window scored once')
  t.equal(telemetry.counters.get('scoring_errors_total', { source: 'hdfs', code: 'POOL_RUN_FAILED' }), 0)
  const summaries = rx.sink.events.filter(e => e.tag === 'scored.anomaly.summary')
  t.equal(summaries.length, telemetry.counters.get('anomalies_total', { source: 'hdfs' }), 'one summary event per anomalous window')
  await client.disconnect()
  await sidecar.stop()
  await rx.close()
})

t.test('adapters swapped repeatedly while records flow: every window scored once, by the old or the new adapter, none failed', async t => {
  const { bundle, rx, telemetry, sidecar, port } = await setup()
  const registry = sidecar.parts.scoring?.registry
  if (registry === undefined) throw new Error('no scoring configured')
  const tensors = await readFile(join(bundle, 'adapters', 'hdfs.safetensors'))
  const meta = await readFile(join(bundle, 'adapters', 'hdfs.json'))
  const lines = await hdfsLines(4000, 10_000)
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port }, ack: { ackTimeout: 30_000 }, eventMode: 'PackedForward', flushInterval: 2 })
  let swaps = 0
  const sending = (async () => {
    for (let i = 0; i < lines.length; i += 200) {
      await Promise.all(lines.slice(i, i + 200).map((log, j) => client.emit('hdfs', { log, seq: i + j })))
    }
  })()
  const swapping = (async () => {
    while (swaps < 10) {
      await (swaps % 2 === 0 ? registry.reload('hdfs') : registry.install('hdfs', tensors, meta))
      swaps++
      await new Promise(resolve => setTimeout(resolve, 30))
    }
  })()
  await Promise.all([sending, swapping])
  await rx.sink.waitFor(lines.length)
  await sidecar.stop()
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.equal(got.length, lines.length, 'no record lost')
  t.ok(got.every(e => typeof (e.record.anomaly as { score?: unknown } | undefined)?.score === 'number'), 'every record scored')
  t.equal(telemetry.counters.get('adapter_swaps_total', { source: 'hdfs' }), 10, '10 swaps happened while records flowed')
  t.equal(telemetry.counters.get('records_unscored_total', { source: 'hdfs', reason: 'score_failed' }), 0, 'no window failed')
  const windows = new Set(got.map(e => (e.record.anomaly as { window_id: string }).window_id))
  t.equal(telemetry.counters.get('windows_scored_total', { source: 'hdfs' }), windows.size, 'each window scored exactly once')
  await client.disconnect()
  await rx.close()
})

t.test('a bad adapter is refused with a clear error and the old one stays live', async t => {
  const { bundle, rx, telemetry, sidecar } = await setup()
  const registry = sidecar.parts.scoring?.registry
  if (registry === undefined) throw new Error('no scoring configured')
  const before = registry.current('hdfs')
  const tensors = await readFile(join(bundle, 'adapters', 'hdfs.safetensors'))
  const meta = JSON.parse(await readFile(join(bundle, 'adapters', 'hdfs.json'), 'utf8'))
  const otherEncoder = Buffer.from(JSON.stringify({ ...meta, encoder_sha256: 'f'.repeat(64) }))
  await t.rejects(registry.install('hdfs', tensors, otherEncoder), { code: 'ADAPTER_ENCODER_MISMATCH', message: /trained against encoder f{64}/ })
  await t.rejects(registry.install('hdfs', tensors.subarray(0, 100), Buffer.from(JSON.stringify(meta))), { code: 'ADAPTER_TENSOR_INVALID' })
  t.equal(registry.current('hdfs'), before, 'the old adapter is still the live one')
  t.same(await readFile(join(bundle, 'adapters', 'hdfs.safetensors')), tensors, 'and its file is untouched')
  t.equal(telemetry.counters.get('adapter_load_failures_total', { source: 'hdfs', code: 'ADAPTER_ENCODER_MISMATCH' }), 1, 'the refusal is counted')
  await sidecar.stop()
  await rx.close()
})

t.test('a full pool queue is waited out: with max_queue 4 every window is still scored, none fails', async t => {
  const { rx, telemetry, sidecar, port } = await setup({
    model: { bundle: await (async () => { const b = await mkdtemp(join(tmpdir(), 'fa-bundle-')); await cp(await tinyBundle(), b, { recursive: true }); return b })(), threads: 1, watch: false, max_queue: 4, max_batch: 2 },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { idle_timeout: 300, max_open: 50 } }],
  })
  const lines = await hdfsLines(3000, 20_000)
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port }, ack: { ackTimeout: 30_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  await Promise.all(lines.map((log, i) => client.emit('hdfs', { log, seq: i })))
  await rx.sink.waitFor(lines.length)
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.equal(got.length, lines.length, 'count for count')
  t.ok(got.every(e => typeof (e.record.anomaly as { score?: number } | undefined)?.score === 'number'), 'every record scored')
  const windows = new Set(got.map(e => (e.record.anomaly as { window_id: string }).window_id))
  t.ok(windows.size > 4 * 10, `many more windows (${windows.size}) than the queue holds`)
  t.equal(telemetry.counters.get('windows_scored_total', { source: 'hdfs' }), windows.size, 'each window scored once')
  t.equal(telemetry.counters.get('scoring_errors_total', { source: 'hdfs', code: 'POOL_QUEUE_FULL' }), 0, 'never refused for a full queue')
  await client.disconnect()
  await sidecar.stop()
  await rx.close()
})
