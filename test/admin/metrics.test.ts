/**
 * GET /metrics, /healthz and /readyz as Prometheus and Kubernetes see them:
 * real sidecars on port 0, a real downstream, real Forward clients; the
 * exposition text is parsed, not grepped.
 */
import t from 'tap'
import { connect } from 'node:net'
import { cp, mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { FluentClient } from '@fluent-org/logger'
import { request } from 'undici'
import { parseConfig } from '../../config/load.js'
import { DROP_REASONS, quietTelemetry } from '../../plugin/events.js'
import { encode } from '../../plugin/forward/codec.js'
import { buildSidecar, createSidecar } from '../../plugin/index.js'
import { CATALOG, PREFIX } from '../../plugin/metrics/catalog.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { startReceiver } from '../helpers/sidecar.js'

interface Exposition {
  types: Map<string, string>
  helps: Map<string, string>
  /** `name{k="v",...}` (labels as written) → value. */
  samples: Map<string, number>
  /** Problems a Prometheus parser would flag or we forbid: a sample without TYPE/HELP, a family declared twice. */
  problems: string[]
}

/** The text exposition format, 0.0.4: `# HELP`, `# TYPE`, then `name{labels} value` lines. */
function parseExposition (text: string): Exposition {
  const e: Exposition = { types: new Map(), helps: new Map(), samples: new Map(), problems: [] }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta !== null) {
      const into = meta[1] === 'TYPE' ? e.types : e.helps
      if (into.has(meta[2])) e.problems.push(`${meta[1]} twice for ${meta[2]}`)
      into.set(meta[2], meta[3])
      continue
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line)
    if (s === null) { e.problems.push(`not a sample line: ${line}`); continue }
    const family = e.types.has(s[1]) ? s[1] : s[1].replace(/_(bucket|sum|count)$/, '')
    if (!e.types.has(family) || !e.helps.has(family)) e.problems.push(`${s[1]} has no TYPE or HELP before it`)
    e.samples.set(s[1] + (s[2] ?? ''), Number(s[3]))
  }
  return e
}

/** Sum of a family's samples over its label sets. */
const total = (e: Exposition, name: string): number =>
  [...e.samples].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0)

