/**
 * A Forward sender that behaves like Fluent Bit's out_forward with
 * Require_ack_response: at most `window` chunks unacked; a chunk not acked
 * within `ackTimeoutMs`, or unacked when the connection drops, is resent with
 * the same chunk id on a new connection (reconnect backoff 100 ms → 1 s), until
 * it is acked. Every record carries `{sid, seq}` so the receiver can count it.
 *
 *   schedule (rate, or as fast as the window allows) ─▶ chunk [tag, entries, {chunk, size}]
 *        ▲                                                  │
 *        └── ack frees a window slot ◀── {"ack": id} ───────┘   close / timeout ─▶ reconnect, resend all unacked
 */
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { decode, encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { wallMs } from './forward-bench.js'

export interface WindowSenderOptions {
  port: number
  tag: string
  /** Sender id carried in every record (`sid`); `seq` counts from 0. */
  sid: string
  /** Log lines (`log` field), cycled. */
  lines: readonly string[]
  perMessage: number
  /** Unacked chunks at most. */
  window: number
  /** Records/s offered (chunks are due on this schedule, sent when the window has room); 0: as fast as the window allows. */
  rate: number
  /** Stop making new records after this long (ms). */
  durationMs: number
  ackTimeoutMs: number
  /** After durationMs, wait at most this long for the last acks. */
  drainMs: number
}

export interface WindowSenderResult {
  sid: string
  /** Records made and sent at least once (ids 0 … sent-1). */
  sent: number
  acked: number
  /** Records the schedule asked for (rate × duration); above `sent` when the window held the sender back (the rest is never made). */
  offered: number
  chunksResent: number
  reconnects: number
  /** Longest time without an ack while chunks were unacked (ms). */
  maxAckGapMs: number
  firstSentAt: number
  /** When the schedule stopped, and when the last ack came. */
  stoppedAt: number
  lastAckAt: number
}

interface Pending { frame: Buffer, records: number, sentAt: number }

export class WindowSender {
  sent = 0
  acked = 0
  private readonly unacked = new Map<string, Pending>()
  private sock: net.Socket | undefined
  private connected = false
  private closed = false
  private backoff = 100
  private messages = 0
  private line = 0
  private chunksResent = 0
  private reconnects = -1
  private maxAckGapMs = 0
  private t0 = 0
  private end = 0
  private lastProgressAt = 0
  private lastAckAt = 0

  constructor (private readonly o: WindowSenderOptions) {}

  async run (): Promise<WindowSenderResult> {
    const o = this.o
    this.t0 = this.lastProgressAt = this.lastAckAt = wallMs()
    this.end = this.t0 + o.durationMs
    this.connect()
    await new Promise<void>(resolve => {
      const tick = (): void => {
        const now = wallMs()
        if (this.unacked.size === 0) this.lastProgressAt = now
        else this.maxAckGapMs = Math.max(this.maxAckGapMs, now - this.lastProgressAt)
        // Like out_forward on its io timeout: drop the connection, resend everything unacked on a new one.
        if (this.connected && now - this.oldestSentAt() > o.ackTimeoutMs) this.sock?.destroy()
        this.fill()
        if ((now >= this.end && this.unacked.size === 0) || now >= this.end + o.drainMs) { resolve(); return }
        setTimeout(tick, 5)
      }
      tick()
    })
    this.closed = true
    this.sock?.destroy()
    const offered = o.rate === 0 ? this.sent : Math.floor(o.durationMs * o.rate / 1000 / o.perMessage) * o.perMessage
    return { sid: o.sid, sent: this.sent, acked: this.acked, offered, chunksResent: this.chunksResent, reconnects: Math.max(0, this.reconnects), maxAckGapMs: this.maxAckGapMs, firstSentAt: this.t0, stoppedAt: this.end, lastAckAt: this.lastAckAt }
  }

  private oldestSentAt (): number {
    let t = Infinity
    for (const p of this.unacked.values()) t = Math.min(t, p.sentAt)
    return t
  }

  /**
   * Chunks due by now: on the rate's schedule, or (rate 0) any while the run
   * lasts. None after the end: what the window held back by then is not made
   * (offered, never sent), so a run lasts its duration plus the last acks.
   */
  private due (now: number): number {
    const o = this.o
    if (now >= this.end) return this.messages
    if (o.rate === 0) return Infinity
    return Math.floor((now - this.t0) * o.rate / 1000 / o.perMessage)
  }

  /** Make and send chunks while they are due and the window has room. */
  private fill (): void {
    const o = this.o
    const now = wallMs()
    const due = this.due(now)
    while (this.connected && this.unacked.size < o.window && this.messages < due) {
      const sec = Math.floor(now / 1000)
      const entries = new Array(o.perMessage)
      for (let i = 0; i < o.perMessage; i++) entries[i] = [new EventTime(sec, i), { log: o.lines[this.line++ % o.lines.length], sid: o.sid, seq: this.sent + i }]
      const id = randomBytes(16).toString('base64')
      const frame = encode([o.tag, entries, { chunk: id, size: o.perMessage }])
      this.unacked.set(id, { frame, records: o.perMessage, sentAt: now })
      this.sent += o.perMessage
      this.messages++
      this.sock?.write(frame)
    }
  }

  private connect (): void {
    if (this.closed) return
    this.reconnects++
    const sock = net.connect({ host: '127.0.0.1', port: this.o.port })
    this.sock = sock
    sock.setNoDelay(true)
    const frames = new FrameDecoder(1 << 20)
    sock.on('connect', () => {
      this.connected = true
      this.backoff = 100
      const now = wallMs()
      for (const p of this.unacked.values()) { p.sentAt = now; sock.write(p.frame); this.chunksResent++ }
      this.fill()
    })
    sock.on('data', data => {
      frames.push(data)
      for (let r = frames.next(); r.kind === 'frame'; r = frames.next()) {
        const id = (decode(r.bytes) as { ack?: unknown } | null)?.ack
        if (typeof id !== 'string') continue
        const p = this.unacked.get(id)
        if (p === undefined) continue // the ack of an attempt already resent
        this.unacked.delete(id)
        this.acked += p.records
        const now = wallMs()
        this.maxAckGapMs = Math.max(this.maxAckGapMs, now - this.lastProgressAt)
        this.lastProgressAt = this.lastAckAt = now
      }
      this.fill()
    })
    sock.on('error', () => {})
    sock.on('close', () => {
      if (this.sock !== sock) return
      this.connected = false
      this.sock = undefined
      if (this.closed) return
      setTimeout(() => this.connect(), this.backoff)
      this.backoff = Math.min(1000, this.backoff * 2)
    })
  }
}
