/**
 * A Receipt follows the events of one upstream chunk through the pipeline.
 * Stages may split, hold and reorder events; each event is settled exactly
 * once, by the sink, when it is durable (acknowledged downstream). When the
 * last one settles, the receipt resolves and the server writes the ack.
 */
export class Receipt {
  private remaining: number
  private readonly onDone: Array<() => void> = []
  private readonly onSettle: ((n: number) => void) | undefined

  constructor (count: number, onSettle?: (n: number) => void) {
    this.remaining = count
    this.onSettle = onSettle
  }

  get pending (): number { return this.remaining }
  get done (): boolean { return this.remaining === 0 }

  /** Mark `n` of this receipt's events durable. */
  settle (n = 1): void {
    if (n <= 0) return
    if (n > this.remaining) throw new RangeError(`receipt settled ${n} events but only ${this.remaining} were pending`)
    this.remaining -= n
    this.onSettle?.(n)
    if (this.remaining === 0) for (const f of this.onDone.splice(0)) f()
  }

  /** Resolves when every event is durable (immediately for an empty chunk). */
  whenDone (): Promise<void> {
    if (this.remaining === 0) return Promise.resolve()
    return new Promise(resolve => this.onDone.push(resolve))
  }
}
