/**
 * models/remote.ts as an ML engineer and an operator see it: a real local
 * HTTP server publishes the admin upload document, a real ModelRegistry over
 * a bundle made by the trainer installs it. What they notice: the adapter
 * version changes only when new content is published, a 304 or the same
 * bytes install nothing, a broken publish is reported once with its code and
 * the old adapter stays live, fetch failures are reported and retried, and
 * stop() stops the polling.
 */
import t, { type Test } from 'tap'
import http from 'node:http'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import { ModelError } from '../../models/errors.js'
import { ModelRegistry } from '../../models/registry.js'
import { RemoteAdapterPoller, type RemoteAdapterOptions } from '../../models/remote.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'

const base = await tinyBundle()
const tensors = readFileSync(join(base, 'adapters', 'hdfs.safetensors'))
const meta = JSON.parse(readFileSync(join(base, 'adapters', 'hdfs.json'), 'utf8')) as Record<string, unknown>
/** The admin PUT body for the bundle's own adapter, with some metadata changed. */
const doc = (m: Record<string, unknown> = {}, tensorBytes: Uint8Array = tensors): string =>
  JSON.stringify({ metadata: { ...meta, ...m }, safetensors: Buffer.from(tensorBytes).toString('base64') })

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
async function until (what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await sleep(5)
  }
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/**
 * A static file server for one document: answers 304 to a matching
 * If-None-Match, as nginx or S3 do. `misbehave` replaces it for one case.
 */
