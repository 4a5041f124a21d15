/**
 * The admin endpoints an operator and an ML engineer use, over real HTTP
 * (undici), on a sidecar scoring with a bundle made by the trainer.
 */
import t from 'tap'
import { cp, mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { startReceiver } from '../helpers/sidecar.js'

const TOKEN = 'test-token-0123456789abcdef'

t.test('health, readiness, metrics, adapters list, reload and upload with the token', async t => {
  const bundle = await mkdtemp(join(tmpdir(), 'fa-admin-'))
  await cp(await tinyBundle(), bundle, { recursive: true })
  const rx = await startReceiver()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs' }],
    admin: { port: 0, token: TOKEN, max_upload: '4M' },
  })
  const sidecar = await buildSidecar(config, { telemetry: quietTelemetry() })
  const { admin } = await sidecar.start()
  const base = `http://127.0.0.1:${admin?.port}`
  const get = async (path: string) => { const r = await request(base + path); return { status: r.statusCode, text: await r.body.text() } }

  t.equal((await get('/healthz')).status, 200)
  const ready = await get('/readyz')
  t.equal(ready.status, 200)
  t.match(JSON.parse(ready.text), { ready: true, scoring: true, model_loaded: true, downstream_reachable: true })
  const metrics = await get('/metrics')
  t.match(metrics.text, /# TYPE fluent_anomaly_scoring_held_records gauge\nfluent_anomaly_scoring_held_records 0/, 'Prometheus text')
  t.match(metrics.text, /fluent_anomaly_model_execution_provider\{ep="cpu"\} 1/, 'the running EP is a metric')
  const list = JSON.parse((await get('/v1/adapters')).text)
  t.match(list, { adapters: { hdfs: { version: 'hdfs#1', threshold: Number } } })

  const noToken = await request(`${base}/v1/adapters/hdfs/reload`, { method: 'POST' })
  t.equal(noToken.statusCode, 401, 'reload needs the token when one is configured')
  await noToken.body.dump()
  const reload = await request(`${base}/v1/adapters/hdfs/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(reload.statusCode, 200)
  t.match(await reload.body.json(), { source: 'hdfs', version: 'hdfs#2' })

  const tensors = await readFile(join(bundle, 'adapters', 'hdfs.safetensors'))
  const meta = JSON.parse(await readFile(join(bundle, 'adapters', 'hdfs.json'), 'utf8'))
  const put = (body: unknown) => request(`${base}/v1/adapters/hdfs`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const ok = await put({ metadata: { ...meta, threshold: 0.42 }, safetensors: tensors.toString('base64') })
  t.equal(ok.statusCode, 200)
  t.match(await ok.body.json(), { version: 'hdfs#3', threshold: 0.42 }, 'uploaded adapter is live, with its own threshold')
  const bad = await put({ metadata: { ...meta, encoder_sha256: '0'.repeat(64) }, safetensors: tensors.toString('base64') })
  t.equal(bad.statusCode, 422)
  t.match(await bad.body.json(), { code: 'ADAPTER_ENCODER_MISMATCH' }, 'refused with its code')
  t.match(JSON.parse((await get('/v1/adapters')).text), { adapters: { hdfs: { version: 'hdfs#3', threshold: 0.42 } } }, 'the previous upload stays live')
  const huge = await put({ metadata: meta, safetensors: 'A'.repeat(5 * 1024 * 1024) })
  t.equal(huge.statusCode, 413, 'an upload over admin.max_upload is answered 413')
  t.match(await huge.body.json(), { error: /upload larger than admin\.max_upload \(4194304 bytes\)/ })
  const unknown = await request(`${base}/v1/adapters/nope/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(unknown.statusCode, 404)
  await unknown.body.dump()
  await sidecar.stop()
  await rx.close()
})
