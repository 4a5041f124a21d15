/**
 * The stage interface between Forward input and Forward output.
 *
 *   server ──submit──▶ stage 1 ──emit──▶ stage 2 ──emit──▶ … ──▶ sink (acks → Receipt.settle)
 *
 * A stage takes events with `push` and hands them on with the `emit` it was
 * given, now or later (a scoring stage holds events until their window is
 * scored). Backpressure is counted, not signalled per stage: the pipeline
 * knows how many events are in flight (accepted, not yet durable) and pauses
 * the input sockets above `limits.max_pending_records`.
 */
import type { Entry } from '../forward/protocol.js'
import type { Enrichment } from './enrichment.js'
import type { Receipt } from './receipt.js'

/** One log event on its way through the sidecar. */
export interface LogEvent extends Entry {
  /** The tag it arrived with (the sink rewrites it on the way out). */
  tag: string
  receipt: Receipt
  /** Fields added on the way out, as msgpack bytes; `record` stays as it arrived (see enrichment.ts, `outputRecord`). */
  enrichment?: Enrichment
}

export type Emit = (events: LogEvent[]) => void

export interface Stage {
  readonly name: string
  /** Called once before the first push. */
  start?(emit: Emit): void | Promise<void>
  /** Accept events; they must all be emitted eventually (flush bounds "eventually"). */
  push(events: LogEvent[]): void
  /** Emit everything held now (shutdown). */
  flush?(): Promise<unknown>
  /** Events held inside the stage, for metrics. */
  readonly held?: number
  close?(): Promise<void>
}

export interface Sink {
  /** Take events; settle each event's receipt once it is durable downstream. */
  write(events: LogEvent[]): void
  /** Events accepted and not yet acknowledged downstream. */
  readonly pending: number
  start?(): Promise<void>
  /** Stop: deliver what is pending within `graceMs`, then give up (events stay unacked upstream, so the sender retries). */
  close(graceMs: number): Promise<void>
}

/** The spine's only stage: hands every event on unchanged. Scoring replaces it in a later issue. */
export class PassThroughStage implements Stage {
  readonly name = 'pass-through'
  readonly held = 0
  private emit: Emit = () => { throw new Error('pass-through stage used before start()') }
  start (emit: Emit): void { this.emit = emit }
  push (events: LogEvent[]): void { this.emit(events) }
}
