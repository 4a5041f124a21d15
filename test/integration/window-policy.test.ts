/**
 * The sidecar serves the window policy its bundle was trained with (issue 16),
 * with the trainer's bundle, real ONNX Runtime workers and real sockets:
 *
 *   - the config silent: the manifest's policy is served, gauge
 *     window_policy_mismatch{source} 0, no warning;
 *   - a config value that differs: one WINDOW_POLICY_MISMATCH warning naming
 *     each key with the trained and the configured value, the gauge = keys;
 *   - a bundle from before the policy was recorded: the built-in defaults,
 *     and one info line saying so;
 *   - no stall: sessions no limit closes (idle 12 h of log time, no max age)
 *     fill max_pending_records, the input stops; the held-records cap scores
 *     the least recently active windows early, and the input resumes (our
 *     Forward client; and @fluent-org/logger with one session per record).
 *     The same send through a stage without the cap stays stuck.
 */
import t from 'tap'
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { FluentClient } from '@fluent-org/logger'
import { parseConfig } from '../../config/load.js'
import { createTelemetry, quietTelemetry, type Telemetry } from '../../plugin/events.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { ForwardClient } from '../../plugin/forward/client.js'
import { createSidecar } from '../../plugin/index.js'
import { buildSidecar } from '../../plugin/index.js'
import { Drain } from '../../plugin/mining/drain.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { buildScoring } from '../../plugin/scoring/build.js'
import { Featurizer } from '../../plugin/scoring/features.js'
import { Router } from '../../plugin/scoring/router.js'
import { SourceRuntime } from '../../plugin/scoring/source-runtime.js'
import { ScoringStage } from '../../plugin/scoring/stage.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { startReceiver } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'
import { RecordingScorer } from '../scoring/recording-scorer.js'

/** The policy as `prepare --idle-timeout 12h --max-age none` writes it (the HDFS policy the default model will be trained with). */
const POLICY = {
  session_key: 'blk_-?\\d+', key_field: null, key_from: 'pattern', clock: 'event',
  idle_timeout_ms: 43_200_000, max_age_ms: null, max_length: 256, truncation: 'first T lines',
  closed_at: 'a session closes after 12 h without a line (idle_timeout) or at 256 lines (max_length), whichever comes first, in event time',
}

/** A private copy of the trainer's tiny bundle, its hdfs window entry rewritten: with POLICY, or as an old bundle wrote it. */
async function bundleWith (policy: 'recorded' | 'old'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fa-policy-bundle-'))
  await cp(await tinyBundle(), dir, { recursive: true })
  const file = join(dir, 'manifest.json')
  const m = JSON.parse(await readFile(file, 'utf8'))
  const { format, mode, T } = m.sources.hdfs.window
  m.sources.hdfs.window = policy === 'recorded' ? { format, mode, T, ...POLICY } : { format, mode, T, session_key: 'blk_-?\\d+', closed_at: 'end of file (no idle / age limit offline)' }
  await writeFile(file, JSON.stringify(m, null, 2))
  return dir
}

/** Telemetry whose log lines (JSON) are kept. */
function loggingTelemetry (): { telemetry: Telemetry, lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = []
  const sink = new Writable({ write (chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); done() } })
  return { telemetry: createTelemetry('info', sink), lines }
}

const hdfsLines = async (n: number): Promise<string[]> => (await readFile(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')).split('\n', n)

async function scoringOf (bundle: string, window: Record<string, unknown> = {}) {
  const { telemetry, lines } = loggingTelemetry()
  const config = parseConfig({ model: { bundle, threads: 1, watch: false }, sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window }] })
  const scoring = await buildScoring(config, telemetry)
  if (scoring === undefined) throw new Error('no scoring')
  await new Promise(resolve => setImmediate(resolve)) // pino writes asynchronously to the stream
  return { scoring, telemetry, lines, served: scoring.windows.get('hdfs') }
}

