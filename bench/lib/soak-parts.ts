/**
 * What the soak scenarios share: their report row, the receiver and sender
 * processes, polling, and the sidecar's Prometheus counters.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { RoleProcess, sleep, wallMs, type Json } from './forward-bench.js'
import type { Tally } from './soak-ledger.js'
import { REPO, track } from './soak-procs.js'

export interface Ctx { dir: string, scale: number, log: (line: string) => void }

export interface Row {
  id: string
  title: string
  sent?: number
  received?: number
  duplicated?: number
  lost?: number
  peakRss?: number
  recoverMs?: number
  /** What the recovery time measures, e.g. "kill → all pre-kill records downstream". */
  recoverWhat?: string
  notes: string[]
  failed?: string
}

const ROLES = fileURLToPath(new URL('./soak-roles.ts', import.meta.url))

/** A soak role process (bench/lib/soak-roles.ts), killed with the run. */
export function role (name: string, opts: Json): RoleProcess {
  const r = new RoleProcess(ROLES, [name, JSON.stringify(opts)])
  track(r.child)
  return r
}

export type Receiver = RoleProcess & { port: number }

export async function startReceiver (port = 0): Promise<Receiver> {
  const r = role('receiver', { port, field: 'anomaly' })
  const { port: p } = await r.next<{ port: number }>()
  return Object.assign(r, { port: p })
}

export type TallyReply = Tally & { withoutMap: number, summaries: number, windows: number, lastAt: number }

/** Ids the receiver has not seen among `sent` (sid → count). */
export async function missing (rx: RoleProcess, sent: Record<string, number>): Promise<number> {
  return (await rx.request<{ missing: number }>({ cmd: 'missing', sent })).missing
}

/** Polls `cond` every `everyMs` until true (resolves with the wallMs it became true) or `timeoutMs` passes (undefined). */
export async function until (cond: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<number | undefined> {
  const deadline = wallMs() + timeoutMs
  for (;;) {
    if (await cond()) return wallMs()
    if (wallMs() > deadline) return undefined
    await sleep(everyMs)
  }
}

/** After the senders finished: wait (bounded) until every id they sent is downstream, then count. */
export async function finalTally (rx: RoleProcess, sent: Record<string, number>, waitMs = 10_000): Promise<TallyReply> {
  await until(async () => await missing(rx, sent) === 0, waitMs, 200)
  return await rx.request<TallyReply>({ cmd: 'tally', sent })
}

export const sumSent = (sent: Record<string, number>): number => Object.values(sent).reduce((a, b) => a + b, 0)

/** Copy a tally into a row. */
export function fill (row: Row, t: TallyReply, sent: Record<string, number>): Row {
  row.sent = sumSent(sent)
  row.received = t.received
  row.duplicated = t.duplicated
  row.lost = t.lost
  if (t.lost > 0) row.notes.push(`lost e.g. ${t.lostExamples.join(', ')}`)
  if (t.unexpected > 0) row.notes.push(`${t.unexpected} records with ids no sender reported`)
  return row
}

/** The sidecar's counters from GET /metrics, summed over labels (name without the fluent_anomaly_ prefix). */
export async function metrics (adminPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^fluent_anomaly_([a-z0-9_]+)(?:\{[^}]*\})? (\S+)$/.exec(line)
    if (m !== null) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2])
  }
  return out
}

export function hasPythonFluentLogger (): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import fluent.sender, msgpack'], { stdio: 'ignore' }).status === 0
}

export interface PyResult { sent: number, acked: number, resent: number, reconnects: number, max_ack_gap_ms: number, unacked: number }

/** bench/lib/py-ack-sender.py as a child: SIGUSR1 asks how many ids it sent so far; its last line is the result. */
export class PySender {
  readonly child: ChildProcess
  private readonly lines: string[] = []
  private readonly waiters: Array<(l: string) => void> = []
  readonly exited: Promise<number | null>

  constructor (port: number, seconds: number, window: number, ackTimeoutS: number, readonly sid: string) {
    const script = fileURLToPath(new URL('./py-ack-sender.py', import.meta.url))
    this.child = track(spawn('/usr/bin/python3', [script, '127.0.0.1', String(port), String(seconds), String(window), String(ackTimeoutS), sid], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] }))
    createInterface({ input: this.child.stdout! }).on('line', l => { const w = this.waiters.shift(); if (w !== undefined) w(l); else this.lines.push(l) })
    this.exited = new Promise(resolve => this.child.once('close', code => resolve(code))) // 'close': after stdout is read to the end
  }

  private async line (): Promise<string> {
    const l = this.lines.shift()
    if (l !== undefined) return l
    return await new Promise(resolve => this.waiters.push(resolve))
  }

  /** Resolves once its SIGUSR1 handler is in place. */
  async ready (): Promise<void> { await this.line() }

  async progress (): Promise<Record<string, number>> {
    this.child.kill('SIGUSR1')
    return { [this.sid]: (JSON.parse(await this.line()) as { sent: number }).sent }
  }

  async result (): Promise<PyResult> {
    const code = await this.exited
    let last: string | undefined
    for (let l = this.lines.shift(); l !== undefined; l = this.lines.shift()) last = l
    if (code !== 0 || last === undefined) throw new Error(`py-ack-sender.py exited with ${code}`)
    return JSON.parse(last) as PyResult
  }
}

/**
 * `--buffer` (SOAK_BUFFER=1): the disk buffer on, as in config/default.yaml; one folder per
 * sidecar port beside its config, so a restarted sidecar replays what its predecessor left.
 */
export function bufferConfig (port: number): Json {
  return process.env.SOAK_BUFFER === '1' ? { buffer: { enabled: true, path: `buffer-${port}` } } : {}
}
