/**
 * `sources[].remote` as an ML engineer uses it: publish a retrained adapter
 * at a URL, and the running sidecar picks it up (GET /v1/adapters shows the
 * new version and threshold) without a restart; a publisher that fails is
 * counted on /metrics and the live adapter stays.
 */
import t from 'tap'
import http from 'node:http'
import { cp, mkdtemp, readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { waitFor } from '../helpers/wait.js'

t.test('a source with a remote URL hot-swaps what is published there', async t => {
  const bundle = await mkdtemp(join(tmpdir(), 'fa-remote-it-'))
  await cp(await tinyBundle(), bundle, { recursive: true })
  const tensors = await readFile(join(bundle, 'adapters', 'hdfs.safetensors'))
  const meta = JSON.parse(await readFile(join(bundle, 'adapters', 'hdfs.json'), 'utf8')) as { threshold: number }
  let status = 200
  let body = JSON.stringify({ metadata: { ...meta, threshold: 0.4242 }, safetensors: tensors.toString('base64') })
  const auth: Array<string | undefined> = []
  const server = http.createServer((req, res) => {
    auth.push(req.headers.authorization)
    if (status !== 200) { res.writeHead(status); res.end('down'); return }
    res.writeHead(200, { 'content-type': 'application/json', etag: `"${body.length}"` })
    res.end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hdfs.json`

  const config = parseConfig({
    input: { forward: { port: 0 } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', remote: { url, interval: '100ms', token: 'publisher-token-0123' } }],
    admin: { port: 0 },
  })
  const sc = await buildSidecar(config, { telemetry: quietTelemetry() })
  const { admin } = await sc.start()
  t.teardown(() => sc.stop())
  const adminUrl = `http://127.0.0.1:${(admin as AddressInfo).port}`
  const live = async (): Promise<{ version: string, threshold: number }> =>
    ((await (await request(`${adminUrl}/v1/adapters`)).body.json()) as { adapters: Record<string, { version: string, threshold: number }> }).adapters.hdfs

  t.ok(await waitFor(() => sc.parts.scoring?.registry.current('hdfs')?.adapter.threshold === 0.4242, 10_000), 'the published adapter is live')
  const first = await live()
  t.equal(first.threshold, 0.4242, 'GET /v1/adapters shows the published threshold')
  t.equal(auth[0], 'Bearer publisher-token-0123', 'the token is sent as a bearer token')

  status = 500
  const metrics = async (): Promise<string> => await (await request(`${adminUrl}/metrics`)).body.text()
  let text = ''
  t.ok(await waitFor(() => { void metrics().then(m => { text = m }); return /adapter_remote_failures_total\{[^}]*code="ADAPTER_REMOTE_FETCH"[^}]*\} [1-9]/.test(text) }, 10_000),
    'a failing publisher is counted on /metrics')
  t.same(await live(), first, 'the live adapter stays while the publisher fails')

  status = 200
  body = JSON.stringify({ metadata: { ...meta, threshold: 0.3131 }, safetensors: tensors.toString('base64') })
  t.ok(await waitFor(() => sc.parts.scoring?.registry.current('hdfs')?.adapter.threshold === 0.3131, 10_000), 'a new publish is swapped in')
  t.not((await live()).version, first.version, 'with a new version')
})

t.test('a remote URL must be http(s)', async t => {
  t.throws(() => parseConfig({ sources: [{ name: 'hdfs', match: '*.hdfs', remote: { url: 'file:///etc/passwd' } }] }), /http:\/\/ or https:\/\//)
})