t.test('policy resolution at start: trained policy, mismatch warning and gauge, old-bundle fallback', async t => {
  const recorded = await bundleWith('recorded')
  {
    const { scoring, telemetry, lines, served } = await scoringOf(recorded)
    t.match(served, { known: true, mismatches: [], time: 'event', window: { mode: 'session', idleMs: 43_200_000, maxAgeMs: Infinity, maxLength: 256 } }, 'the config silent: the trained policy')
    t.equal(telemetry.counters.snapshot()['window_policy_mismatch{source="hdfs"}'], 0, 'window_policy_mismatch 0')
    t.same(lines.filter(l => l.code === 'WINDOW_POLICY_MISMATCH'), [], 'no warning')
    t.match(lines.find(l => l.source === 'hdfs' && Array.isArray(l.unlimited)), { level: 30, unlimited: ['max_age'], msg: /no max_age \(as trained\); its windows close only after 12 h idle, at max_length/ }, 'no max age: said at start')
    await scoring.close()
  }
  {
    const { scoring, telemetry, lines, served } = await scoringOf(recorded, { idle_timeout: '30s', max_age: '50s', max_length: 256 })
    t.match(served?.window, { idleMs: 30_000, maxAgeMs: 50_000 }, 'the configured values are served')
    const warned = lines.filter(l => l.code === 'WINDOW_POLICY_MISMATCH')
    t.equal(warned.length, 1, 'one warning for the source')
    t.match(warned[0], {
      level: 40, source: 'hdfs', adapter: 'hdfs',
      keys: { idle_timeout: { trained: 43_200_000, configured: 30_000 }, max_age: { trained: null, configured: 50_000 } },
      msg: /the model was not trained on these windows \(adapter "hdfs"\): idle_timeout trained 12 h, configured 30 s; max_age trained none, configured 50 s\./,
    })
    t.notOk('max_length' in warned[0].keys, 'a configured value equal to the trained one is no mismatch')
    t.equal(telemetry.counters.snapshot()['window_policy_mismatch{source="hdfs"}'], 2, 'window_policy_mismatch = the number of differing keys')
    await scoring.close()
  }
  {
    const { scoring, telemetry, lines, served } = await scoringOf(await bundleWith('old'))
    t.match(served, { known: false, mismatches: [], window: { idleMs: 30_000, maxAgeMs: 600_000, maxLength: 256 } }, 'an old bundle: the built-in defaults')
    t.equal(served?.maxLen, scoring.registry.bundle.manifest.encoder.max_len, 'and the encoder max_len, as before')
    t.equal(lines.filter(l => /does not record the window policy/.test(l.msg)).length, 1, 'said once, at info')
    t.equal(telemetry.counters.snapshot()['window_policy_mismatch{source="hdfs"}'], 0)
    await scoring.close()
  }
})

