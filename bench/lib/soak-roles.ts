/**
 * The soak's helper processes (bench/soak.ts starts them with RoleProcess; one
 * JSON line per command on stdin, the first line unasked):
 *
 *   receiver        a Forward server that acks every record at once and counts ids (IdLedger);
 *                   stop / start again on the same port (downstream outage)
 *   window-senders  N WindowSenders (out_forward-like: window, ack timeout, resend same chunk id)
 *   fluent-org      @fluent-org/logger's FluentClient with ack, event retry and reconnect
 *
 *   node --import tsx bench/lib/soak-roles.ts ROLE '<json options>'
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FluentClient, FluentSocketEvent, EventTime as LoggerEventTime } from '@fluent-org/logger'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { ForwardServer } from '../../plugin/forward/server.js'
import { Pipeline } from '../../plugin/pipeline/pipeline.js'
import type { LogEvent, Sink } from '../../plugin/pipeline/stage.js'
import { DATASETS } from './datasets.js'
import { answer, serveCommands, sleep, wallMs, type Json } from './forward-bench.js'
import { IdLedger } from './soak-ledger.js'
import { WindowSender, type WindowSenderOptions, type WindowSenderResult } from './soak-sender.js'

const HDFS = join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log')

/** HDFS lines, in file order (the first `max`). */
function hdfsLines (max: number): string[] {
  return readFileSync(HDFS, 'utf8').split('\n', max).filter(Boolean)
}

/**
 * Receiver: counts every record by {sid, seq}; records re-emitted by a scoring
 * sidecar are also checked for the anomaly map (`field`) and their window id.
 */
async function receiver (o: { port: number, field: string }): Promise<void> {
  const fresh = () => ({ ledger: new IdLedger(), withoutMap: 0, summaries: 0, windows: new Set<unknown>(), lastAt: 0 })
  let s = fresh()
  const sink: Sink = {
    pending: 0,
    write (events: LogEvent[]) {
      for (const e of events) {
        const r = e.record
        if (e.tag.endsWith('anomaly.summary')) s.summaries++
        else {
          s.ledger.add(r.sid, r.seq)
          const a = r[o.field] as { window_id?: unknown } | undefined
          if (a === null || typeof a !== 'object') s.withoutMap++
          else s.windows.add(a.window_id)
        }
        e.receipt.settle(1)
      }
      s.lastAt = wallMs()
    },
    async close () {},
  }
  let port = o.port
  let server: ForwardServer | undefined
  /** Listen on `port` (0 the first time: the one chosen is kept, so a restart comes back on it). */
  const start = async (): Promise<number> => {
    const cfg = parseConfig({ input: { forward: { port, max_frame_size: '64M' } } })
    server = new ForwardServer(cfg.input.forward, new Pipeline([], sink, { maxPending: 10_000_000 }), quietTelemetry())
    port = (await server.listen()).port
    return port
  }
  answer({ port: await start() })
  serveCommands(async cmd => {
    switch (cmd.cmd) {
      case 'stop': await server?.close(0); server = undefined; return { stoppedAt: wallMs(), received: s.ledger.received }
      case 'start': return { port: await start(), startedAt: wallMs() }
      case 'missing': return { missing: s.ledger.missing(cmd.sent), lastAt: s.lastAt }
      case 'reset': s = fresh(); return { ok: true }
      case 'tally': return { ...s.ledger.tally(cmd.sent), withoutMap: s.withoutMap, summaries: s.summaries, windows: s.windows.size, lastAt: s.lastAt }
      default: throw new Error(`unknown command ${String(cmd.cmd)}`)
    }
  })
}

