/**
 * Pass-through throughput of the spine, on loopback, three processes:
 *
 *   sender ──Forward+ack──▶ [sidecar] ──Forward+ack──▶ receiver
 *
 * For 1, 100 and 1000 records per message, the same sender first sends
 * straight to the receiver (the ceiling), then through the sidecar, then
 * through the sidecar with its disk buffer on (acks once on disk), in the
 * same run; it prints records/s for each and the ratios to the ceiling.
 * The records are real HDFS lines from ../shared/datasets/hdfs_loglead_2pct
 * (FLUENT_ANOMALY_DATASETS to point elsewhere).
 *
 *   npx tsx bench/forward-throughput.ts            # the full table
 *   BENCH_SCALE=0.2 npx tsx bench/forward-throughput.ts   # shorter
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../config/load.js'
import { encode } from '../plugin/forward/codec.js'
import { EventTime } from '../plugin/forward/event-time.js'
import { ForwardServer } from '../plugin/forward/server.js'
import { quietTelemetry } from '../plugin/events.js'
import { createSidecar } from '../plugin/index.js'
import { Pipeline } from '../plugin/pipeline/pipeline.js'
import type { LogEvent, Sink } from '../plugin/pipeline/stage.js'
import { DATASETS } from './lib/datasets.js'
import { openSender } from './lib/forward-bench.js'

const self = fileURLToPath(import.meta.url)
const role = process.argv[2]

/** Receiver: a Forward server whose sink settles (acks) every event at once and counts it. */
async function receiver (): Promise<void> {
  let n = 0
  const sink: Sink = { pending: 0, write (events: LogEvent[]) { n += events.length; for (const e of events) e.receipt.settle(1) }, async close () {} }
  const cfg = parseConfig({ input: { forward: { port: 0, max_frame_size: '64M' } } })
  const server = new ForwardServer(cfg.input.forward, new Pipeline([], sink, { maxPending: 10_000_000 }), quietTelemetry())
  const addr = await server.listen()
  process.stdout.write(JSON.stringify({ port: addr.port }) + '\n')
  process.stdin.on('data', () => process.stdout.write(JSON.stringify({ received: n }) + '\n'))
}

/** The sidecar; with `bufferDir`, the disk buffer on there (fsync interval, as config/default.yaml). */
async function sidecar (downstream: number, bufferDir?: string): Promise<void> {
  const config = parseConfig({
    input: { forward: { port: 0 } }, output: { forward: { port: downstream } }, admin: { enabled: false }, log: { level: 'warn' },
    ...(bufferDir === undefined ? {} : { buffer: { enabled: true, path: bufferDir, fsync: 'interval' } }),
  })
  const sc = createSidecar(config)
  const { forward } = await sc.start()
  process.stdout.write(JSON.stringify({ port: forward.port }) + '\n')
}

/** Sender: `window` chunks in flight per connection, each [tag, entries, {chunk}], until `total` records are acked. */
async function sender (port: number, perMessage: number, total: number, window: number): Promise<void> {
  const lines = readFileSync(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8').split('\n', 20_000).filter(Boolean)
  const messages = Math.ceil(total / perMessage)
  const { sock, frames: d } = await openSender(port)
  let next = 0
  let acked = 0
  let li = 0
  const t0 = process.hrtime.bigint()
  const lat: number[] = []
  const sentAt = new Map<string, bigint>()
  await new Promise<void>(resolve => {
    const send = (): void => {
      const entries = new Array(perMessage)
      for (let i = 0; i < perMessage; i++) entries[i] = [new EventTime(1700000000 + next, i), { log: lines[li++ % lines.length] }]
      const chunk = randomBytes(16).toString('base64')
      sentAt.set(chunk, process.hrtime.bigint())
      sock.write(encode(['bench.hdfs', entries, { chunk, size: perMessage }]))
      next++
    }
    sock.on('data', data => {
      d.push(data)
      for (let r = d.next(); r.kind === 'frame'; r = d.next()) {
        const raw = r.bytes
        const chunk = raw.subarray(6).toString('utf8') // {"ack": fixstr} – 24 base64 chars
        const s = sentAt.get(chunk)
        if (s !== undefined) { lat.push(Number(process.hrtime.bigint() - s) / 1e6); sentAt.delete(chunk) }
        acked++
        if (next < messages) send()
        else if (acked === messages) resolve()
      }
    })
    for (let i = 0; i < Math.min(window, messages); i++) send()
  })
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  lat.sort((a, b) => a - b)
  sock.destroy()
  process.stdout.write(JSON.stringify({ records: messages * perMessage, secs, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] }) + '\n')
}

