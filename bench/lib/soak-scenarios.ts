/**
 * The soak scenarios (bench/soak.ts runs them): crash of the sidecar (1a, 1b),
 * downstream outage (2); overload and adapter swaps are in soak-load.ts.
 * Each starts its own receiver and sidecar on free ports and returns a Row.
 */
import { sleep, wallMs, type Json, type RoleProcess } from './forward-bench.js'
import { freePort, SidecarProcess } from './soak-procs.js'
import { bufferConfig, fill, finalTally, hasPythonFluentLogger, missing, PySender, role, startReceiver, sumSent, until, type Ctx, type Row } from './soak-parts.js'
import { adapterSwaps, overload } from './soak-load.js'

export type { Row } from './soak-parts.js'

/** The sidecar as a relay: no model, admin off unless asked, log level warn (its log goes to a file in the temp dir). */
export function passThrough (port: number, downstream: number, extra: Json = {}): Json {
  return { input: { forward: { port } }, output: { forward: { port: downstream } }, admin: { enabled: false }, log: { level: 'warn' }, ...bufferConfig(port), ...extra }
}

const s = (ms: number): string => (ms / 1000).toFixed(1)

/** A sender process as the crash and outage scenarios drive it. */
interface Sender {
  /** Ids sent so far (sid → count). */
  progress: () => Promise<Record<string, number>>
  /** Waits for the end: ids sent, and a line about the sender's own view. */
  result: () => Promise<{ sent: Record<string, number>, summary: string }>
}

function windowSender (r: RoleProcess): Sender {
  return {
    progress: async () => (await r.request<{ sent: Record<string, number> }>({ cmd: 'progress' })).sent,
    result: async () => {
      const { senders } = await r.request<{ senders: Array<{ sid: string, sent: number, acked: number, chunksResent: number, reconnects: number, maxAckGapMs: number }> }>({ cmd: 'result' })
      const sum = (k: 'acked' | 'chunksResent' | 'reconnects'): number => senders.reduce((a, x) => a + x[k], 0)
      return {
        sent: Object.fromEntries(senders.map(x => [x.sid, x.sent])),
        summary: `acked ${sum('acked')}, chunks resent ${sum('chunksResent')}, reconnects ${sum('reconnects')}, longest wait for an ack ${s(Math.max(...senders.map(x => x.maxAckGapMs)))} s`,
      }
    },
  }
}

