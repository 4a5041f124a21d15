/**
 * The HTTP input (plugin/input/http.ts) end to end, as Vector's http sink
 * uses it: real sidecar, real HTTP requests (undici), a real Forward
 * downstream, real log lines (loghub_2k). The promise under test is the
 * Forward one: 200 only once the records are durable downstream.
 */
import t, { type Test } from 'tap'
import { Readable } from 'node:stream'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync, gzipSync } from 'node:zlib'
import { request } from 'undici'
import { parse } from 'yaml'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import type { Entry } from '../../plugin/forward/protocol.js'
import { buildSidecar, createSidecar, type Sidecar } from '../../plugin/index.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { rawDownstream, startReceiver } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** The first `n` lines of a loghub_2k system's log (the files have CRLF line ends; a tailer strips them). */
const loghub = (system: string, n: number): string[] =>
  readFileSync(join(DATASETS, 'loghub_2k', system, `${system}_2k.log`), 'utf8').split(/\r?\n/).filter(l => l !== '').slice(0, n)

/** Vector-shaped events (its default log schema: message, timestamp, host, source_type). */
const vectorEvents = (system: string, n: number): Array<Record<string, unknown>> =>
  loghub(system, n).map((message, seq) => ({ message, seq, host: 'node-1', source_type: 'file', timestamp: new Date(Date.UTC(2024, 0, 1) + seq * 1000).toISOString() }))

const ndjson = (records: unknown[]): string => records.map(r => JSON.stringify(r)).join('\n') + '\n'

/** A Forward downstream that keeps every entry; while `holding`, it does not ack (held acks go out on `release`). */
async function holdingDownstream (): Promise<{ port: number, entries: Array<Entry & { tag: string }>, release: () => void, close: () => Promise<void> }> {
  const entries: Array<Entry & { tag: string }> = []
  const held: Array<() => void> = []
  let holding = true
  const d = await rawDownstream((f, ack) => {
    for (const e of f.entries) entries.push({ time: e.time, record: e.record, ...(e.metadata === undefined ? {} : { metadata: e.metadata }), tag: f.tag })
    if (holding) held.push(ack)
    else ack()
  })
  return { ...d, entries, release: () => { holding = false; for (const f of held.splice(0)) f() } }
}

/** The parts of config/default.yaml this test changes. */
interface DefaultYaml {
  input: { forward: { port: number }, http?: unknown }
  output: { forward: { port: number } }
  admin: { port: number }
  buffer: { path: string }
  model: { threads?: number, watch?: boolean }
  sources: Array<{ name: string, window?: { idle_timeout?: string } }>
  log?: unknown
}

interface HttpSidecar { sidecar: Sidecar, url: string, counter: (name: string, labels?: Record<string, string>) => number }

async function httpSidecar (t: Test, downstreamPort: number, http: Record<string, unknown> = {}, limits: Record<string, unknown> = {}): Promise<HttpSidecar> {
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 }, http: { enabled: true, port: 0, ...http } },
    output: { forward: { port: downstreamPort, retry_initial: 50, retry_max: 500 } },
    limits: { shutdown_grace: 2000, ...limits },
    admin: { enabled: false },
  })
  const sidecar = createSidecar(config, { telemetry })
  const { http: addr } = await sidecar.start()
  t.teardown(() => sidecar.stop())
  return { sidecar, url: `http://127.0.0.1:${addr?.port ?? 0}`, counter: (name, labels) => telemetry.counters.get(name, labels) }
}

async function post (url: string, body: string | Buffer | Readable, headers: Record<string, string> = { 'content-type': 'application/x-ndjson' }): Promise<{ status: number, headers: Record<string, unknown>, body: { records?: number, error?: string, code?: string } }> {
  const res = await request(url, { method: 'POST', body, headers })
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() as { records?: number, error?: string, code?: string } }
}

