/**
 * Counters and a latency histogram for the admin /metrics endpoint (the
 * bucket layout is Prometheus': `le` upper bounds, cumulative counts).
 */
import type { PoolErrorCode } from './errors.js'
import type { ExecutionProvider } from './task.js'

/** Batch latency bounds in ms: dispatch to result, queue wait excluded. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const

/** One scored batch, as the pool's 'batch' event reports it (plugin/metrics/ turns these into histograms). */
export interface BatchTiming {
  source: string
  /** Windows in the batch. */
  windows: number
  /** How long its oldest window waited in the queue before the batch was handed to a worker. */
  queuedMs: number
  /** Handed to a worker → scores back (what `batchLatencyMs` records). */
  runMs: number
}

export interface Histogram {
  /** Upper bounds (ms); the last count (`+Inf`) is `count`. */
  le: readonly number[]
  /** Cumulative: observations ≤ le[i]. */
  cumulative: number[]
  count: number
  sum: number
}

export interface PoolStats {
  executionProvider: {
    requested: ExecutionProvider
    /** What the workers run; null until the first worker has built its session. */
    running: ExecutionProvider | null
    /** Why the requested provider did not start (POOL_EP_FALLBACK), else null. */
    fallback: string | null
  }
  threads: number
  ortThreads: number
  /** Worker threads alive now (0 after close()). */
  threadsAlive: number
  /** Niceness of each worker that has reported (option workerNice; null where it could not be read). */
  workerNice: Array<number | null>
  /** ORT runs that returned scores. */
  batches: number
  /** Windows scored (resolved). */
  windows: number
  /** Windows waiting for a batch (what maxQueue bounds). */
  queued: number
  /** Batches running in workers now. */
  inFlight: number
  full: boolean
  /** Adapter versions held (latest per source + any still used by queued windows). */
  versions: number
  /** Copies of a version's tensors into a worker (one per worker per version, again after eviction). */
  tensorLoads: number
  batchLatencyMs: Histogram
  /** Windows per ORT run. */
  batchSize: Histogram
  /** Rejections by code (a fallback counts once per worker). */
  errors: Partial<Record<PoolErrorCode, number>>
}

export class HistogramRecorder {
  readonly le: readonly number[]
  readonly #counts: number[]
  #count = 0
  #sum = 0
  constructor (le: readonly number[]) {
    this.le = le
    this.#counts = le.map(() => 0)
  }

  observe (v: number): void {
    this.#count++
    this.#sum += v
    const i = this.le.findIndex(b => v <= b)
    if (i >= 0) this.#counts[i]++
  }

  snapshot (): Histogram {
    let acc = 0
    return { le: this.le, cumulative: this.#counts.map(c => (acc += c)), count: this.#count, sum: this.#sum }
  }
}
