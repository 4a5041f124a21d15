/**
 * Chains the stages to the sink and counts events in flight for backpressure.
 * `submit` returns the chunk's acknowledgement handle; the input pauses while
 * `full`, and resumes on 'drain' (once in-flight falls to the low-water mark,
 * half the limit, so sockets do not flap).
 *
 * Without a disk buffer a chunk is acknowledged when all its records are
 * durable downstream. With one (plugin/buffer/), it is acknowledged once
 * appended to the buffer; its records still flow through the stages from
 * memory, and each settled record is marked consumed in its segment. At
 * start, `replay` feeds what an earlier run left in the buffer through the
 * same path. A failed buffer write falls back to acking on delivery.
 */
import { EventEmitter, once } from 'node:events'
import type { Entry } from '../forward/protocol.js'
import type { DiskBuffer, Segment } from '../buffer/disk-buffer.js'
import { Receipt } from './receipt.js'
import type { LogEvent, Sink, Stage } from './stage.js'

export interface PipelineOptions {
  maxPending: number
  /** Acknowledge chunks once they are on disk here (and replay them after a crash). */
  buffer?: DiskBuffer
  /** Resident memory (bytes, sampled every 250 ms) above which the input stops reading; 0 or absent: no limit. */
  maxMemory?: number
  /** How memory is read (tests): default process.memoryUsage.rss. */
  readMemory?: () => number
}

/** Why the input stopped reading. */
export type PressureReason = 'max_pending_records' | 'buffer.max_size' | 'limits.max_memory'

/** What the input waits on before it acknowledges a chunk. */
export interface Acknowledgement { whenDone: () => Promise<void> }

export class Pipeline extends EventEmitter {
  private inflight = 0
  private wasFull = false
  private closing = false
  private rss = 0
  private readonly memoryTimer: NodeJS.Timeout | undefined
  private readonly entry: (events: LogEvent[]) => void

  constructor (private readonly stages: Stage[], private readonly sink: Sink, private readonly opts: PipelineOptions) {
    super()
    opts.buffer?.on('drain', () => this.maybeDrain())
    if ((opts.maxMemory ?? 0) > 0) {
      this.rss = (opts.readMemory ?? process.memoryUsage.rss)()
      this.memoryTimer = setInterval(() => this.sampleMemory(), 250)
      this.memoryTimer.unref()
    }
    let next: (events: LogEvent[]) => void = events => { sink.write(events) }
    for (let i = stages.length - 1; i >= 0; i--) {
      const stage = stages[i]
      const emit = next
      stage.start?.(emit)
      next = events => { stage.push(events) }
    }
    this.entry = next
  }

  /** Events accepted and not yet durable. */
  get pending (): number { return this.inflight }
  /** True while the input should stop reading: too many records in memory, the disk buffer at its size limit, or the process over its memory limit. */
  get full (): boolean { return this.pressure() !== undefined }

  /** The first limit reached, if any. */
  pressure (): PressureReason | undefined {
    if (this.inflight >= this.opts.maxPending) return 'max_pending_records'
    if (this.opts.buffer?.full === true) return 'buffer.max_size'
    if ((this.opts.maxMemory ?? 0) > 0 && this.rss >= (this.opts.maxMemory as number)) return 'limits.max_memory'
    return undefined
  }

  /** Resident memory at the last sample (0 without a memory limit). */
  get residentMemory (): number { return this.rss }

  private sampleMemory (): void {
    this.rss = (this.opts.readMemory ?? process.memoryUsage.rss)()
    const limit = this.opts.maxMemory as number
    if (this.rss >= limit) {
      this.enterFull('limits.max_memory')
    } else if (this.rss < limit * 0.9) {
      this.maybeDrain()
    }
  }

  async start (): Promise<void> { await this.sink.start?.() }

  /** Hand a chunk's entries to the first stage; the handle resolves when the chunk may be acknowledged. */
  submit (tag: string, entries: Entry[]): Acknowledgement {
    const buffer = this.opts.buffer
    if (buffer === undefined || entries.length === 0) return this.feed(tag, entries, undefined)
    let appended: { segment: Segment, index: number, durable: Promise<void> }
    try {
      appended = buffer.append(tag, entries)
    } catch {
      return this.feed(tag, entries, undefined) // buffer closed (shutting down): ack on delivery
    }
    const receipt = this.feed(tag, entries, appended.segment)
    void receipt.whenDone().then(() => buffer.delivered(appended.segment, appended.index))
    // on disk: ack now; a failed write (counted, logged by the sidecar): ack when delivered
    return { whenDone: () => appended.durable.catch(() => receipt.whenDone()) }
  }

  /**
   * Feed what an earlier run left in the disk buffer through the stages,
   * oldest first, waiting for room when full. Resolves with the number of
   * records replayed (they are acknowledged to nobody: their senders had
   * their acks when the records reached the disk).
   */
  async replay (): Promise<number> {
    const buffer = this.opts.buffer
    if (buffer === undefined) return 0
    let n = 0
    for (const chunk of buffer.recover()) {
      while (this.full && !this.closing) await this.room()
      if (this.closing) break // the rest stays on disk for the next start
      const receipt = this.feed(chunk.tag, chunk.entries, chunk.segment)
      void receipt.whenDone().then(() => buffer.delivered(chunk.segment, chunk.index))
      n += chunk.entries.length
    }
    return n
  }

  private feed (tag: string, entries: Entry[], segment: Segment | undefined): Receipt {
    const buffer = this.opts.buffer
    const receipt = new Receipt(entries.length, segment === undefined || buffer === undefined
      ? n => this.release(n)
      : n => { this.release(n); buffer.consumed(segment, n) })
    if (entries.length === 0) return receipt
    this.inflight += entries.length
    const events: LogEvent[] = new Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as LogEvent
      e.tag = tag
      e.receipt = receipt
      events[i] = e
    }
    const why = this.pressure()
    if (why !== undefined) this.enterFull(why)
    this.entry(events)
    return receipt
  }

  private room (): Promise<unknown> {
    this.enterFull(undefined) // the replay waits: no 'full' event (no sender is behind it)
    return Promise.race([once(this, 'drain'), once(this, 'closing')])
  }

  /** Note that a limit was reached, so 'drain' (ours and the buffer's) fires when there is room again; `reason`: tell the input. */
  private enterFull (reason: PressureReason | undefined): void {
    if (this.wasFull) return
    this.wasFull = true
    this.opts.buffer?.markFull()
    if (reason !== undefined) this.emit('full', this.inflight, reason)
  }

  private release (n: number): void {
    this.inflight -= n
    if (this.inflight <= this.opts.maxPending / 2) this.maybeDrain()
  }

  private maybeDrain (): void {
    if (!this.wasFull || this.inflight > this.opts.maxPending / 2 || (this.opts.buffer?.full ?? false)) return
    if ((this.opts.maxMemory ?? 0) > 0 && this.rss >= (this.opts.maxMemory as number) * 0.9) return
    this.wasFull = false
    this.emit('drain')
  }

  /** Flush every stage in order, then close the sink with what is left of the grace period. */
  async close (graceMs: number): Promise<void> {
    const t0 = Date.now()
    this.closing = true
    this.emit('closing')
    clearInterval(this.memoryTimer)
    for (const s of this.stages) await s.flush?.()
    await this.sink.close(Math.max(0, graceMs - (Date.now() - t0)))
    for (const s of this.stages) await s.close?.()
  }
}