t.test('NDJSON: every line arrives downstream, in order, before the 200; time from `timestamp` to the nanosecond', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const sc = await httpSidecar(t, rx.port)
  const records: Array<Record<string, unknown>> = vectorEvents('HDFS', 500)
  records[1].timestamp = '2024-01-01T00:00:01.123456789Z' // Vector writes nanoseconds
  records[2].timestamp = '2024-01-01T01:00:02.5+01:00'
  records[3].timestamp = 1704067203.25 // epoch seconds
  delete records[4].timestamp // no time: the arrival time
  records[5].timestamp = 'yesterday' // unreadable: the arrival time
  const before = Date.now() / 1000
  const res = await post(`${sc.url}/app.hdfs`, ndjson(records))
  const after = Date.now() / 1000
  t.equal(res.status, 200)
  t.same(res.body, { records: 500 })
  // no waiting here: the 200 came after the downstream acked every record
  t.equal(rx.sink.events.length, 500, 'all records were downstream when the 200 arrived')
  t.same(rx.sink.events.map(e => e.record), records, 'records unchanged, in body order')
  t.ok(rx.sink.events.every(e => e.tag === 'scored.app.hdfs'), 'tag from the path, rewritten on the way out')
  const times = rx.sink.events.map(e => e.time as EventTime)
  t.same([times[0].sec, times[0].nsec], [1704067200, 0])
  t.same([times[1].sec, times[1].nsec], [1704067201, 123456789], 'nanoseconds kept')
  t.same([times[2].sec, times[2].nsec], [1704067202, 500000000], 'offset applied')
  t.same([times[3].sec, times[3].nsec], [1704067203, 250000000], 'epoch seconds')
  for (const i of [4, 5]) t.ok(times[i].toNumber() >= Math.floor(before) && times[i].toNumber() <= after + 1, `record ${i}: arrival time`)
  t.equal(sc.counter('records_in_total', { mode: 'http' }), 500)
  t.equal(sc.counter('http_requests_total', { code: '200' }), 1)
})

t.test('a JSON array, a single object, gzip and deflate bodies arrive complete and in order', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const sc = await httpSidecar(t, rx.port)
  const apache = vectorEvents('Apache', 300)
  const linux = vectorEvents('Linux', 400)
  const ssh = vectorEvents('OpenSSH', 200)
  const one = vectorEvents('Zookeeper', 1)[0]
  const json = { 'content-type': 'application/json' }
  t.equal((await post(`${sc.url}/apache`, JSON.stringify(apache), json)).status, 200, 'JSON array')
  t.equal((await post(`${sc.url}/zk`, JSON.stringify(one, null, 2), json)).status, 200, 'one pretty-printed object')
  t.equal((await post(`${sc.url}/linux`, gzipSync(ndjson(linux)), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' })).status, 200, 'gzip NDJSON')
  t.equal((await post(`${sc.url}/ssh`, deflateSync(JSON.stringify(ssh)), { 'content-type': 'application/json', 'content-encoding': 'deflate' })).status, 200, 'deflate JSON array')
  t.equal((await post(`${sc.url}/ssh`, ndjson(ssh.slice(0, 3)), json)).status, 200, 'NDJSON sent as application/json is read too')
  const of = (tag: string): unknown[] => rx.sink.events.filter(e => e.tag === `scored.${tag}`).map(e => e.record)
  t.same(of('apache'), apache)
  t.same(of('zk'), [one])
  t.same(of('linux'), linux)
  t.same(of('ssh'), [...ssh, ...ssh.slice(0, 3)])
  t.equal(rx.sink.events.length, 300 + 1 + 400 + 200 + 3, 'nothing else')
})

t.test('the 200 waits for the downstream ack (and read_timeout does not cut that wait)', async t => {
  const ds = await holdingDownstream()
  t.teardown(() => ds.close())
  const sc = await httpSidecar(t, ds.port, { read_timeout: 200 })
  const records = vectorEvents('Zookeeper', 200)
  let answered = false
  const res = post(`${sc.url}/zk`, ndjson(records)).then(r => { answered = true; return r })
  t.ok(await waitFor(() => ds.entries.length === 200), 'the records reached the downstream')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.notOk(answered, 'no answer while the downstream holds its ack')
  t.equal(sc.sidecar.pipeline.pending, 200, 'the records are still pending')
  ds.release()
  const r = await res
  t.equal(r.status, 200, 'answered once acked')
  t.same(ds.entries.map(e => e.record), records)
})

t.test('bad input: 400 with a clear error, and nothing of that request is taken', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const sc = await httpSidecar(t, rx.port)
  const lines = ndjson(vectorEvents('Spark', 10)).split('\n')
  lines[6] = lines[6].slice(0, 30) // truncated JSON on line 7
  const cases: Array<[string, string | Buffer, Record<string, string>, RegExp, string]> = [
    ['truncated NDJSON line', lines.join('\n'), { 'content-type': 'application/x-ndjson' }, /^line 7: /, 'HTTP_BAD_JSON'],
    ['array with a non-object', JSON.stringify([{ a: 1 }, { b: 2 }, 3]), { 'content-type': 'application/json' }, /element 2 of the array is a JSON number/, 'HTTP_BAD_JSON'],
    ['broken JSON', '{"message": "x",', { 'content-type': 'application/json' }, /not valid JSON/, 'HTTP_BAD_JSON'],
    ['empty body', '', { 'content-type': 'application/json' }, /empty body/, 'HTTP_BAD_JSON'],
    ['NDJSON line that is a string', '{"a":1}\n"just text"\n', { 'content-type': 'application/x-ndjson' }, /line 2 is a JSON string/, 'HTTP_BAD_JSON'],
    ['nested past the depth limit', '{"a":' + '['.repeat(100) + ']'.repeat(100) + '}', { 'content-type': 'application/json' }, /deeper than 64/, 'HTTP_BAD_JSON'],
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { 'content-type': 'application/json' }, /not UTF-8/, 'HTTP_BAD_ENCODING'],
    ['gzip header, not gzip', Buffer.from('{"a":1}'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }, /does not decompress/, 'HTTP_BAD_ENCODING'],
  ]
  for (const [name, body, headers, error, code] of cases) {
    const r = await post(`${sc.url}/spark`, body, headers)
    t.equal(r.status, 400, `${name}: 400`)
    t.match(r.body, { error, code }, `${name}: ${r.body.error ?? ''}`)
  }
  const good = vectorEvents('Spark', 5)
  t.equal((await post(`${sc.url}/spark`, ndjson(good))).status, 200)
  t.same(rx.sink.events.map(e => e.record), good, 'only the good request\'s records went downstream')
  t.equal(sc.counter('records_in_total', { mode: 'http' }), 5)
  t.equal(sc.counter('http_requests_total', { code: '400' }), cases.length)
})

