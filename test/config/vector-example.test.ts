/**
 * examples/vector/: the Vector config and the sidecar config agree. Vector
 * is not installed here, so its file is checked as data: the http sink points
 * at the port and a path the sidecar serves and scores, within its limits; the
 * fluent source listens where the sidecar sends; nothing loops.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { loadConfig } from '../../config/load.js'

const ex = (p: string): string => new URL(`../../examples/${p}`, import.meta.url).pathname
const env = { FLUENT_ANOMALY_HTTP_TOKEN: 'a-token-of-sixteen-chars-or-more' }

interface Component { type: string, inputs?: string[], [key: string]: unknown }
interface VectorConfig { sources: Record<string, Component>, transforms?: Record<string, Component>, sinks: Record<string, Component> }

const vector = parse(readFileSync(ex('vector/vector.yaml'), 'utf8')) as VectorConfig
const sidecar = loadConfig(ex('vector/fluent-anomaly.yaml'), env)
const http = sidecar.input.http
const sink = vector.sinks.to_fluent_anomaly as Component & {
  uri: string, method: string, compression: string, encoding: { codec: string }, framing: { method: string },
  auth: { strategy: string, token: string }, batch: { max_bytes: number }, request: { timeout_secs: number },
  healthcheck: { uri: string }, acknowledgements: { enabled: boolean }
}
const back = vector.sources.from_fluent_anomaly as Component & { address: string }

/** Fluent Bit style tag pattern (`*` matches anything), as config `sources[].match`. */
const glob = (pattern: string): RegExp => new RegExp('^' + pattern.split('*').map(p => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')

t.test('the sidecar config validates and enables the HTTP input', async t => {
  t.ok(http?.enabled, 'input.http.enabled')
  t.equal(http?.token, env.FLUENT_ANOMALY_HTTP_TOKEN, 'the token comes from the environment')
  t.equal(http?.time_key, 'timestamp', 'Vector\'s log schema timestamp field')
  t.not(http?.port, sidecar.input.forward.port)
  t.not(http?.port, sidecar.output.forward.port)
  t.not(http?.port, sidecar.admin.port)
})

t.test('the http sink sends to the sidecar\'s HTTP input, in a form it reads', async t => {
  t.equal(sink.type, 'http')
  const uri = new URL(sink.uri)
  t.equal(uri.protocol, 'http:', 'input.http has no TLS: keep it on localhost')
  t.equal(uri.hostname, http?.listen === '0.0.0.0' ? '127.0.0.1' : http?.listen, 'host')
  t.equal(Number(uri.port), http?.port, 'port')
  t.equal(sink.method, 'post')
  t.equal(sink.encoding.codec, 'json')
  t.equal(sink.framing.method, 'newline_delimited', 'NDJSON')
  t.ok(['none', 'gzip', 'zlib'].includes(sink.compression), `compression ${sink.compression} is one the input inflates`)
  t.equal(sink.acknowledgements.enabled, true, 'Vector waits for the 200 before its source checkpoints')
  t.same(sink.auth, { strategy: 'bearer', token: '${FLUENT_ANOMALY_HTTP_TOKEN}' }, 'bearer token from the same variable')
  const raw = parse(readFileSync(ex('vector/fluent-anomaly.yaml'), 'utf8')) as { input: { http: { token: string } } }
  t.equal(raw.input.http.token, sink.auth.token, 'the sidecar reads the same variable')
  const health = new URL(sink.healthcheck.uri)
  t.equal(health.host, uri.host, 'the health check asks the same input')
})

t.test('the path is a tag the sidecar scores', async t => {
  const tag = new URL(sink.uri).pathname.slice(1)
  t.match(tag, /^[A-Za-z0-9_.-]+$/, 'one path segment (input.http refuses others)')
  const source = sidecar.sources.find(s => s.match.some(m => glob(m).test(tag)))
  t.equal(source?.name, 'hdfs', `${tag} is routed to the hdfs source`)
  t.ok(source?.message_key.includes('message'), 'the line is read from Vector\'s `message` field')
})

t.test('limits and timeouts fit each other', async t => {
  t.ok(sink.batch.max_bytes < (http?.max_body_size ?? 0), `batch.max_bytes ${sink.batch.max_bytes} < max_body_size ${http?.max_body_size} (a 413 is not retried)`)
  t.ok(sink.batch.max_bytes <= (http?.max_decompressed_size ?? 0), 'a batch inflates within max_decompressed_size')
  const ack = http?.ack_timeout ?? 0
  t.ok(ack < sink.request.timeout_secs * 1000, `ack_timeout ${ack} ms answers before Vector's request.timeout_secs (${sink.request.timeout_secs} s)`)
  // the 200 waits for durability: on disk with the buffer, else for the record's window (then max_age must close it in time)
  for (const s of sidecar.sources) {
    const age = s.window.max_age
    t.ok(sidecar.buffer.enabled || (typeof age === 'number' && age < ack), `${s.name}: acked once on disk (buffer on), or windows close (max_age ${String(age)} ms) before ack_timeout`)
  }
})

t.test('the fluent source receives what the sidecar re-emits, and nothing loops', async t => {
  t.equal(back.type, 'fluent')
  t.equal(back.address, `${sidecar.output.forward.host}:${sidecar.output.forward.port}`, 'fluent source address = output.forward')
  t.not(sidecar.output.forward.tag_prefix, '', 're-emitted tags are renamed (scored.)')
  // every input names a component (a route's outputs as id.route or id._unmatched)
  const all: Record<string, Component> = { ...vector.sources, ...vector.transforms, ...vector.sinks }
  const resolve = (input: string): string => {
    const [id, route] = input.split('.')
    if (route !== undefined) {
      const c = vector.transforms?.[id] as Component & { route?: Record<string, string> }
      t.ok(c?.type === 'route' && (route === '_unmatched' || c.route?.[route] !== undefined), `${input} is an output of route ${id}`)
    } else t.ok(all[id] !== undefined, `${input} exists`)
    return id
  }
  const upstream = (id: string, seen = new Set<string>()): Set<string> => {
    for (const i of all[id]?.inputs ?? []) {
      const u = resolve(i)
      if (!seen.has(u)) { seen.add(u); upstream(u, seen) }
    }
    return seen
  }
  t.notOk(upstream('to_fluent_anomaly').has('from_fluent_anomaly'), 'the http sink is not fed by the fluent source')
  const downstream = Object.keys(vector.sinks).filter(s => upstream(s).has('from_fluent_anomaly'))
  t.ok(downstream.length >= 2, `the enriched records reach ${downstream.join(', ')}`)
})

t.test('Elasticsearch indices match the index templates in examples/elasticsearch/', async t => {
  const patterns = ['index-template.json', 'summary-index-template.json']
    .flatMap(f => (JSON.parse(readFileSync(ex(`elasticsearch/${f}`), 'utf8')) as { index_patterns: string[] }).index_patterns)
  const es = Object.entries(vector.sinks).filter(([, s]) => s.type === 'elasticsearch')
  t.ok(es.length > 0)
  for (const [id, s] of es) {
    const index = ((s.bulk as { index: string }).index).replace(/%[YmdH]/g, '01')
    t.ok(patterns.some(p => glob(p).test(index)), `${id}: ${index} is covered by a template`)
  }
})