function start (args: string[]): { child: ChildProcess, first: Promise<Record<string, number>> } {
  const child = spawn(process.execPath, ['--import', 'tsx', self, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const first = new Promise<Record<string, number>>(resolve => {
    let buf = ''
    child.stdout?.on('data', d => {
      buf += String(d)
      const nl = buf.indexOf('\n')
      if (nl >= 0) { resolve(JSON.parse(buf.slice(0, nl)) as Record<string, number>); buf = buf.slice(nl + 1) }
    })
  })
  return { child, first }
}

async function orchestrate (): Promise<void> {
  const scale = Number(process.env.BENCH_SCALE ?? 1)
  const cases = [
    { perMessage: 1, total: Math.round(40_000 * scale), window: 16 },
    { perMessage: 100, total: Math.round(600_000 * scale), window: 8 },
    { perMessage: 1000, total: Math.round(1_000_000 * scale), window: 4 },
  ]
  const rows: string[] = []
  for (const c of cases) {
    const rx = start(['receiver'])
    const { port: rxPort } = await rx.first
    const direct = await start(['sender', String(rxPort), String(c.perMessage), String(c.total), String(c.window)]).first
    const sc = start(['sidecar', String(rxPort)])
    const { port: scPort } = await sc.first
    const through = await start(['sender', String(scPort), String(c.perMessage), String(c.total), String(c.window)]).first
    sc.child.kill('SIGTERM')
    const bufferDir = mkdtempSync(join(tmpdir(), 'fa-bench-buffer-'))
    const sb = start(['sidecar', String(rxPort), bufferDir])
    const { port: sbPort } = await sb.first
    const buffered = await start(['sender', String(sbPort), String(c.perMessage), String(c.total), String(c.window)]).first
    sb.child.kill('SIGTERM')
    rx.child.kill('SIGTERM')
    await new Promise(resolve => sb.child.once('exit', resolve))
    rmSync(bufferDir, { recursive: true, force: true })
    const dRate = direct.records / direct.secs
    const sRate = through.records / through.secs
    const bRate = buffered.records / buffered.secs
    const n = (x: number): string => Math.round(x).toLocaleString('en-US')
    rows.push(`| ${c.perMessage} | ${c.total.toLocaleString('en-US')} | ${n(dRate)} | ${n(sRate)} | ${(sRate / dRate).toFixed(2)} | ${through.p50.toFixed(2)} / ${through.p99.toFixed(2)} | ${n(bRate)} | ${(bRate / dRate).toFixed(2)} | ${buffered.p50.toFixed(2)} / ${buffered.p99.toFixed(2)} |`)
    process.stderr.write(`records/message=${c.perMessage}: direct ${Math.round(dRate)} rec/s, through sidecar ${Math.round(sRate)} rec/s, with disk buffer ${Math.round(bRate)} rec/s\n`)
  }
  process.stdout.write([
    '| records/message | records | direct (ceiling) rec/s | through sidecar rec/s | ratio | sidecar ack latency p50 / p99 ms | with disk buffer rec/s | ratio | ack latency p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n') + '\n')
}

switch (role) {
  case 'receiver': await receiver(); break
  case 'sidecar': await sidecar(Number(process.argv[3]), process.argv[4]); break
  case 'sender': await sender(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])); process.exit(0); break
  default: await orchestrate(); process.exit(0)
}
