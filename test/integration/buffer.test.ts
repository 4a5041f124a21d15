/**
 * The disk buffer as an operator relies on it, with the real CLI process:
 * a sender's chunks are acknowledged once on disk even while the downstream
 * is down; after `kill -9` and a restart every record is delivered (at least
 * once); when the buffer is at its size limit the sidecar stops reading
 * (acks stop) instead of dropping, and catches up when the downstream returns.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FluentClient } from '@fluent-org/logger'
import { startReceiver } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'

const main = fileURLToPath(new URL('../../plugin/cli/main.ts', import.meta.url))

async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise(resolve => s.close(resolve))
  return port
}

interface Proc { child: ChildProcess, out: () => string, exited: Promise<number | null> }
async function serve (config: string): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', d => { out += String(d) })
  child.stderr?.on('data', d => { out += String(d) })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  if (!await waitFor(() => out.includes('forward input listening'), 30_000)) throw new Error(`sidecar did not start:\n${out}`)
  return { child, out: () => out, exited }
}

/**
 * kill -9 the sidecar, let the client go, start the downstream on `outPort`,
 * and start the sidecar again on the same config (so the same buffer folder).
 */
async function crashAndRestart (t: Test, sc: Proc, client: FluentClient, conf: string, outPort: number): Promise<{ sc: Proc, rx: Awaited<ReturnType<typeof startReceiver>> }> {
  sc.child.kill('SIGKILL')
  await sc.exited
  await client.disconnect().catch(() => {})
  const rx = await startReceiver({ port: outPort })
  t.teardown(() => rx.close())
  return { sc: await serve(conf), rx }
}

function config (dir: string, inPort: number, outPort: number, buffer: string): string {
  const p = join(dir, `sidecar-${inPort}.yaml`)
  writeFileSync(p, [
    `input: { forward: { port: ${inPort} } }`,
    `output: { forward: { port: ${outPort}, retry_initial: 50, retry_max: 200 } }`,
    `buffer: { enabled: true, path: buf, ${buffer} }`,
    'admin: { port: 0 }',
    'limits: { shutdown_grace: 2s }',
    'log: { level: info }',
  ].join('\n') + '\n')
  return p
}

t.test('acked once on disk while the downstream is down; after kill -9 and a restart every record is delivered', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fa-buffer-'))
  const [inPort, outPort] = [await freePort(), await freePort()]
  const conf = config(dir, inPort, outPort, 'fsync: interval')
  let sc = await serve(conf)
  const N = 3000
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: inPort, reconnect: { backoff: 2, delay: 100, maxDelay: 500 } }, ack: { ackTimeout: 10_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  await Promise.all(Array.from({ length: N }, (_, i) => client.emit('hdfs', { id: i, log: `line ${i}` })))
  t.pass(`all ${N} records acknowledged with no downstream listening: they are on disk`)
  t.ok(readdirSync(join(dir, 'buf')).some(f => f.endsWith('.fab')), 'segment files hold them')
  const restarted = await crashAndRestart(t, sc, client, conf, outPort)
  sc = restarted.sc
  const rx = restarted.rx
  t.ok(await waitFor(() => new Set(rx.sink.events.map(e => e.record.id)).size >= N, 30_000), 'the restarted sidecar replays the buffer')
  const ids = rx.sink.events.map(e => e.record.id as number)
  t.equal(new Set(ids).size, N, `every record delivered (${ids.length - N} duplicates)`)
  t.ok(ids.every(i => i >= 0 && i < N))
  t.match(sc.out(), /replayed undelivered records from the disk buffer/)
  sc.child.kill('SIGTERM')
  t.equal(await sc.exited, 0, 'clean stop')
  t.same(readdirSync(join(dir, 'buf')).filter(f => f.endsWith('.fab')), [], 'delivered segments are deleted')
})

t.test('a full buffer stops the acks (backpressure), never drops; everything goes once the downstream is back', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'fa-buffer-'))
  const [inPort, outPort] = [await freePort(), await freePort()]
  const sc = await serve(config(dir, inPort, outPort, 'max_size: 64K, segment_size: 16K'))
  t.teardown(() => { sc.child.kill('SIGKILL') })
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: inPort }, ack: { ackTimeout: 60_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  const N = 4000 // about 4 x 64K of records
  let acked = 0
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < N; i += 100) { // 40 chunks of 100, so the limit falls between chunks
    for (let j = i; j < i + 100; j++) pending.push(client.emit('hdfs', { id: j, log: `line ${j} `.padEnd(60, 'x') }).then(() => { acked++ }))
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  const sending = Promise.all(pending)
  await new Promise(resolve => setTimeout(resolve, 500))
  t.ok(acked > 0 && acked < N, `acks stop at the size limit (${acked} of ${N} acked)`)
  const rx = await startReceiver({ port: outPort })
  t.teardown(() => rx.close())
  await sending
  t.equal(acked, N, 'all acked once the downstream drained the buffer')
  t.ok(await waitFor(() => new Set(rx.sink.events.map(e => e.record.id)).size >= N, 30_000))
  t.equal(new Set(rx.sink.events.map(e => e.record.id)).size, N, 'every record delivered')
  await client.disconnect()
})

t.test('scored windows are rebuilt from the buffer after kill -9: every record comes back enriched', async t => {
  const { tinyBundle } = await import('../worker-pool/tiny-bundle.js')
  const { DATASETS } = await import('../../bench/lib/datasets.js')
  const { readFile } = await import('node:fs/promises')
  const dir = mkdtempSync(join(tmpdir(), 'fa-buffer-'))
  const [inPort, outPort] = [await freePort(), await freePort()]
  const conf = join(dir, 'scoring.yaml')
  writeFileSync(conf, [
    `input: { forward: { port: ${inPort} } }`,
    `output: { forward: { port: ${outPort}, retry_initial: 50, retry_max: 200 } }`,
    'buffer: { enabled: true, path: buf }',
    `model: { bundle: ${JSON.stringify(await tinyBundle())}, threads: 1, watch: false }`,
    'sources: [{ name: hdfs, match: "*.hdfs", format: hdfs, window: { idle_timeout: 300ms } }]',
    'admin: { port: 0 }',
    'log: { level: info }',
  ].join('\n') + '\n')
  let sc = await serve(conf)
  const lines = (await readFile(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')).split('\n').slice(0, 2000)
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: inPort }, ack: { ackTimeout: 10_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  await Promise.all(lines.map((log, i) => client.emit('hdfs', { id: i, log })))
  await new Promise(resolve => setTimeout(resolve, 500)) // some windows close and fail to deliver (no downstream)
  const restarted = await crashAndRestart(t, sc, client, conf, outPort)
  sc = restarted.sc
  const rx = restarted.rx
  t.ok(await waitFor(() => new Set(rx.sink.events.filter(e => e.tag === 'scored.app.hdfs').map(e => e.record.id)).size >= lines.length, 30_000), 'all lines delivered after the restart')
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs')
  t.ok(got.every(e => typeof (e.record.anomaly as { score?: unknown } | undefined)?.score === 'number'), 'each one scored: its window was rebuilt from the replayed records')
  sc.child.kill('SIGTERM')
  t.equal(await sc.exited, 0)
})
