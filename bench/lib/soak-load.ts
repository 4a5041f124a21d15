/**
 * Soak scenarios under load: 3, ~10x the sustainable rate against a
 * max_pending_records budget (peak RSS), and 4, adapter hot swaps every 200 ms
 * while the bundled model scores real HDFS lines.
 */
import { randomBytes } from 'node:crypto'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { sleep, wallMs, type Json } from './forward-bench.js'
import { freePort, REPO, SidecarProcess } from './soak-procs.js'
import { bufferConfig, fill, finalTally, metrics, role, startReceiver, type Ctx, type Row } from './soak-parts.js'

/**
 * 512 MiB for the sidecar under overload. The README's bound is
 * max_pending_records plus one frame per connection: measured idle RSS (node +
 * tsx, ~100–150 MiB) + 50,000 records held as decoded JS objects and their
 * re-encoded output chunks (~1–2 KiB each: ≤ 100 MiB) + 16 connections ×
 * max_frame_size 6 MiB mid-frame (96 MiB), with the rest as GC headroom. A
 * sidecar that buffered instead of stopping its reads would pass it within
 * seconds at these rates (~100 MiB per 100,000 records held).
 */
export const RSS_BUDGET_MIB = 512
const MAX_PENDING = 50_000

interface SenderOut { sid: string, sent: number, acked: number, offered: number, chunksResent: number, firstSentAt: number, stoppedAt: number, lastAckAt: number, maxAckGapMs: number }

async function runSenders (opts: Json): Promise<SenderOut[]> {
  const r = role('window-senders', opts)
  await r.next()
  return (await r.request<{ senders: SenderOut[] }>({ cmd: 'result' })).senders
}

const k = (n: number): string => Math.round(n).toLocaleString('en-US')

export async function overload (ctx: Ctx): Promise<Row> {
  const row: Row = { id: '3', title: '~10x sustainable load, max_pending_records 50,000', notes: [] }
  const rx = await startReceiver()
  const port = await freePort()
  const adminPort = await freePort()
  const sc = new SidecarProcess(ctx.dir, 's3', port, {
    input: { forward: { port } },
    output: { forward: { port: rx.port } },
    admin: { port: adminPort },
    limits: { max_pending_records: MAX_PENDING },
    log: { level: 'warn' },
    ...bufferConfig(port),
  })
  await sc.start()
  const idle = sc.idleRss
  const base = { port, tag: 'soak.app', perMessage: 1000, ackTimeoutMs: 60_000, drainMs: 60_000, lines: 20_000 }
  // sustainable: one sender, 8 chunks of 1,000 unacked, as fast as acks come back
  const probe = await runSenders({ ...base, senders: 1, sidPrefix: 'probe', window: 8, rate: 0, durationMs: Math.round(3000 * ctx.scale) })
  const sustainable = probe[0].acked / ((probe[0].lastAckAt - probe[0].firstSentAt) / 1000)
  ctx.log(`sustainable pass-through (1 sender, window 8 × 1,000): ${k(sustainable)} rec/s`)
  // overload: 16 connections offer 10x that between them, each with 8 chunks of 1,000 unacked (128,000 in all: 2.6x the budget)
  const senders = 16
  const durationMs = Math.round(10_000 * ctx.scale)
  let maxPending = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      try { maxPending = Math.max(maxPending, (await metrics(adminPort)).pipeline_pending_records ?? 0) } catch { /* one missed sample */ }
      await sleep(100)
    }
  })()
  const out = await runSenders({ ...base, senders, sidPrefix: 'over', window: 8, rate: 10 * sustainable, durationMs })
  sampling = false
  await sampler
  const m = await metrics(adminPort)
  const sent = Object.fromEntries([...probe, ...out].map(x => [x.sid, x.sent]))
  fill(row, await finalTally(rx, sent), sent)
  const first = Math.min(...out.map(x => x.firstSentAt))
  const lastAck = Math.max(...out.map(x => x.lastAckAt))
  const stopped = Math.max(...out.map(x => x.stoppedAt))
  const offered = out.reduce((a, x) => a + x.offered, 0)
  const made = out.reduce((a, x) => a + x.sent, 0)
  const acked = out.reduce((a, x) => a + x.acked, 0)
  row.peakRss = sc.peakRss
  row.recoverMs = Math.max(0, lastAck - stopped)
  row.recoverWhat = '(load stops → last ack)'
  const within = row.peakRss <= RSS_BUDGET_MIB
  row.notes.push(`peak RSS ${within ? 'within' : 'OVER'} the ${RSS_BUDGET_MIB} MiB budget (idle ${k(idle)} MiB)`)
  // Reads stop once the limit is passed; frames already read are still decoded: at most about one frame per connection more.
  const bound = MAX_PENDING + senders * base.perMessage
  row.notes.push(`pending ≤ ${k(maxPending)} (limit ${k(MAX_PENDING)} + ≤ 1 frame per connection = ${k(bound)}${maxPending > bound ? ': OVER' : ''}), backpressure engaged ${m.backpressure_engaged_total ?? 0}×`)
  ctx.log(`overload: ${senders} connections offered ${k(offered / (durationMs / 1000))} rec/s (10x) for ${(durationMs / 1000).toFixed(1)} s; their windows let them send ${k(made)} of ${k(offered)}; ${k(acked)} acked: ${k(acked / ((lastAck - first) / 1000))} rec/s accepted`)
  ctx.log(`sidecar: peak RSS ${row.peakRss.toFixed(0)} MiB (idle ${idle.toFixed(0)} MiB, budget ${RSS_BUDGET_MIB} MiB), pipeline_pending_records max ${k(maxPending)} (sampled every 100 ms), backpressure engaged ${m.backpressure_engaged_total ?? 0} / released ${m.backpressure_released_total ?? 0} times`)
  return row
}