t.test('413: a body over max_body_size (declared or chunked), or one inflating past max_decompressed_size', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const sc = await httpSidecar(t, rx.port, { max_body_size: '64K', max_decompressed_size: '256K' })
  const big = ndjson(vectorEvents('Hadoop', 2000))
  t.ok(big.length > 64 * 1024)
  const declared = await post(`${sc.url}/hadoop`, big)
  t.equal(declared.status, 413, 'Content-Length over the limit')
  t.equal(declared.body.code, 'HTTP_BODY_TOO_LARGE')
  const chunked = await post(`${sc.url}/hadoop`, Readable.from(big.match(/[^]{1,4096}/g) as string[]))
  t.equal(chunked.status, 413, 'chunked body that grows past the limit')
  const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, ' '))
  t.ok(bomb.length < 64 * 1024, `the bomb is small (${bomb.length} bytes)`)
  const inflated = await post(`${sc.url}/hadoop`, bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
  t.equal(inflated.status, 413, 'gzip bomb')
  t.equal(inflated.body.code, 'HTTP_DECOMPRESSED_TOO_LARGE')
  const small = vectorEvents('Hadoop', 10)
  t.equal((await post(`${sc.url}/hadoop`, gzipSync(ndjson(small)), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' })).status, 200, 'a body within both limits is taken')
  t.same(rx.sink.events.map(e => e.record), small, 'nothing of the refused bodies went downstream')
})

t.test('backpressure: 429 with Retry-After while the pipeline is full; the retry is taken once there is room', async t => {
  const ds = await holdingDownstream()
  t.teardown(() => ds.close())
  const sc = await httpSidecar(t, ds.port, { retry_after: '2s' }, { max_pending_records: 100 })
  const first = vectorEvents('BGL', 150)
  const second = vectorEvents('HPC', 50)
  const pending = post(`${sc.url}/bgl`, ndjson(first))
  t.ok(await waitFor(() => sc.sidecar.pipeline.pending === 150), 'the first request fills the pipeline')
  const refused = await post(`${sc.url}/hpc`, ndjson(second))
  t.equal(refused.status, 429)
  t.equal(refused.headers['retry-after'], '2', 'Retry-After in seconds')
  t.equal(refused.body.code, 'HTTP_BACKPRESSURE')
  t.match(refused.body.error, /max_pending_records/)
  ds.release()
  t.equal((await pending).status, 200)
  t.equal((await post(`${sc.url}/hpc`, ndjson(second))).status, 200, 'the retry is taken')
  t.same(ds.entries.map(e => e.record), [...first, ...second], 'each record once, in order')
  t.equal(sc.counter('http_requests_total', { code: '429' }), 1)
})

t.test('ack timeout: 503 with Retry-After; the records are still delivered, so the retry duplicates them (at-least-once)', async t => {
  const ds = await holdingDownstream()
  t.teardown(() => ds.close())
  const sc = await httpSidecar(t, ds.port, { ack_timeout: '300ms' })
  const records = vectorEvents('Mac', 20)
  const r = await post(`${sc.url}/mac`, ndjson(records))
  t.equal(r.status, 503)
  t.equal(r.headers['retry-after'], '1')
  t.equal(r.body.code, 'HTTP_ACK_TIMEOUT')
  ds.release()
  t.ok(await waitFor(() => sc.sidecar.pipeline.pending === 0), 'the first attempt is delivered after all')
  t.equal((await post(`${sc.url}/mac`, ndjson(records))).status, 200, 'the sender\'s retry')
  t.same(ds.entries.map(e => e.record), [...records, ...records], 'twice downstream: duplicates, never loss')
})

t.test('bearer token, methods, media types and encodings', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const token = 'a-long-enough-secret-token'
  const sc = await httpSidecar(t, rx.port, { token })
  const body = ndjson(vectorEvents('Windows', 3))
  t.equal((await post(`${sc.url}/win`, body)).status, 401, 'no token')
  const wrong = await post(`${sc.url}/win`, body, { 'content-type': 'application/x-ndjson', authorization: 'Bearer nope' })
  t.equal(wrong.status, 401, 'wrong token')
  t.equal(wrong.body.code, 'HTTP_UNAUTHORIZED')
  const auth = { authorization: `Bearer ${token}` }
  t.equal((await post(`${sc.url}/win`, body, { 'content-type': 'application/x-ndjson', ...auth })).status, 200, 'right token')
  const form = await post(`${sc.url}/win`, 'a=b', { 'content-type': 'application/x-www-form-urlencoded', ...auth })
  t.equal(form.status, 415)
  t.equal(form.body.code, 'HTTP_UNSUPPORTED_MEDIA_TYPE')
  const br = await post(`${sc.url}/win`, body, { 'content-type': 'application/x-ndjson', 'content-encoding': 'br', ...auth })
  t.equal(br.status, 415)
  t.equal(br.body.code, 'HTTP_BAD_ENCODING')
  const put = await request(`${sc.url}/win`, { method: 'PUT', body, headers: auth })
  t.equal(put.statusCode, 405)
  t.equal(put.headers.allow, 'POST, GET, HEAD')
  await put.body.dump()
  const health = await request(`${sc.url}/`)
  t.equal(health.statusCode, 200, 'GET answers for a sender\'s health check')
  await health.body.dump()
  t.equal(rx.sink.events.length, 3, 'only the authorised request was taken')
})

t.test('tags: "/" takes input.http.tag, tag_key takes it from the record, and a path that is not a tag is refused', async t => {
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  const sc = await httpSidecar(t, rx.port, { tag: 'vector', tag_key: 'tag' })
  const records = vectorEvents('Proxifier', 4)
  records[1].tag = 'svc.a'
  records[3].tag = 'svc.a'
  t.equal((await post(`${sc.url}/`, ndjson(records))).status, 200)
  t.same(rx.sink.events.filter(e => e.tag === 'scored.vector').map(e => e.record), [records[0], records[2]])
  t.same(rx.sink.events.filter(e => e.tag === 'scored.svc.a').map(e => e.record), [records[1], records[3]])
  for (const path of ['/a/b', '/bad%20tag', '/..%2f', '//x']) {
    const r = await post(`${sc.url}${path}`, ndjson(records))
    t.equal(r.status, 400, path)
    t.equal(r.body.code, 'HTTP_BAD_TAG')
  }
  t.equal(rx.sink.events.length, 4)
})

t.test('graceful stop: a request in flight gets its 200 within the grace; then the port is closed', async t => {
  const ds = await holdingDownstream()
  t.teardown(() => ds.close())
  const sc = await httpSidecar(t, ds.port)
  const records = vectorEvents('HealthApp', 50)
  const res = post(`${sc.url}/health`, ndjson(records))
  t.ok(await waitFor(() => ds.entries.length === 50))
  const stopped = sc.sidecar.stop()
  setTimeout(() => ds.release(), 200)
  const r = await res
  t.equal(r.status, 200, 'answered after the downstream acked, during the stop')
  t.equal(r.headers.connection, 'close', 'and told not to reuse the connection')
  await stopped
  await t.rejects(request(`${sc.url}/health`, { method: 'POST', body: '{}' }), { code: 'ECONNREFUSED' }, 'no new requests')
})

t.test('graceful stop: a request whose records are not durable when the grace ends gets 503 (its sender retries)', async t => {
  const ds = await holdingDownstream() // never releases
  t.teardown(() => ds.close())
  const sc = await httpSidecar(t, ds.port, {}, { shutdown_grace: 300 })
  const res = post(`${sc.url}/health`, ndjson(vectorEvents('HealthApp', 10)))
  t.ok(await waitFor(() => ds.entries.length === 10))
  await sc.sidecar.stop()
  const r = await res
  t.equal(r.status, 503)
  t.equal(r.body.code, 'HTTP_SHUTTING_DOWN')
  t.equal(r.headers['retry-after'], '1')
})

t.test('with the default model config, a record posted to /x.hdfs comes back with an anomaly map', async t => {
  const configFile = join(root, 'config', 'default.yaml')
  // config/default.yaml as shipped, with test ports, a private buffer folder and short session idle time
  const raw = parse(readFileSync(configFile, 'utf8')) as DefaultYaml
  const rx = await startReceiver()
  t.teardown(() => rx.close())
  raw.input.forward.port = 0
  raw.input.http = { enabled: true, port: 0 }
  raw.output.forward.port = rx.port
  raw.admin.port = 0
  raw.buffer.path = mkdtempSync(join(tmpdir(), 'fa-http-buffer-')) // not the repository's var/buffer
  raw.model.threads = 1
  raw.model.watch = false
  for (const s of raw.sources) if (s.name === 'hdfs') s.window = { ...s.window, idle_timeout: '300ms' } // score a block soon after its last line (log time)
  raw.log = { level: 'warn' }
  const sidecar = await buildSidecar(parseConfig(raw, configFile), { telemetry: quietTelemetry(), baseDir: dirname(configFile) })
  const { http } = await sidecar.start()
  t.teardown(() => sidecar.stop())
  const records = loghub('HDFS', 200).map((message, seq) => ({ message, seq }))
  const r = await post(`http://127.0.0.1:${http?.port ?? 0}/x.hdfs`, ndjson(records))
  t.equal(r.status, 200, 'acked once on disk (buffer.enabled in config/default.yaml)')
  const scored = (): typeof rx.sink.events => rx.sink.events.filter(e => e.tag === 'scored.x.hdfs') // not the summaries
  await waitFor(() => scored().length >= records.length, 60_000)
  const got = scored()
  t.equal(got.length, records.length, 'every record came back')
  t.same(got.map(e => e.record.seq).sort((a, b) => Number(a) - Number(b)), records.map(r => r.seq), 'each once')
  for (const e of got) {
    const a = e.record.anomaly as Record<string, unknown> | undefined
    if (typeof a?.score !== 'number' || a.score < 0 || a.score > 1 || typeof a.is_anomaly !== 'boolean' || !/^hdfs@/.test(String(a.adapter))) {
      t.fail(`record ${String(e.record.seq)} has no anomaly map from the hdfs adapter: ${JSON.stringify(a)}`)
      return
    }
  }
  t.pass('every record carries anomaly.score, .is_anomaly and the hdfs adapter')
  t.equal(got[0].record.message, records[Number(got[0].record.seq)].message, 'the record itself unchanged')
})