t.test('no stall: long-lived sessions fill max_pending_records, the held-records cap scores windows early, the input resumes', async t => {
  const bundle = await bundleWith('recorded')
  const lines = await hdfsLines(6000)
  const rx = await startReceiver()
  const telemetry = quietTelemetry()
  // max_held_records defaults to 40 % of max_pending_records: 400
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port, retry_initial: 50 } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs' }],
    limits: { max_pending_records: 1000, shutdown_grace: 5000 },
    admin: { enabled: false },
  })
  t.equal(config.limits.max_held_records, 400)
  const sidecar = await buildSidecar(config, { telemetry })
  const { forward } = await sidecar.start()
  t.teardown(async () => { await sidecar.stop(); await rx.close() })
  const sender = new ForwardClient(parseConfig({ output: { forward: { port: forward.port, tag_prefix: '', max_chunk_records: 1000, max_inflight_chunks: 100, ack_timeout: '5m' } } }).output.forward, quietTelemetry())
  const acked: Array<Promise<void>> = []
  for (let i = 0; i < lines.length; i += 1000) {
    const receipt = new Receipt(Math.min(1000, lines.length - i))
    sender.write(lines.slice(i, i + 1000).map((log, j): LogEvent => ({ tag: 'app.hdfs', time: EventTime.now(), record: { log, seq: i + j }, receipt })))
    acked.push(receipt.whenDone())
  }
  // Only the cap closes sessions here (12 h of log time never pass): the input must still take every record.
  const scoring = sidecar.parts.scoring
  if (scoring === undefined) throw new Error('no scoring')
  t.ok(await waitFor(() => telemetry.counters.get('records_in_total', { mode: 'packed' }) === lines.length, 60_000), 'the input took all 6,000 records: it resumed every time it stopped')
  t.ok(scoring.stage.inOpenWindows <= 400, `${scoring.stage.inOpenWindows} records wait in open windows (at most max_held_records)`)
  t.ok(await waitFor(() => rx.sink.events.filter(e => e.tag === 'scored.app.hdfs').length === lines.length - scoring.stage.inOpenWindows, 30_000), 'every other record came back scored')
  // the rest wait for their sessions (the trained 12 h, or the cap); a flush (shutdown, POST /v1/flush) scores them
  await scoring.stage.flush()
  await rx.sink.waitFor(lines.length, 30_000)
  await Promise.all(acked)
  await sender.close(1000)
  const c = telemetry.counters
  t.ok(c.get('backpressure_engaged_total') >= 1 && c.get('backpressure_released_total') >= 1,
    `the input stopped at max_pending_records and resumed (engaged ${c.get('backpressure_engaged_total')}, released ${c.get('backpressure_released_total')})`)
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.equal(got.length, lines.length, 'every record came back, every chunk acked')
  t.equal(new Set(got.map(e => e.record.seq)).size, lines.length, 'once each')
  t.ok(got.every(e => typeof (e.record.anomaly as { score?: unknown } | undefined)?.score === 'number'), 'all scored')
  t.ok(c.get('windows_closed_total', { source: 'hdfs', reason: 'held_limit' }) > 0, `${c.get('windows_closed_total', { source: 'hdfs', reason: 'held_limit' })} windows scored early by the cap (windows_closed_total{reason="held_limit"})`)
  t.equal(c.get('windows_closed_total', { source: 'hdfs', reason: 'idle' }), 0, 'none by idle: 12 h of log time never passed')
})

t.test('no stall with @fluent-org/logger: 1,500 records of 1,500 distinct sessions through max_pending_records 300', async t => {
  // The worst case for the cap: every record opens its own session (the first line of 1,500 blocks), so
  // each early close frees one record. The trained policy (12 h idle in log time) closes none of them.
  const bundle = await bundleWith('recorded')
  const seen = new Set<string>()
  const lines = (await hdfsLines(100_000)).filter(l => {
    const b = l.match(/blk_-?\d+/g) ?? []
    if (b.length !== 1 || seen.has(b[0])) return false
    seen.add(b[0])
    return true
  }).slice(0, 1500)
  t.equal(lines.length, 1500)
  const rx = await startReceiver()
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port, retry_initial: 50 } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs' }],
    limits: { max_pending_records: 300, shutdown_grace: 5000 },
    admin: { enabled: false },
  })
  const sidecar = await buildSidecar(config, { telemetry })
  const { forward } = await sidecar.start()
  const scoring = sidecar.parts.scoring
  if (scoring === undefined) throw new Error('no scoring')
  t.equal(scoring.windows.get('hdfs')?.time, 'event', 'event-time sessions')
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: forward.port }, ack: { ackTimeout: 120_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  t.teardown(async () => { await client.disconnect(); await sidecar.stop(); await rx.close() })
  // chunks of 500 (one per flushInterval), none awaited: a chunk is acked only once all its records are
  // delivered, and each alone is over max_pending_records, so the input stops after every one
  const acked: Array<Promise<void>> = []
  for (let i = 0; i < lines.length; i += 500) {
    for (let seq = i; seq < i + 500; seq++) acked.push(client.emit('hdfs', { log: lines[seq], seq }))
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  const scored = () => rx.sink.events.filter(e => e.tag === 'scored.app.hdfs').length
  t.ok(await waitFor(() => telemetry.counters.get('records_in_total', { mode: 'packed' }) === lines.length, 60_000), 'the input took every record: it resumed each time it stopped')
  t.ok(await waitFor(() => scored() === lines.length - scoring.stage.inOpenWindows, 30_000), `and every record but the ${scoring.stage.inOpenWindows} in open windows came back before any flush`)
  t.ok(scoring.stage.inOpenWindows <= 120, 'at most max_held_records (40 % of 300) wait')
  const c = telemetry.counters
  t.ok(c.get('backpressure_engaged_total') >= 1 && c.get('backpressure_released_total') >= 1, `the input stopped at max_pending_records and resumed (engaged ${c.get('backpressure_engaged_total')}, released ${c.get('backpressure_released_total')})`)
  t.equal(c.get('windows_closed_total', { source: 'hdfs', reason: 'held_limit' }), lines.length - scoring.stage.inOpenWindows, 'each of them closed early by the cap, one record per window')
  await scoring.stage.flush() // the rest wait for their sessions; shutdown or POST /v1/flush scores them
  await Promise.all(acked)
  t.ok(await waitFor(() => scored() === lines.length, 10_000), 'every record delivered, every emit acked')
  t.equal(new Set(rx.sink.events.filter(e => e.tag === 'scored.app.hdfs').map(e => e.record.seq)).size, lines.length, 'once each')
})