/** N window senders at `rate` records/s in all (0: each as fast as its window allows). */
async function windowSenders (o: Omit<WindowSenderOptions, 'sid' | 'lines' | 'rate'> & { senders: number, sidPrefix: string, rate: number, lines: number }): Promise<void> {
  const lines = hdfsLines(o.lines)
  const senders = Array.from({ length: o.senders }, (_, i) => new WindowSender({ ...o, sid: `${o.sidPrefix}${i}`, lines, rate: o.rate / o.senders }))
  const done = Promise.all(senders.map(async s => await s.run()))
  answer({ ready: true })
  serveCommands(async cmd => {
    if (cmd.cmd === 'progress') return { sent: Object.fromEntries(senders.map((s, i) => [`${o.sidPrefix}${i}`, s.sent])) }
    if (cmd.cmd === 'result') return { senders: await done satisfies WindowSenderResult[] }
    throw new Error(`unknown command ${String(cmd.cmd)}`)
  })
}

/**
 * @fluent-org/logger's FluentClient (PackedForward, ack required), as an
 * application would use it to survive a restart of its receiver: `eventRetry`
 * with no attempt limit re-queues an event whose ack timed out or whose write
 * failed (as a new chunk), and the socket reconnects with backoff. At most
 * `outstanding` emits are unresolved at once.
 */
async function fluentOrg (o: { port: number, sid: string, durationMs: number, outstanding: number, ackTimeoutMs: number, drainMs: number }): Promise<void> {
  const lines = hdfsLines(20_000)
  const errors: Record<string, number> = {}
  const client = new FluentClient('soak', {
    eventMode: 'PackedForward',
    socket: { host: '127.0.0.1', port: o.port, timeout: -1, reconnect: { delay: 100, backoff: 2, minDelay: 100, maxDelay: 1000 } },
    ack: { ackTimeout: o.ackTimeoutMs },
    eventRetry: { attempts: Infinity, delay: 100, backoff: 2, maxDelay: 1000, onError: (e: Error) => { errors[e.name] = (errors[e.name] ?? 0) + 1 } },
    flushInterval: 5,
  })
  client.socketOn(FluentSocketEvent.ERROR, () => {}) // refused connects while the sidecar is down: expected, retried
  let sent = 0
  let acked = 0
  let failed = 0
  let lastProgressAt = wallMs()
  let maxAckGapMs = 0
  let lastAckAt = 0
  const t0 = wallMs()
  const inflight = new Set<Promise<void>>()
  const done = (async () => {
    while (wallMs() - t0 < o.durationMs) {
      const n = Math.min(500, o.outstanding - inflight.size)
      for (let i = 0; i < n; i++) {
        const seq = sent++
        const p: Promise<void> = client.emit('hdfs', { log: lines[seq % lines.length], sid: o.sid, seq }, new LoggerEventTime(Math.floor(Date.now() / 1000), seq % 1e9)).then(() => {
          acked++
          const now = wallMs()
          maxAckGapMs = Math.max(maxAckGapMs, now - lastProgressAt)
          lastProgressAt = lastAckAt = now
        }, (e: Error) => { failed++; errors[`gave up: ${e.name}`] = (errors[`gave up: ${e.name}`] ?? 0) + 1 }).finally(() => inflight.delete(p))
        inflight.add(p)
      }
      if (inflight.size === 0) lastProgressAt = wallMs()
      await sleep(n === 0 ? 5 : 1)
    }
    const stoppedAt = wallMs()
    await Promise.race([Promise.all(inflight), sleep(o.drainMs)])
    await Promise.race([client.shutdown().catch(() => {}), sleep(1000)])
    return { sid: o.sid, sent, acked, failed, unresolved: inflight.size, errors, maxAckGapMs, firstSentAt: t0, stoppedAt, lastAckAt }
  })()
  answer({ ready: true })
  serveCommands(async cmd => {
    if (cmd.cmd === 'progress') return { sent: { [o.sid]: sent } }
    if (cmd.cmd === 'result') return await done
    throw new Error(`unknown command ${String(cmd.cmd)}`)
  })
}

const opts = JSON.parse(process.argv[3] ?? '{}') as Json
switch (process.argv[2]) {
  case 'receiver': await receiver(opts as { port: number, field: string }); break
  case 'window-senders': await windowSenders(opts as Parameters<typeof windowSenders>[0]); break
  case 'fluent-org': await fluentOrg(opts as Parameters<typeof fluentOrg>[0]); break
  default: throw new Error(`unknown role ${String(process.argv[2])}`)
}
