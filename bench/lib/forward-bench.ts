/**
 * What the multi-process Forward benchmarks share: a bench role run as its
 * own process (one JSON line per answer), a Forward sender that waits for
 * every chunk's ack, and the clock and percentiles they report with.
 *
 *   orchestrator ──spawn──▶ role process (receiver / sidecar / sender)
 *        │  stdin: {"cmd": ...}\n          stdout: {...}\n (the first line unasked: "ready, port N")
 *        ▼
 *   RoleProcess.next() / request()
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { createInterface } from 'node:readline'
import { decode, encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { EventTime } from '../../plugin/forward/event-time.js'

/** Wall-clock ms with sub-ms resolution; comparable between processes on one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now()

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A bench role in a child process (`node --import tsx script ...args`); stderr is inherited. */
export class RoleProcess {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  private readonly lines: string[] = []
  private readonly waiters: Array<{ resolve: (l: string) => void, reject: (e: Error) => void }> = []
  private exitCode: number | null | undefined

  constructor (script: string, args: string[], nodeArgs: string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout! }).on('line', line => {
      // the sidecar's own log lines (pino JSON on stdout) are not answers: show them, do not hand them out
      if (line.startsWith('{"level":')) { process.stderr.write(`[${args[0]}] ${line}\n`); return }
      const w = this.waiters.shift()
      if (w !== undefined) w.resolve(line)
      else this.lines.push(line)
    })
    this.exited = new Promise(resolve => this.child.once('exit', code => {
      this.exitCode = code
      for (const w of this.waiters.splice(0)) w.reject(new Error(`bench role ${args[0]} exited (${code}) before answering`))
      resolve(code)
    }))
  }

  /** The next JSON line the role writes. */
  async next<T = Json> (): Promise<T> {
    const ready = this.lines.shift()
    if (ready !== undefined) return JSON.parse(ready) as T
    if (this.exitCode !== undefined) throw new Error(`bench role exited (${this.exitCode})`)
    return JSON.parse(await new Promise<string>((resolve, reject) => this.waiters.push({ resolve, reject }))) as T
  }

  request<T = Json> (cmd: Json): Promise<T> {
    this.child.stdin?.write(JSON.stringify(cmd) + '\n')
    return this.next<T>()
  }

  kill (): void { if (this.exitCode === undefined) this.child.kill('SIGTERM') }
}

/** Role side: write one JSON line for the orchestrator. */
export const answer = (value: Json): void => { process.stdout.write(JSON.stringify(value) + '\n') }

/** Role side: answer each JSON command line on stdin with one JSON line. */
export function serveCommands (handle: (cmd: Json) => Json | Promise<Json>): void {
  createInterface({ input: process.stdin }).on('line', line => {
    Promise.resolve(handle(JSON.parse(line) as Json)).then(answer, (err: Error) => answer({ error: err.message }))
  })
}

export interface SendOptions {
  port: number
  tag: string
  /** Log lines, cycled. */
  lines: readonly string[]
  perMessage: number
  /** Messages to send; every one must be acked. */
  messages: number
  /** Unacked chunks at most (closed loop; ignored when `rate` is set). */
  window: number
  /** Records/s: send on a fixed schedule whatever the acks do (open loop). 0: as fast as `window` allows. */
  rate: number
}

export interface SendResult {
  records: number
  /** wallMs() of the first send and of the last ack. */
  firstSentAt: number
  lastAckAt: number
  /** Open loop: how far behind its schedule the sender sent, at worst (ms). */
  maxLagMs: number
}

/** A sender's connection to a Forward input on loopback (no Nagle), and a decoder for the acks it reads. */
export async function openSender (port: number): Promise<{ sock: net.Socket, frames: FrameDecoder }> {
  const sock = net.connect({ host: '127.0.0.1', port })
  sock.setNoDelay(true)
  await new Promise(resolve => sock.once('connect', resolve))
  return { sock, frames: new FrameDecoder(1 << 20) }
}

/**
 * Sends `messages` Forward messages [tag, entries, {chunk, size}] of
 * `perMessage` records `{log, bench_t}` and resolves when all are acked.
 * bench_t (wallMs) is the send time, or the scheduled time with `rate`, so a
 * sender that falls behind still charges the delay to the system under test.
 */
export async function sendRecords (o: SendOptions): Promise<SendResult> {
  const { sock, frames } = await openSender(o.port)
  let sent = 0
  let acked = 0
  let line = 0
  let maxLagMs = 0
  const firstSentAt = wallMs()
  const send = (benchT: number): void => {
    const sec = Math.floor(benchT / 1000)
    const entries = new Array(o.perMessage)
    for (let i = 0; i < o.perMessage; i++) entries[i] = [new EventTime(sec, i), { log: o.lines[line++ % o.lines.length], bench_t: benchT }]
    sock.write(encode([o.tag, entries, { chunk: randomBytes(16).toString('base64'), size: o.perMessage }]))
    sent++
  }
  let lastAckAt = firstSentAt
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject)
    sock.on('close', () => reject(new Error(`connection closed with ${o.messages - acked} chunks unacked`)))
    sock.on('data', data => {
      frames.push(data)
      for (let r = frames.next(); r.kind === 'frame'; r = frames.next()) {
        if (typeof (decode(r.bytes) as { ack?: unknown }).ack !== 'string') continue
        acked++
        if (o.rate === 0 && sent < o.messages) send(wallMs())
        if (acked === o.messages) { lastAckAt = wallMs(); resolve() }
      }
    })
    if (o.rate === 0) {
      for (let i = 0; i < Math.min(o.window, o.messages); i++) send(wallMs())
      return
    }
    const interval = 1000 * o.perMessage / o.rate
    const tick = (): void => {
      const now = wallMs()
      for (let due = firstSentAt + sent * interval; sent < o.messages && due <= now; due = firstSentAt + sent * interval) {
        maxLagMs = Math.max(maxLagMs, now - due)
        send(due)
      }
      if (sent < o.messages) setTimeout(tick, Math.max(0, firstSentAt + sent * interval - wallMs()))
    }
    tick()
  })
  sock.removeAllListeners('close')
  sock.destroy()
  return { records: o.messages * o.perMessage, firstSentAt, lastAckAt, maxLagMs }
}

/** Nearest-rank quantiles of `values` (sorted in place). */
export function quantiles (values: Float64Array, qs: readonly number[]): number[] {
  values.sort()
  return qs.map(q => values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)])
}

/** A growable Float64Array: one number per record without a million-element JS array. */
export class Samples {
  private buf = new Float64Array(1 << 16)
  length = 0
  push (v: number): void {
    if (this.length === this.buf.length) { const b = new Float64Array(this.buf.length * 2); b.set(this.buf); this.buf = b }
    this.buf[this.length++] = v
  }

  values (): Float64Array { return this.buf.subarray(0, this.length) }
  clear (): void { this.length = 0 }
}