export async function adapterSwaps (ctx: Ctx): Promise<Row> {
  const row: Row = { id: '4', title: 'adapter reload every 200 ms while scoring HDFS', notes: [] }
  const rx = await startReceiver()
  const port = await freePort()
  const adminPort = await freePort()
  const token = randomBytes(24).toString('hex')
  const bundle = join(ctx.dir, 'model-s4')
  cpSync(join(REPO, 'models', 'default'), bundle, { recursive: true }) // swaps may rewrite adapter files: never the repo's copy
  // config/default.yaml's sources, with short windows so records come back within the run
  const sources = [
    { name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { mode: 'session', key_pattern: 'blk_-?\\d+', idle_timeout: 200, max_age: 20_000, max_open: 50_000 } },
    { name: 'bgl', match: '*.bgl', format: 'bgl', window: { mode: 'sliding', size: 20, idle_timeout: 200, max_age: 20_000 } },
  ]
  const sc = new SidecarProcess(ctx.dir, 's4', port, {
    input: { forward: { port } },
    output: { forward: { port: rx.port } },
    model: { bundle },
    sources,
    admin: { port: adminPort, token },
    log: { level: 'warn' },
    ...bufferConfig(port),
  })
  const startMs = await sc.start(120_000)
  ctx.log(`scoring sidecar listening ${(startMs / 1000).toFixed(1)} s after spawn (bundle copied to ${bundle})`)
  const durationMs = Math.round(10_000 * ctx.scale)
  const status: Record<string, number> = {}
  let posts = 0
  let reloading = true
  const loop = (async () => {
    while (reloading) {
      const t = wallMs()
      try {
        const res = await fetch(`http://127.0.0.1:${adminPort}/v1/adapters/hdfs/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
        await res.arrayBuffer()
        status[res.status] = (status[res.status] ?? 0) + 1
      } catch (e) { status[(e as Error).message] = (status[(e as Error).message] ?? 0) + 1 }
      posts++
      await sleep(Math.max(0, 200 - (wallMs() - t)))
    }
  })()
  // HDFS lines in file order, 12,000 rec/s offered, ack wait 60 s (above max_age 20 s)
  const out = await runSenders({ port, tag: 'soak.hdfs', senders: 1, sidPrefix: 'hdfs', perMessage: 500, window: 40, rate: 12_000, durationMs, ackTimeoutMs: 60_000, drainMs: 60_000, lines: 250_000 })
  reloading = false
  await loop
  const sent = Object.fromEntries(out.map(x => [x.sid, x.sent]))
  const t = await finalTally(rx, sent)
  fill(row, t, sent)
  const m = await metrics(adminPort)
  row.peakRss = sc.peakRss
  const swaps = status['200'] ?? 0
  row.notes.push(`${swaps} swaps (of ${posts} reloads), ${k(t.withoutMap)} records without an anomaly map, ${k(t.windows)} windows scored`)
  if (t.withoutMap > 0) row.notes.push('UNSCORED RECORDS')
  const statuses = Object.entries(status).map(([s, n]) => `${s}: ${n}`).join(', ')
  ctx.log(`reloads: ${posts} POSTs (${statuses}); sidecar adapter_swaps_total ${m.adapter_swaps_total ?? 0}, adapter_load_failures_total ${m.adapter_load_failures_total ?? 0}`)
  ctx.log(`scoring: ${k(t.windows)} distinct windows in the records received (sidecar windows_scored_total ${k(m.windows_scored_total ?? 0)}), ${k(t.summaries)} anomaly summaries; records without an anomaly map ${k(t.withoutMap)}; sidecar records_unscored_total ${m.records_unscored_total ?? 0}, scoring_errors_total ${m.scoring_errors_total ?? 0}`)
  const o = out[0]
  ctx.log(`sender: ${k(o.sent)} sent of ${k(o.offered)} offered at 12,000 rec/s, ${k(o.acked)} acked, chunks resent ${o.chunksResent}, longest wait for an ack ${(o.maxAckGapMs / 1000).toFixed(1)} s`)
  return row
}