async function staticPublisher (t: Test) {
  let body = ''
  let etag: string | undefined
  let misbehave: Handler | undefined
  const seen: { ifNoneMatch?: string, authorization?: string }[] = []
  const server = http.createServer((req, res) => {
    seen.push({ ifNoneMatch: req.headers['if-none-match'], authorization: req.headers.authorization })
    if (misbehave !== undefined) return misbehave(req, res)
    if (etag !== undefined && req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); res.end(); return }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(etag === undefined ? {} : { etag }) })
    res.end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}/adapters/hdfs.json`,
    seen,
    publish (text: string, tag?: string): void { body = text; etag = tag; misbehave = undefined },
    misbehave (h: Handler | undefined): void { misbehave = h },
  }
}

/** A fresh copy of the tiny bundle, its registry, a publisher, and a poller whose events are recorded. */
async function setup (t: Test, opts: Partial<RemoteAdapterOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fa-remote-'))
  cpSync(base, dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const registry = await ModelRegistry.open(dir)
  t.teardown(() => registry.close())
  const refusedByRegistry: Error[] = []
  registry.on('failed', (_s, err) => refusedByRegistry.push(err))
  const pub = await staticPublisher(t)
  const poller = new RemoteAdapterPoller(registry, { source: 'hdfs', url: pub.url, timeoutMs: 1000, ...opts })
  t.teardown(() => poller.stop())
  const events: string[] = []
  const failures: ModelError[] = []
  poller.on('updated', (source, live) => events.push(`updated ${source} ${live.version}`))
  poller.on('unchanged', source => events.push(`unchanged ${source}`))
  poller.on('failed', (source, err) => { events.push(`failed ${source} ${err.code}`); failures.push(err) })
  const live = () => registry.current('hdfs')!
  return { dir, registry, pub, poller, events, failures, live, refusedByRegistry }
}

t.test('installs on the first poll; a 304 or the same bytes install nothing; new content installs again', async t => {
  const { pub, poller, events, live } = await setup(t)
  t.equal(live().version, 'hdfs#1', 'the adapter from disk is live')
  pub.publish(doc({ threshold: 0.42 }), '"v1"')
  t.equal(await poller.pollOnce(), 'updated')
  t.match(live(), { version: 'hdfs#2', adapter: { threshold: 0.42 } }, 'the published adapter is live')
  t.equal(pub.seen[0].ifNoneMatch, undefined, 'no ETag to send yet')

  t.equal(await poller.pollOnce(), 'not_modified')
  t.equal(pub.seen[1].ifNoneMatch, '"v1"', 'sent If-None-Match with the ETag it saw')
  t.equal(live().version, 'hdfs#2', 'not installed again')

  pub.publish(doc({ threshold: 0.5 }), '"v2"')
  t.equal(await poller.pollOnce(), 'updated', 'a new ETag with new content installs')
  t.match(live(), { version: 'hdfs#3', adapter: { threshold: 0.5 } })

  pub.publish(doc({ threshold: 0.5 }), '"v3"')
  t.equal(await poller.pollOnce(), 'unchanged', 'a new ETag over the same bytes installs nothing')
  t.equal(live().version, 'hdfs#3')
  t.equal(await poller.pollOnce(), 'not_modified', 'and the new ETag is the one asked with next')
  t.equal(pub.seen.at(-1)?.ifNoneMatch, '"v3"')
  t.same(events, ['updated hdfs hdfs#2', 'unchanged hdfs', 'updated hdfs hdfs#3', 'unchanged hdfs', 'unchanged hdfs'])
})

t.test('a server without ETags: the same bytes are recognised by their hash', async t => {
  const { pub, poller, live } = await setup(t)
  pub.publish(doc({ threshold: 0.3 }))
  t.equal(await poller.pollOnce(), 'updated')
  t.equal(await poller.pollOnce(), 'unchanged')
  t.equal(pub.seen[1].ifNoneMatch, undefined, 'no If-None-Match without an ETag')
  t.equal(live().version, 'hdfs#2', 'installed once')
  pub.publish(doc({ threshold: 0.31 }))
  t.equal(await poller.pollOnce(), 'updated')
  t.equal(live().version, 'hdfs#3')
})

t.test('a refused adapter is reported once with its code, the old one stays live, and it is not retried until the content changes', async t => {
  const { pub, poller, events, failures, live, refusedByRegistry } = await setup(t)
  pub.publish(doc({ threshold: 0.42 }))
  await poller.pollOnce()
  const good = live()

  pub.publish(doc({ encoder_sha256: '0'.repeat(64) }))
  t.equal(await poller.pollOnce(), 'failed')
  t.equal(failures[0].code, 'ADAPTER_ENCODER_MISMATCH', 'the registry\'s refusal, with its code')
  t.equal(live(), good, 'the previous adapter stays live')
  t.equal(await poller.pollOnce(), 'unchanged', 'the same broken bytes are not installed again')
  t.equal(refusedByRegistry.length, 1, 'the registry saw one install attempt')

  pub.publish(doc({}, tensors.subarray(0, tensors.length - 16)), '"truncated"')
  t.equal(await poller.pollOnce(), 'failed')
  t.equal(failures[1].code, 'ADAPTER_TENSOR_INVALID', 'truncated tensors are refused')
  t.equal(await poller.pollOnce(), 'not_modified', 'its ETag is remembered too')
  t.equal(refusedByRegistry.length, 2)
  t.equal(live(), good)

  pub.publish(doc({ threshold: 0.6 }), '"fixed"')
  t.equal(await poller.pollOnce(), 'updated', 'a fixed publish installs')
  t.match(live(), { version: 'hdfs#3', adapter: { threshold: 0.6 } })
  t.same(events, ['updated hdfs hdfs#2', 'failed hdfs ADAPTER_ENCODER_MISMATCH', 'unchanged hdfs',
    'failed hdfs ADAPTER_TENSOR_INVALID', 'unchanged hdfs', 'updated hdfs hdfs#3'])
})

t.test('a document that is not the upload body is reported once (ADAPTER_REMOTE_INVALID)', async t => {
  const { pub, poller, failures, live } = await setup(t)
  pub.publish('{"metadata": {"threshold": 0.1}, "safetens')
  t.equal(await poller.pollOnce(), 'failed')
  t.equal(failures[0].code, 'ADAPTER_REMOTE_INVALID')
  t.match(failures[0].message, /http:\/\/127\.0\.0\.1:\d+\/adapters\/hdfs\.json is not JSON/)
  t.equal(await poller.pollOnce(), 'unchanged', 'not reported again for the same bytes')
  pub.publish(JSON.stringify({ metadata: meta, tensors: 'AAAA' }))
  t.equal(await poller.pollOnce(), 'failed')
  t.match(failures[1], { code: 'ADAPTER_REMOTE_INVALID', message: /another shape; it must serve \{"metadata"/ })
  t.equal(live().version, 'hdfs#1', 'the adapter from disk stays live')
})

t.test('fetch failures are reported with the URL and why, keep the old adapter, and are retried', async t => {
  const { pub, poller, failures, live, events } = await setup(t, { maxBytes: 64 * 1024, timeoutMs: 300 })
  pub.publish(doc({ threshold: 0.42 }), '"v1"')
  await poller.pollOnce()
  const good = live()
  const fails = async (what: string, msg: RegExp): Promise<void> => {
    const n = failures.length
    t.equal(await poller.pollOnce(), 'failed', what)
    t.equal(failures.length, n + 1, `${what}: one 'failed' event`)
    t.match(failures[n], { code: 'ADAPTER_REMOTE_FETCH', message: msg, recoverable: true }, what)
  }

  pub.misbehave((_req, res) => { res.writeHead(500); res.end('boom') })
  await fails('500', /GET http:\/\/127\.0\.0\.1:\d+\/adapters\/hdfs\.json answered 500; source "hdfs" keeps its adapter/)
  await fails('500 again: retried next poll', /answered 500/)
  pub.misbehave((_req, res) => { res.writeHead(302, { location: '/elsewhere' }); res.end() })
  await fails('a redirect is not followed by default', /answered 302/)

  const big = 'x'.repeat(64 * 1024 + 1)
  pub.misbehave((_req, res) => { res.writeHead(200, { 'content-length': big.length }); res.end(big) })
  await fails('content-length over maxBytes', /more than 65536 bytes \(maxBytes\)/)
  pub.misbehave((_req, res) => { // chunked: no content-length to check first
    res.writeHead(200)
    const write = (i: number): void => { if (i === 0 || res.destroyed) { res.end(); return } res.write('x'.repeat(8192), () => write(i - 1)) }
    write(100)
  })
  await fails('a streamed body over maxBytes is cut off', /more than 65536 bytes/)

  pub.misbehave(() => { /* never answers */ })
  await fails('no headers within timeoutMs', /no answer within 300 ms \(UND_ERR_HEADERS_TIMEOUT\)/)
  pub.misbehave((_req, res) => { res.writeHead(200); res.write('{"metadata":') /* then stalls */ })
  await fails('a body that stalls', /no answer within 300 ms \(UND_ERR_BODY_TIMEOUT\)/)

  t.equal(live(), good, 'the old adapter stayed live throughout')
  pub.publish(doc({ threshold: 0.42 }), '"v1"')
  t.equal(await poller.pollOnce(), 'not_modified', 'recovered: the ETag from before the failures still holds')
  pub.publish(doc({ threshold: 0.7 }), '"v2"')
  t.equal(await poller.pollOnce(), 'updated')
  t.equal(events.at(-1), 'updated hdfs hdfs#3')
})

t.test('connection refused is a failed poll, not a throw', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fa-remote-'))
  cpSync(base, dir, { recursive: true })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const registry = await ModelRegistry.open(dir)
  const closed = http.createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => resolve()))
  const poller = new RemoteAdapterPoller(registry, { source: 'hdfs', url: `http://127.0.0.1:${port}/hdfs.json` })
  const failures: ModelError[] = []
  poller.on('failed', (_s, err) => failures.push(err))
  t.equal(await poller.pollOnce(), 'failed')
  t.match(failures[0], { code: 'ADAPTER_REMOTE_FETCH', message: new RegExp(`GET http://127\\.0\\.0\\.1:${port}/hdfs\\.json failed: .*ECONNREFUSED`) })
  t.equal(registry.current('hdfs')?.version, 'hdfs#1')
})