async function until (what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const admin = (port: number | undefined) => {
  const base = `http://127.0.0.1:${port}`
  return {
    get: async (path: string) => { const r = await request(base + path); return { status: r.statusCode, type: String(r.headers['content-type']), text: await r.body.text() } },
    scrape: async (): Promise<Exposition> => parseExposition((await request(`${base}/metrics`).then(r => r.body.text()))),
    base,
  }
}

t.test('relay sidecar: typed and described series from prom-client, zeros from the start, counts move with real records; readyz follows the downstream', async t => {
  const rx = await startReceiver()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port, retry_initial: 50, retry_max: 200 } },
    limits: { shutdown_grace: 3000 },
    admin: { port: 0 },
  })
  const sidecar = createSidecar(config, { telemetry: quietTelemetry() })
  const addr = await sidecar.start()
  const a = admin(addr.admin?.port)

  const first = await a.get('/metrics')
  t.match(first.type, /^text\/plain; version=0\.0\.4/, 'Prometheus text content type')
  const m0 = parseExposition(first.text)
  t.same(m0.problems, [], 'every sample has its family\'s HELP and TYPE, each declared once')
  const ours = [...m0.types.keys()].filter(n => n.startsWith(PREFIX) && !/^fluent_anomaly_(process|nodejs)_/.test(n))
  t.same(ours.filter(n => CATALOG[n.slice(PREFIX.length)] === undefined), [], 'every sidecar metric is described in the catalog')
  for (const n of ours) t.equal(m0.types.get(n), CATALOG[n.slice(PREFIX.length)].type, `${n} is a ${m0.types.get(n)}`)
  t.match(Object.fromEntries(['records_in_total', 'records_out_total', 'records_delivered_total', 'records_dropped_total', 'pipeline_pending_records', 'output_queued_chunks', 'output_inflight_chunks', 'memory_limit_bytes', 'process_resident_memory_bytes'].map(n => [n, m0.types.get(PREFIX + n)])), {
    records_in_total: 'counter', records_out_total: 'counter', records_delivered_total: 'counter', records_dropped_total: 'counter',
    pipeline_pending_records: 'gauge', output_queued_chunks: 'gauge', output_inflight_chunks: 'gauge', memory_limit_bytes: 'gauge', process_resident_memory_bytes: 'gauge',
  }, 'in/out, drops, queue depths, memory: with their types')
  t.ok(m0.samples.get(`${PREFIX}process_resident_memory_bytes`)! > 0, 'resident memory from prom-client\'s default metrics, once')
  t.ok(m0.types.has(`${PREFIX}nodejs_eventloop_lag_seconds`), 'process metrics carry the same prefix')
  for (const reason of DROP_REASONS) t.equal(m0.samples.get(`${PREFIX}records_dropped_total{reason="${reason}"}`), 0, `drops by ${reason} exported at 0 before any drop`)
  t.equal(m0.samples.get(`${PREFIX}records_in_total{mode="packed"}`), 0, 'records in by mode, at 0')
  t.equal(m0.samples.get(`${PREFIX}records_delivered_total`), 0)
  t.notOk(m0.types.has(`${PREFIX}windows_scored_total`), 'no scoring series on a relay')

  // a counter no catalog entry describes yet is still exported, typed by its suffix; a label it gains later re-declares it
  const counters = sidecar.parts.telemetry.counters
  counters.inc('catalog_gap_total')
  t.equal((await a.scrape()).samples.get(`${PREFIX}catalog_gap_total`), 1)
  counters.inc('catalog_gap_total', 2, { kind: 'later' })
  const gap = await a.scrape()
  t.same(gap.problems, [], 'still valid text after the re-declaration')
  t.equal(gap.types.get(`${PREFIX}catalog_gap_total`), 'counter')
  t.match(gap.helps.get(`${PREFIX}catalog_gap_total`), /not described in plugin\/metrics\/catalog\.ts/, 'its HELP says where to describe it')
  t.same([gap.samples.get(`${PREFIX}catalog_gap_total`), gap.samples.get(`${PREFIX}catalog_gap_total{kind="later"}`)], [1, 2], 'both series')

  // 40 records through a real Forward client, then a frame with one good and one malformed entry
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: addr.forward.port }, ack: { ackTimeout: 10_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  await Promise.all(Array.from({ length: 40 }, (_, i) => client.emit('metrics', { seq: i })))
  await new Promise<void>((resolve, reject) => {
    const s = connect(addr.forward.port, '127.0.0.1', () => s.end(encode(['app.raw', [[1_700_000_000, { ok: true }], ['not an entry']]])))
    s.on('close', () => resolve()).on('error', reject)
  })
  await rx.sink.waitFor(41)
  let m1 = await a.scrape()
  await until('the deliveries to be counted', async () => (m1 = await a.scrape()).samples.get(`${PREFIX}records_delivered_total`) === 41)
  t.equal(m1.samples.get(`${PREFIX}records_in_total{mode="packed"}`), 40, 'records_in_total{mode} moved with the PackedForward records')
  t.equal(total(m1, `${PREFIX}records_in_total`), 41, 'and the good entry of the raw Forward frame')
  t.equal(m1.samples.get(`${PREFIX}records_out_total`), 41, 'records out')
  t.equal(m1.samples.get(`${PREFIX}records_dropped_total{reason="bad_entry"}`), 1, 'the malformed entry is a drop with its reason')
  t.ok(m1.samples.get(`${PREFIX}forward_connections_total`)! >= 2, 'connections counted')
  t.equal(m1.samples.get(`${PREFIX}pipeline_pending_records`), 0, 'nothing pending once delivered')

  const health = await a.get('/healthz')
  t.equal(health.status, 200)
  t.same(JSON.parse(health.text), { status: 'ok' })
  const ready = await a.get('/readyz')
  t.equal(ready.status, 200, 'ready: started and the downstream connected')
  t.match(JSON.parse(ready.text), { ready: true, scoring: false, downstream_connected: true, downstream_reachable: true })

  // the downstream goes away: not ready, with the reason; still alive
  await rx.close()
  let down = await a.get('/readyz')
  await until('readyz to notice the downstream is gone', async () => (down = await a.get('/readyz')).status === 503)
  t.match(JSON.parse(down.text), { ready: false, reason: new RegExp(`downstream 127\\.0\\.0\\.1:${rx.port} not reachable \\(ECONNREFUSED\\)`), downstream_connected: false, downstream_reachable: false })
  t.equal((await a.get('/healthz')).status, 200, 'healthz stays 200: the process is alive')

  // a record that cannot be delivered keeps stop() in its grace period: readyz says stopping meanwhile
  void client.emit('metrics', { seq: 'late' }).catch(() => {})
  await until('the late record to be pending', async () => (await a.scrape()).samples.get(`${PREFIX}pipeline_pending_records`) === 1)
  const stopped = sidecar.stop()
  const stopping = await a.get('/readyz')
  t.equal(stopping.status, 503)
  t.match(JSON.parse(stopping.text), { ready: false, reason: /^stopping/ }, 'not ready while stopping')
  await client.disconnect().catch(() => {})
  await stopped
})

