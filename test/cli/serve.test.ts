/** The CLI as an operator runs it: a real process, real sockets, signals. */
import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FluentClient } from '@fluent-org/logger'
import { startReceiver } from '../helpers/sidecar.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'

const main = fileURLToPath(new URL('../../plugin/cli/main.ts', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'fa-cli-'))

function cli (args: string[]): { done: Promise<{ code: number | null, stderr: string, stdout: string }>, kill: (sig: NodeJS.Signals) => void, stdout: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const done = new Promise<{ code: number | null, stderr: string, stdout: string }>(resolve => child.on('exit', code => resolve({ code, stderr, stdout })))
  return { done, kill: sig => child.kill(sig), stdout: () => stdout }
}

t.test('serve: bad config fails at start with the key path and exit code 78', async t => {
  const p = join(tmp, 'bad.yaml')
  writeFileSync(p, 'input:\n  forward:\n    prot: 1\n')
  const r = await cli(['serve', '--config', p]).done
  t.equal(r.code, 78)
  t.match(r.stderr, /CONFIG_INVALID.*\n.*input\.forward\.prot: unknown key/)
})

t.test('serve: listens, relays, and on SIGTERM stops cleanly', async t => {
  const rx = await startReceiver()
  const port = 20000 + Math.floor(Math.random() * 20000)
  const p = join(tmp, 'ok.yaml')
  writeFileSync(p, `input:\n  forward:\n    port: ${port}\noutput:\n  forward:\n    port: ${rx.port}\nadmin:\n  port: 0\nlog:\n  level: info\n`)
  const proc = cli(['serve', '--config', p])
  const t0 = Date.now()
  while (!proc.stdout().includes('listening') && Date.now() - t0 < 20_000) await new Promise(resolve => setTimeout(resolve, 50))
  t.match(proc.stdout(), /"msg":"fluent-anomaly forward input listening"/, 'structured JSON log line on start')
  const client = new FluentClient('cli', { socket: { host: '127.0.0.1', port }, ack: { ackTimeout: 10_000 } })
  await Promise.all(Array.from({ length: 10 }, (_, i) => client.emit('x', { i })))
  t.equal(rx.sink.events.length, 10, 'relayed and acked')
  await client.disconnect()
  proc.kill('SIGTERM')
  const r = await proc.done
  t.equal(r.code, 0, 'exit 0 on SIGTERM')
  t.match(r.stdout, /stopped cleanly/)
  await rx.close()
})

t.test('serve: a relative model.bundle is found beside the config file, and records come back scored', async t => {
  const rx = await startReceiver()
  const confDir = join(tmp, 'scoring-conf')
  cpSync(await tinyBundle(), join(confDir, 'bundle'), { recursive: true })
  const port = 20000 + Math.floor(Math.random() * 20000)
  const p = join(confDir, 'sidecar.yaml')
  writeFileSync(p, [
    `input: { forward: { port: ${port} } }`,
    `output: { forward: { port: ${rx.port} } }`,
    'admin: { port: 0 }',
    'model: { bundle: bundle, threads: 1 }',
    'sources: [{ name: hdfs, match: "*.hdfs", format: hdfs, window: { idle_timeout: 200ms } }]',
    'log: { level: info }',
  ].join('\n') + '\n')
  const proc = cli(['serve', '--config', p]) // the child's cwd is the repository, not confDir
  const t0 = Date.now()
  while (!proc.stdout().includes('listening') && Date.now() - t0 < 30_000) await new Promise(resolve => setTimeout(resolve, 50))
  t.match(proc.stdout(), /forward input listening/, 'started with the bundle next to its config')
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port }, ack: { ackTimeout: 20_000 } })
  const line = '081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating'
  await client.emit('hdfs', { log: line })
  const got = rx.sink.events.filter(e => e.tag === 'scored.app.hdfs') // (plus a summary event if the window is anomalous)
  t.equal(got.length, 1, 'acked once scored and delivered')
  t.match(got[0].record, { log: line, anomaly: { score: Number, window_id: /^hdfs:/ } }, 'the record came back with its anomaly map')
  await client.disconnect()
  proc.kill('SIGTERM')
  t.equal((await proc.done).code, 0)
  await rx.close()
})

t.test('unknown command prints usage', async t => {
  const r = await cli(['frobnicate']).done
  t.equal(r.code, 64)
  t.match(r.stderr, /usage: fluent-anomaly/)
})