t.test('headers and a dispatcher are passed through; a presigned query string stays out of messages', async t => {
  const { pub, registry } = await setup(t)
  pub.publish(doc({ threshold: 0.42 }))
  // resolves a name that has no DNS entry to the local publisher: proof that this dispatcher made the request
  const agent = new Agent({
    connect: {
      lookup: ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => opts.all === true
        ? cb(null, [{ address: '127.0.0.1', family: 4 }])
        : cb(null, '127.0.0.1', 4)) as never,
    },
  })
  t.teardown(() => agent.close())
  const poller = new RemoteAdapterPoller(registry, {
    source: 'hdfs',
    url: `http://adapters.invalid:${pub.port}/adapters/hdfs.json?X-Amz-Signature=secret`,
    headers: { authorization: 'Bearer remote-token' },
    dispatcher: agent,
  })
  t.equal(await poller.pollOnce(), 'updated')
  t.equal(pub.seen[0].authorization, 'Bearer remote-token')
  const failures: ModelError[] = []
  poller.on('failed', (_s, err) => failures.push(err))
  pub.misbehave((_req, res) => { res.writeHead(403); res.end() })
  t.equal(await poller.pollOnce(), 'failed')
  t.match(failures[0].message, /GET http:\/\/adapters\.invalid:\d+\/adapters\/hdfs\.json\?… answered 403/)
  t.notMatch(failures[0].message, /secret/)
})