t.test('with the disk buffer on, an unreachable downstream does not make the sidecar unready; a full buffer does', async t => {
  // a port with nothing listening
  const gone = await startReceiver()
  await gone.close()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: gone.port, retry_initial: 50, retry_max: 200 } },
    buffer: { enabled: true, path: await mkdtemp(join(tmpdir(), 'fa-ready-buffer-')), max_size: '64K', segment_size: '16K' },
    limits: { shutdown_grace: 200 },
    admin: { port: 0 },
  })
  const sidecar = createSidecar(config, { telemetry: quietTelemetry() })
  const addr = await sidecar.start()
  t.teardown(() => sidecar.stop())
  const a = admin(addr.admin?.port)
  const ready = await a.get('/readyz')
  t.equal(ready.status, 200, 'ready: records are acked once on disk')
  t.match(JSON.parse(ready.text), { ready: true, downstream_reachable: false, buffer_full: false, buffering: new RegExp(`127\\.0\\.0\\.1:${gone.port} not reachable`) })

  // fill the buffer: 64 KiB of records the downstream never takes
  const line = 'x'.repeat(200)
  for (let i = 0; i < 40 && !sidecar.parts.buffer?.full; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = connect(addr.forward.port, '127.0.0.1', () => s.end(encode(['app.fill', Array.from({ length: 20 }, (_, j) => [1_700_000_000, { i, j, line }])])))
      s.on('close', () => resolve()).on('error', reject)
    })
  }
  await until('the buffer to be full', async () => sidecar.parts.buffer?.full === true)
  const full = await a.get('/readyz')
  t.equal(full.status, 503)
  t.match(JSON.parse(full.text), { ready: false, reason: /disk buffer full \(buffer\.max_size\)/, buffer_full: true })
})