async function fluentOrgSender (port: number, durationMs: number): Promise<Sender> {
  // 5,000 emits unresolved at most; an event not acked within 3 s is emitted again (as part of a new chunk)
  const r = role('fluent-org', { port, sid: 'js', durationMs, outstanding: 5000, ackTimeoutMs: 3000, drainMs: 60_000 })
  await r.next()
  return {
    progress: async () => (await r.request<{ sent: Record<string, number> }>({ cmd: 'progress' })).sent,
    result: async () => {
      const x = await r.request<{ sid: string, sent: number, acked: number, failed: number, unresolved: number, errors: Record<string, number>, maxAckGapMs: number }>({ cmd: 'result' })
      const errors = Object.entries(x.errors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
      return { sent: { [x.sid]: x.sent }, summary: `emits acked ${x.acked}, gave up ${x.failed}, unresolved ${x.unresolved}; retried errors: ${errors}; longest wait for an ack ${s(x.maxAckGapMs)} s` }
    },
  }
}

async function pySender (port: number, durationMs: number): Promise<Sender> {
  // 200 messages unacked at most; no ack within 10 s: reconnect and resend them
  const p = new PySender(port, durationMs / 1000, 200, 10, 'py')
  await p.ready()
  return {
    progress: async () => await p.progress(),
    result: async () => {
      const x = await p.result()
      return { sent: { py: x.sent }, summary: `acked ${x.acked}, messages resent ${x.resent}, reconnects ${x.reconnects}, still unacked ${x.unacked}, longest wait for an ack ${s(x.max_ack_gap_ms)} s` }
    },
  }
}

/** 1a / 1b: SIGKILL the sidecar a third of the way in, restart it on the same port a second later. */
async function crash (ctx: Ctx, id: string, title: string, kind: 'fluent-org' | 'python'): Promise<Row> {
  const row: Row = { id, title, notes: [] }
  const rx = await startReceiver()
  const port = await freePort()
  const sc = new SidecarProcess(ctx.dir, `s${id}`, port, passThrough(port, rx.port))
  await sc.start()
  const loadMs = Math.round(12_000 * ctx.scale)
  const pauseMs = 1000
  const sender = kind === 'fluent-org' ? await fluentOrgSender(port, loadMs) : await pySender(port, loadMs)
  await sleep(Math.round(loadMs * 0.35))
  const before = await sender.progress()
  const killedAt = wallMs()
  await sc.kill9()
  ctx.log(`kill -9 of the sidecar with ${sumSent(before).toLocaleString('en-US')} records sent so far`)
  await sleep(pauseMs)
  const startMs = await sc.start()
  const downMs = wallMs() - killedAt
  ctx.log(`restarted on port ${port}: listening ${s(startMs)} s after spawn, ${s(downMs)} s after the kill`)
  const recovered = await until(async () => await missing(rx, before) === 0, 60_000)
  if (recovered === undefined) ctx.log('records sent before the kill still missing after 60 s')
  else { row.recoverMs = recovered - killedAt; row.recoverWhat = '(kill → every pre-kill record downstream)' }
  const r = await sender.result()
  ctx.log(`sender: ${r.summary}`)
  fill(row, await finalTally(rx, r.sent), r.sent)
  row.peakRss = sc.peakRss
  row.notes.push(`sidecar down ${s(downMs)} s (${s(pauseMs)} s pause + ${s(startMs)} s start)`)
  return row
}

/** 2: stop the downstream for ~5 s mid-stream, then start it again on the same port. */
async function outage (ctx: Ctx): Promise<Row> {
  const row: Row = { id: '2', title: 'downstream down ~5 s, then back', notes: [] }
  const rx = await startReceiver()
  const port = await freePort()
  const sc = new SidecarProcess(ctx.dir, 's2', port, passThrough(port, rx.port))
  await sc.start()
  const loadMs = Math.round(14_000 * ctx.scale)
  const downMs = Math.max(2000, Math.round(5000 * Math.min(1, ctx.scale)))
  // out_forward-like: 16 chunks of 100 unacked at most, ack wait 60 s (Fluent Bit net.io_timeout in our examples)
  const r = role('window-senders', { port, tag: 'soak.app', senders: 1, sidPrefix: 'w', perMessage: 100, window: 16, rate: 20_000, durationMs: loadMs, ackTimeoutMs: 60_000, drainMs: 60_000, lines: 20_000 })
  await r.next()
  const sender = windowSender(r)
  await sleep(Math.round(3000 * ctx.scale))
  const stopped = await rx.request<{ stoppedAt: number, received: number }>({ cmd: 'stop' })
  ctx.log(`receiver stopped with ${stopped.received.toLocaleString('en-US')} records received`)
  await sleep(downMs)
  const up = await rx.request<{ port: number, startedAt: number }>({ cmd: 'start' })
  if (up.port !== rx.port) throw new Error(`receiver came back on ${up.port}, not ${rx.port}`)
  const before = await sender.progress()
  ctx.log(`receiver back on port ${up.port} after ${s(up.startedAt - stopped.stoppedAt)} s; ${sumSent(before).toLocaleString('en-US')} records sent by then`)
  const recovered = await until(async () => await missing(rx, before) === 0, 60_000)
  if (recovered !== undefined) { row.recoverMs = recovered - up.startedAt; row.recoverWhat = '(receiver back → all records sent so far downstream)' }
  const res = await sender.result()
  ctx.log(`sender: ${res.summary}`)
  fill(row, await finalTally(rx, res.sent), res.sent)
  row.peakRss = sc.peakRss
  row.notes.push(`downstream down ${s(up.startedAt - stopped.stoppedAt)} s; sidecar retry backoff at its defaults (retry_initial 500 ms, doubling, retry_max 30 s)`)
  return row
}

/**
 * 5: hostile input while a well-behaved sender streams: 300 raw connections
 * send mutated real captures, random bytes, depth and gzip bombs and the
 * reproductions of crashes the fuzz test found (test/helpers/fuzz.ts makes
 * them), whole, split or slowly. The good sender's records must all arrive.
 */
async function abuse (ctx: Ctx): Promise<Row> {
  const row: Row = { id: '5', title: 'fuzz and abuse: 300 hostile connections beside a good sender', notes: [] }
  const fz = await import('../../test/helpers/fuzz.js')
  const net = await import('node:net')
  const rx = await startReceiver()
  const port = await freePort()
  const sc = new SidecarProcess(ctx.dir, 's5', port, passThrough(port, rx.port))
  await sc.start()
  const loadMs = Math.round(12_000 * ctx.scale)
  const r = role('window-senders', { port, tag: 'soak.app', senders: 1, sidPrefix: 'g', perMessage: 100, window: 16, rate: 20_000, durationMs: loadMs, ackTimeoutMs: 60_000, drainMs: 60_000, lines: 20_000 })
  await r.next()
  const sender = windowSender(r)
  const corpus = fz.loadCorpus()
  const maxFrame = 6 * 1024 * 1024
  let sent = 0
  let bytes = 0
  const hostile = Array.from({ length: 300 }, (_, i) => {
    const rng = fz.forInput(2026, i)
    const kind = i % 5
    const input = kind === 0 ? fz.mutate(rng, corpus, maxFrame).bytes
      : kind === 1 ? fz.randomBytes(rng)
        : kind === 2 ? fz.gzipFrame(rng, corpus, maxFrame).bytes
          : kind === 3 ? fz.depthBomb(2000 + (i % 7) * 500, (['record', 'entries', 'packed'] as const)[i % 3], i % 2 === 0 ? 'array' : 'map')
            : fz.dagFrame(20 + (i % 10))
    return { input, slow: i % 7 === 0 }
  })
  const storm = (async () => {
    for (const h of hostile) {
      await sleep(Math.round(loadMs * 0.6 / hostile.length))
      const sock = net.connect({ host: '127.0.0.1', port })
      sock.on('error', () => {})
      sent++
      bytes += h.input.length
      if (!h.slow) { sock.end(h.input); continue }
      void (async () => { for (let k = 0; k < h.input.length; k += 64) { sock.write(h.input.subarray(k, k + 64)); await sleep(20) } sock.end() })()
    }
  })()
  await storm
  const res = await sender.result()
  ctx.log(`sender: ${res.summary}`)
  fill(row, await finalTally(rx, res.sent), res.sent)
  row.peakRss = sc.peakRss
  const alive = sc.exitCode === undefined
  await sc.stop()
  row.notes.push(`${sent} hostile connections (${(bytes / 1024).toFixed(0)} KiB: mutated captures, random bytes, gzip bombs, nesting bombs, structured-clone DAGs; 1 in 7 trickled); sidecar ${alive ? 'still running' : `EXITED (${String(sc.exitCode)})`}`)
  if (!alive) row.failed = 'the sidecar exited under hostile input'
  return row
}

export interface Scenario { id: string, title: string, run: (ctx: Ctx) => Promise<Row> }

export const SCENARIOS: Scenario[] = [
  { id: '1a', title: 'kill -9 mid-stream, @fluent-org/logger (ack, retry)', run: async ctx => await crash(ctx, '1a', 'kill -9 mid-stream, @fluent-org/logger (ack, retry)', 'fluent-org') },
  {
    id: '1b',
    title: 'kill -9 mid-stream, python3-fluent-logger + resend',
    run: async ctx => {
      if (!hasPythonFluentLogger()) throw new Error('python3-fluent-logger (Debian) not installed: apt-get install python3-fluent-logger')
      return await crash(ctx, '1b', 'kill -9 mid-stream, python3-fluent-logger + resend', 'python')
    },
  },
  { id: '2', title: 'downstream down ~5 s, then back', run: outage },
  { id: '3', title: '~10x sustainable load, max_pending_records 50,000', run: overload },
  { id: '4', title: 'adapter reload every 200 ms while scoring HDFS', run: adapterSwaps },
  { id: '5', title: 'fuzz and abuse: 300 hostile connections beside a good sender', run: abuse },
]