t.test('start() polls at once and then every intervalMs, never two at once; stop() stops it', async t => {
  const { pub, poller, live } = await setup(t, { intervalMs: 20 })
  pub.publish(doc({ threshold: 0.42 }), '"v1"')
  let open = 0
  let most = 0
  pub.misbehave((_req, res) => { // a slow static server: each answer takes 50 ms, longer than the interval
    open++
    most = Math.max(most, open)
    setTimeout(() => { open--; res.writeHead(200, { etag: '"v1"' }); res.end(doc({ threshold: 0.42 })) }, 50)
  })
  poller.start()
  poller.start()
  await until(() => live().version === 'hdfs#2')
  await until(() => pub.seen.length >= 4)
  t.equal(most, 1, 'polls do not overlap')
  await poller.stop()
  const n = pub.seen.length
  await sleep(150)
  t.equal(pub.seen.length, n, 'no polls after stop()')
  t.equal(live().version, 'hdfs#2', 'installed once, then unchanged')
  await poller.stop()
  t.pass('stop() twice is fine')
})

t.test('stop() aborts a request in flight without reporting a failure', async t => {
  const { pub, poller, events } = await setup(t, { timeoutMs: 10_000 })
  pub.misbehave(() => { /* never answers */ })
  poller.start()
  await until(() => pub.seen.length === 1)
  const t0 = Date.now()
  await poller.stop()
  t.ok(Date.now() - t0 < 1000, 'stop() did not wait for the timeout')
  t.same(events, [], 'no failed event for our own abort')
})

t.test('the constructor refuses what cannot work, with ADAPTER_REMOTE_CONFIG', async t => {
  const registry = { install: async () => { throw new Error('not called') } }
  const refuses = (opts: Partial<RemoteAdapterOptions>, msg: RegExp): void => {
    t.throws(() => new RemoteAdapterPoller(registry, { source: 'hdfs', url: 'https://example.test/hdfs.json', ...opts }),
      { name: 'ModelError', code: 'ADAPTER_REMOTE_CONFIG', message: msg })
  }
  refuses({ url: 'ftp://example.test/hdfs.json' }, /must be http: or https:, got ftp:/)
  refuses({ url: 'file:///tmp/hdfs.json' }, /got file:/)
  refuses({ url: 'not a url' }, /is not a URL: not a url/)
  refuses({ url: 'https://user:pass@example.test/hdfs.json' }, /credentials in it; pass them in headers/)
  refuses({ source: '../manifest' }, /source must be a source name like "hdfs"/)
  refuses({ intervalMs: 0 }, /intervalMs must be a whole number/)
  refuses({ timeoutMs: -1 }, /timeoutMs/)
  refuses({ maxBytes: 1.5 }, /maxBytes/)
  const ok = new RemoteAdapterPoller(registry, { source: 'hdfs', url: new URL('http://example.test/a.json') })
  t.equal(ok.url.href, 'http://example.test/a.json', 'a URL object is taken as is')
  t.ok(new ModelError('ADAPTER_REMOTE_FETCH', 'x').recoverable, 'fetch failures are recoverable: the sidecar carries on')
})