t.test('scoring sidecar: per-source series from the start; batch histograms, windows and adapter info move as windows are scored', async t => {
  const bundle = await mkdtemp(join(tmpdir(), 'fa-metrics-'))
  await cp(await tinyBundle(), bundle, { recursive: true })
  const rx = await startReceiver()
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { idle_timeout: 60_000 } }],
    admin: { port: 0, token: 'metrics-test-token-0123456789' },
  })
  const sidecar = await buildSidecar(config, { telemetry })
  const addr = await sidecar.start()
  const a = admin(addr.admin?.port)
  t.teardown(async () => { await sidecar.stop(); await rx.close() })

  const m0 = await a.scrape()
  t.same(m0.problems, [])
  t.equal(m0.samples.get(`${PREFIX}windows_scored_total{source="hdfs"}`), 0, 'windows scored per source, at 0 from the start')
  t.equal(m0.samples.get(`${PREFIX}anomalies_total{source="hdfs"}`), 0, 'anomalies per source, at 0 from the start')
  for (const h of ['scoring_batch_duration_seconds', 'scoring_batch_queue_wait_seconds', 'scoring_batch_windows']) {
    t.equal(m0.types.get(PREFIX + h), 'histogram', `${h} is a histogram`)
    t.equal(m0.samples.get(`${PREFIX}${h}_count`), 0)
  }
  t.equal(m0.types.get(`${PREFIX}scoring_pool_queued_windows`), 'gauge', 'the pool queue depth is a gauge')
  t.equal(m0.samples.get(`${PREFIX}model_execution_provider{ep="cpu"}`), 1, 'the running EP')
  const created = (JSON.parse(await readFile(join(bundle, 'adapters', 'hdfs.json'), 'utf8')) as { created: string }).created
  t.equal(m0.samples.get(`${PREFIX}adapter_info{source="hdfs",version="hdfs#1",created="${created}"}`), 1, 'the live adapter, info-style')
  const ready = await a.get('/readyz')
  t.equal(ready.status, 200)
  t.match(JSON.parse(ready.text), { ready: true, scoring: true, model_loaded: true, execution_provider: 'cpu' })

  // real HDFS lines; flush the open sessions so every window is scored now
  const lines = (await readFile(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')).split('\n').slice(0, 300)
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: addr.forward.port }, ack: { ackTimeout: 30_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  const sent = Promise.all(lines.map((log, seq) => client.emit('hdfs', { log, seq })))
  await until('every line to reach the scoring stage', async () => {
    const m = await a.scrape()
    return total(m, `${PREFIX}records_scored_in_total`) + total(m, `${PREFIX}records_unscored_total`) >= lines.length
  }, 30_000)
  const flush = await request(`${a.base}/v1/flush`, { method: 'POST', headers: { authorization: 'Bearer metrics-test-token-0123456789' } })
  t.equal(flush.statusCode, 200)
  await flush.body.dump()
  await sent
  await rx.sink.waitFor(lines.length)

  const m1 = await a.scrape()
  const windows = m1.samples.get(`${PREFIX}windows_scored_total{source="hdfs"}`)!
  t.ok(windows > 0, `windows were scored (${windows})`)
  t.equal(windows, telemetry.counters.get('windows_scored_total', { source: 'hdfs' }), '/metrics shows what Counters holds')
  const batches = m1.samples.get(`${PREFIX}scoring_batch_duration_seconds_count`)!
  t.ok(batches > 0, `batch latency observed (${batches} batches)`)
  t.equal(m1.samples.get(`${PREFIX}scoring_batch_duration_seconds_bucket{le="+Inf"}`), batches, 'cumulative buckets end at the count')
  t.equal(m1.samples.get(`${PREFIX}scoring_batch_queue_wait_seconds_count`), batches, 'one queue wait per batch')
  t.equal(m1.samples.get(`${PREFIX}scoring_batch_windows_sum`), windows, 'each scored window was in exactly one batch')
  t.equal(m1.samples.get(`${PREFIX}anomalies_total{source="hdfs"}`), telemetry.counters.get('anomalies_total', { source: 'hdfs' }))
  t.equal(m1.samples.get(`${PREFIX}scoring_held_records`), 0, 'nothing held after the flush')

  const reload = await request(`${a.base}/v1/adapters/hdfs/reload`, { method: 'POST', headers: { authorization: 'Bearer metrics-test-token-0123456789' } })
  t.equal(reload.statusCode, 200)
  await reload.body.dump()
  const m2 = await a.scrape()
  t.same([...m2.samples].filter(([k]) => k.startsWith(`${PREFIX}adapter_info{`)), [[`${PREFIX}adapter_info{source="hdfs",version="hdfs#2",created="${created}"}`, 1]], 'adapter_info names the new version only')
  t.equal(m2.samples.get(`${PREFIX}adapter_version{source="hdfs"}`), 2)
  await client.disconnect()
})