t.test('without the cap (a stage built by hand), the same send stays stuck: the input paused, nothing delivered', async t => {
  const rx = await startReceiver()
  const config = parseConfig({ input: { forward: { port: 0 } }, output: { forward: { port: rx.port } }, limits: { max_pending_records: 1000, shutdown_grace: 100 }, admin: { enabled: false } })
  const embedder = await loadEmbedder(join(await tinyBundle(), 'embedder.safetensors'))
  const rt = new SourceRuntime({
    name: 'hdfs', messageKeys: ['log'], format: logFormat('hdfs'), maxLen: 20, time: 'event', formatTimed: true,
    window: { mode: 'session', keyPattern: /blk_-?\d+/, idleMs: 43_200_000, maxAgeMs: Infinity, maxLength: 256, maxOpen: 10_000 },
  }, new Featurizer(new Drain(), embedder, { buckets: 1024, maxParams: 8 }))
  const telemetry = quietTelemetry()
  const stage = new ScoringStage(new Router([{ patterns: ['*.hdfs'], source: rt }]), [rt], new RecordingScorer(), telemetry, { enrich: { field: 'anomaly', flat: false, names: {} }, summaryTag: undefined })
  const sidecar = createSidecar(config, { telemetry, stages: [stage] })
  const { forward } = await sidecar.start()
  const sender = new ForwardClient(parseConfig({ output: { forward: { port: forward.port, tag_prefix: '', max_chunk_records: 1000, ack_timeout: '5m' } } }).output.forward, quietTelemetry())
  const lines = await hdfsLines(3000)
  for (let i = 0; i < lines.length; i += 1000) sender.write(lines.slice(i, i + 1000).map((log, j): LogEvent => ({ tag: 'app.hdfs', time: EventTime.now(), record: { log, seq: i + j }, receipt: new Receipt(1000) })))
  t.ok(await waitFor(() => telemetry.counters.get('backpressure_engaged_total') === 1, 10_000), 'the input stopped at max_pending_records')
  await new Promise(resolve => setTimeout(resolve, 2000))
  t.equal(rx.sink.events.length, 0, 'two seconds later nothing came back')
  t.equal(telemetry.counters.get('backpressure_released_total'), 0, 'and the input never resumed: every held record waits for a window no limit closes')
  t.equal(stage.inOpenWindows, 1000)
  await sender.close(0)
  await sidecar.stop() // the flush at shutdown scores them
  await rx.close()
})
