/**
 * Chains the stages to the sink and counts events in flight for backpressure.
 * `submit` returns the chunk's Receipt; the input pauses while `full`, and
 * resumes on 'drain' (once in-flight falls to the low-water mark, half the
 * limit, so sockets do not flap).
 */
import { EventEmitter } from 'node:events'
import type { Entry } from '../forward/protocol.js'
import { Receipt } from './receipt.js'
import type { LogEvent, Sink, Stage } from './stage.js'

export interface PipelineOptions { maxPending: number }

export class Pipeline extends EventEmitter {
  private inflight = 0
  private wasFull = false
  private readonly entry: (events: LogEvent[]) => void

  constructor (private readonly stages: Stage[], private readonly sink: Sink, private readonly opts: PipelineOptions) {
    super()
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
  /** True while the input should stop reading. */
  get full (): boolean { return this.inflight >= this.opts.maxPending }

  async start (): Promise<void> { await this.sink.start?.() }

  /** Hand a chunk's entries to the first stage. The receipt resolves when all are durable. */
  submit (tag: string, entries: Entry[]): Receipt {
    const receipt = new Receipt(entries.length, n => this.release(n))
    if (entries.length === 0) return receipt
    this.inflight += entries.length
    const events: LogEvent[] = new Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as LogEvent
      e.tag = tag
      e.receipt = receipt
      events[i] = e
    }
    if (this.full && !this.wasFull) { this.wasFull = true; this.emit('full', this.inflight) }
    this.entry(events)
    return receipt
  }

  private release (n: number): void {
    this.inflight -= n
    if (this.wasFull && this.inflight <= this.opts.maxPending / 2) {
      this.wasFull = false
      this.emit('drain')
    }
  }

  /** Flush every stage in order, then close the sink with what is left of the grace period. */
  async close (graceMs: number): Promise<void> {
    const t0 = Date.now()
    for (const s of this.stages) await s.flush?.()
    await this.sink.close(Math.max(0, graceMs - (Date.now() - t0)))
    for (const s of this.stages) await s.close?.()
  }
}
