/**
 * The scoring pool: windows in, anomaly scores out, on Piscina worker threads
 * that each own one ONNX Runtime session (worker.ts).
 *
 *   score(source, version, tensors, windows)
 *        │ check shapes (POOL_BAD_INPUT) · bound (POOL_QUEUE_FULL) · take a ref on source@version (versions.ts)
 *        ▼
 *   one queue per source@version ──ready: maxBatch windows, or the oldest waited maxWaitMs, or closing──┐
 *   and length class (lengthClass)                                                                     │
 *        ▲ while every thread is busy, queues keep filling: batches grow with load                     │
 *        │                                                       assemble (pad to the longest T) ◀──┘
 *   'drain' when the queue falls to maxQueue / 2 after `full`          │ moved: embeddings, mask, buckets
 *                                                                       ▼
 *                                      Piscina.run ─▶ worker: session.run (one version per run, never mixed)
 *                                                                       │ moved: score, contribution
 *   resolve each caller with its own windows' results ◀── split ◀──────┘
 *
 * At most `threads × tasksPerThread` batches are in Piscina at once (two per
 * worker by default: one running, the next already posted to it), so batching
 * happens here, where windows can still coalesce, not in Piscina's queue. See
 * README "Worker pool" for the options and the figures.
 */
import { EventEmitter } from 'node:events'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Piscina } from 'piscina'
import { assemble, split, windowLength, type ScoreWindow, type WindowScore } from './batch.js'
import { PoolError, type PoolErrorCode } from './errors.js'
import { HistogramRecorder, LATENCY_BUCKETS_MS, type BatchTiming, type PoolStats } from './stats.js'
import { EXECUTION_PROVIDERS, isBackendReport, type BackendReport, type ExecutionProvider, type ScoreReply, type ScoreTask, type SharedSourceTensors, type WorkerInit } from './task.js'
import { threadPlan, workerEntry } from './threads.js'
import { SourceVersions, versionKey, type SourceTensor } from './versions.js'

export type { FlatWindow, ScoreWindow, WindowScore } from './batch.js'
export type { SourceTensor } from './versions.js'
export type { BatchTiming, PoolStats } from './stats.js'
export type { ExecutionProvider } from './task.js'
export { threadPlan } from './threads.js'

export interface ScoringPoolOptions {
  /** The bundle's encoder.onnx (models/bundle.ts `Bundle.encoderPath`). */
  encoderPath: string
  /** D, the encoder's template vector width (manifest encoder.inputs.embeddings.shape[2]). */
  embeddingDim: number
  /** P, parameter buckets per line (manifest encoder.inputs.param_buckets.shape[2]). */
  paramsPerLine: number
  /** Worker threads, each with its own session. Default: cores / ortThreads. */
  threads?: number
  /** ONNX Runtime intra-op threads per session. Default: cores / threads, else 1. */
  ortThreads?: number
  /** 'cpu' (default), 'cuda' or 'webgpu'; one that cannot start falls back to cpu (POOL_EP_FALLBACK). */
  executionProvider?: ExecutionProvider
  /** Most windows in one ORT run (default 64). */
  maxBatch?: number
  /** Longest a window waits for others of its source@version before it runs anyway (default 2 ms). */
  maxWaitMs?: number
  /** Most windows waiting; beyond it score() rejects with POOL_QUEUE_FULL (default 4096). */
  maxQueue?: number
  /**
   * Batches handed to each thread at once (default 2): a thread that finishes
   * one starts the next at once, instead of idling until the main thread,
   * busy parsing, gets to its reply and sends another.
   */
  tasksPerThread?: number
  /**
   * How much lower than the main thread the worker threads run: niceness
   * added to the main thread's, 0 (the same) to 19 (default 10; 19 is the
   * lowest a thread can go).
   * The main thread reads the sockets, parses and acks; when both cores are
   * busy, a worker that runs at the main thread's priority takes a core from
   * it, and the input stalls while windows pile up for the workers. At nice
   * 10 the main thread gets a core first and scoring takes the rest.
   */
  workerNice?: number
}

export const POOL_DEFAULTS = { executionProvider: 'cpu', maxBatch: 64, maxWaitMs: 2, maxQueue: 4096, tasksPerThread: 2, workerNice: 10 } as const

export interface BackendInfo { requested: ExecutionProvider, running: ExecutionProvider, fallback: string | null }

export interface PoolEvents {
  /** The queue fell to maxQueue / 2 after it had been full: read again. */
  drain: []
  /** Once, when the first worker has built its session (fallback set when the asked EP could not start). */
  backend: [BackendInfo]
  /** After each batch that returned scores: its size and timings (for metrics; failed batches are counted in stats().errors). */
  batch: [BatchTiming]
}

interface Request { resolve: (r: WindowScore[]) => void, reject: (e: Error) => void, results: WindowScore[], remaining: number, done: boolean }
interface Pending { window: ScoreWindow, T: number, request: Request, index: number, at: number }
/** Windows of one source@version and one length class, waiting for a batch. `key` names the version (the workers' tensor cache); `qkey` this queue. */
interface KeyQueue { source: string, version: string, key: string, qkey: string, shared: SharedSourceTensors, items: Pending[], since: number }

/**
 * Length class of a window: 2, 4, 6, ... 16 (even), then four classes per
 * doubling: 20, 24, 28, 32, 40, 48, 56, 64, 80, ... A batch is padded to its
 * longest window, and ONNX Runtime computes the padding like real lines, so
 * mixing 4-line and 40-line sessions would cost ~3x the real lines (HDFS:
 * mean 13, max 42). Within a class the padding stays under 1.25x (one line
 * for windows of 16 lines or fewer). Coarser classes (8, 12, 16, 24, 32, 48,
 * padding up to 1.5x) cost the HDFS scoring bench 10 % of its throughput
 * (bench/RESULTS.md).
 */
export const lengthClass = (T: number): number => {
  if (T <= 16) return T + (T & 1)
  const q = 2 ** Math.floor(Math.log2(T - 1)) / 4
  return Math.ceil(T / q) * q
}

const positiveInt = (name: string, v: number): number => {
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`worker pool option ${name} must be a positive integer, got ${v}`)
  return v
}

export class ScoringPool extends EventEmitter<PoolEvents> {
  readonly #piscina: Piscina<ScoreTask, ScoreReply>
  readonly #versions = new SourceVersions()
  readonly #queues = new Map<string, KeyQueue>()
  readonly #D: number
  readonly #P: number
  readonly #threads: number
  readonly #ortThreads: number
  readonly #maxBatch: number
  readonly #maxWaitMs: number
  readonly #maxQueue: number
  /** Batches in Piscina at once: threads × tasksPerThread. */
  readonly #slots: number
  readonly #requested: ExecutionProvider
  #queued = 0
  #inFlight = 0
  #wasFull = false
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  #closing = false
  #closed: Promise<void> | undefined
  #failed: PoolError | undefined
  #reports: BackendReport[] = []
  #readyWaiters: Array<{ resolve: (b: BackendInfo) => void, reject: (e: Error) => void }> = []
  #idleWaiters: Array<() => void> = []
  #batches = 0
  #windows = 0
  #tensorLoads = 0
  readonly #latency = new HistogramRecorder(LATENCY_BUCKETS_MS)
  readonly #batchSize: HistogramRecorder
  readonly #errors: Partial<Record<PoolErrorCode, number>> = {}

  constructor (opts: ScoringPoolOptions) {
    super()
    const ep = opts.executionProvider ?? POOL_DEFAULTS.executionProvider
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(ep)) throw new TypeError(`worker pool executionProvider must be one of ${EXECUTION_PROVIDERS.join(', ')}, got ${ep}`)
    this.#requested = ep
    this.#D = positiveInt('embeddingDim', opts.embeddingDim)
    this.#P = positiveInt('paramsPerLine', opts.paramsPerLine)
    const plan = threadPlan(availableParallelism(), opts.threads, opts.ortThreads)
    this.#threads = positiveInt('threads', plan.threads)
    this.#ortThreads = positiveInt('ortThreads', plan.ortThreads)
    this.#maxBatch = positiveInt('maxBatch', opts.maxBatch ?? POOL_DEFAULTS.maxBatch)
    this.#maxWaitMs = opts.maxWaitMs ?? POOL_DEFAULTS.maxWaitMs
    if (!(this.#maxWaitMs >= 0)) throw new TypeError(`worker pool option maxWaitMs must be >= 0, got ${this.#maxWaitMs}`)
    this.#maxQueue = positiveInt('maxQueue', opts.maxQueue ?? POOL_DEFAULTS.maxQueue)
    const tasksPerThread = positiveInt('tasksPerThread', opts.tasksPerThread ?? POOL_DEFAULTS.tasksPerThread)
    this.#slots = this.#threads * tasksPerThread
    this.#batchSize = new HistogramRecorder([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].filter(b => b < this.#maxBatch).concat(this.#maxBatch))
    const nice = opts.workerNice ?? POOL_DEFAULTS.workerNice
    if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new TypeError(`worker pool option workerNice must be an integer from 0 to 19, got ${nice}`)
    const workerData: WorkerInit = { encoderPath: opts.encoderPath, executionProvider: ep, ortThreads: this.#ortThreads, embeddingDim: this.#D, paramsPerLine: this.#P, nice }
    this.#piscina = new Piscina({
      ...workerEntry(),
      minThreads: this.#threads,
      maxThreads: this.#threads,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: tasksPerThread,
      workerData,
    })
    this.#piscina.on('message', (m: unknown) => { if (isBackendReport(m)) this.#onBackend(m) })
  }

  /** Windows waiting for a batch. */
  get queued (): number { return this.#queued }
  /** No room left: the next score() would reject with POOL_QUEUE_FULL. Wait for 'drain'. */
  get full (): boolean { return this.#queued >= this.#maxQueue }
  /** Most windows waiting at once (maxQueue). */
  get maxQueue (): number { return this.#maxQueue }

  /**
   * Resolves once `n` more windows fit in the queue: at once when they do,
   * else on a 'drain' that leaves room (or when the pool closes, so the
   * caller's score() fails with POOL_CLOSED instead of waiting forever).
   * `n` must be at most ceil(maxQueue / 2), the room a drain guarantees.
   */
  whenRoom (n: number): Promise<void> {
    const most = Math.ceil(this.#maxQueue / 2)
    if (n > most) throw new RangeError(`whenRoom(${n}): at most ceil(maxQueue / 2) = ${most} windows at a time`)
    if (this.#closing || this.#queued + n <= this.#maxQueue) return Promise.resolve()
    this.#wasFull = true
    return new Promise(resolve => {
      const check = (): void => {
        if (!this.#closing && this.#queued + n > this.#maxQueue) { this.#wasFull = true; return }
        this.off('drain', check)
        resolve()
      }
      this.on('drain', check)
    })
  }

  /**
   * Score windows of one source with the adapter version they were issued
   * with. `adapterVersion` must change whenever `tensors` change (e.g. the
   * adapter file's sha256): the pool copies the tensors the first time it sees
   * a version and reuses them after. Results are in `windows` order; each
   * contribution is a view of its batch's buffer.
   */
  score (source: string, adapterVersion: string, tensors: readonly SourceTensor[], windows: readonly ScoreWindow[]): Promise<WindowScore[]> {
    try {
      if (this.#closing) throw new PoolError('POOL_CLOSED', 'the scoring pool is closed')
      if (this.#failed !== undefined) throw this.#failed
      const lengths = windows.map(w => windowLength(w, this.#D, this.#P))
      if (windows.length === 0) return Promise.resolve([])
      if (this.#queued + windows.length > this.#maxQueue) {
        this.#wasFull = true
        throw new PoolError('POOL_QUEUE_FULL', `${this.#queued} windows are waiting and ${windows.length} more would pass maxQueue ${this.#maxQueue}`)
      }
      const key = versionKey(source, adapterVersion)
      const at = performance.now()
      const shared = this.#versions.acquire(source, adapterVersion, tensors, windows.length)
      const queueFor = (T: number): KeyQueue => {
        const qkey = `${key}|${lengthClass(T)}`
        let q = this.#queues.get(qkey)
        if (q === undefined) {
          q = { source, version: adapterVersion, key, qkey, shared, items: [], since: at }
          this.#queues.set(qkey, q)
        }
        return q
      }
      const promise = new Promise<WindowScore[]>((resolve, reject) => {
        const request: Request = { resolve, reject, results: new Array(windows.length), remaining: windows.length, done: false }
        windows.forEach((window, index) => queueFor(lengths[index]).items.push({ window, T: lengths[index], request, index, at }))
      })
      this.#queued += windows.length
      if (this.full) this.#wasFull = true
      this.#pump()
      return promise
    } catch (err) {
      const e = err instanceof PoolError ? err : new PoolError('POOL_BAD_INPUT', (err as Error).message, { cause: err })
      this.#count(e.code)
      return Promise.reject(e)
    }
  }

  /** Resolves when every worker has built its session; rejects with POOL_ENCODER_LOAD if one could not. */
  ready (): Promise<BackendInfo> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (this.#reports.length >= this.#threads) return Promise.resolve(this.#backend()!)
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }))
  }

  stats (): PoolStats {
    const b = this.#backend()
    return {
      executionProvider: { requested: this.#requested, running: b?.running ?? null, fallback: b?.fallback ?? null },
      threads: this.#threads,
      ortThreads: this.#ortThreads,
      threadsAlive: this.#piscina.threads.length,
      workerNice: this.#reports.map(r => r.nice),
      batches: this.#batches,
      windows: this.#windows,
      queued: this.#queued,
      inFlight: this.#inFlight,
      full: this.full,
      versions: this.#versions.size,
      tensorLoads: this.#tensorLoads,
      batchLatencyMs: this.#latency.snapshot(),
      batchSize: this.#batchSize.snapshot(),
      errors: { ...this.#errors },
    }
  }

  /**
   * Stop taking windows, score the ones already queued (without waiting
   * maxWaitMs), then end every worker thread. force: reject the queued
   * windows with POOL_CLOSED instead (running batches still finish).
   */
  close (opts: { force?: boolean } = {}): Promise<void> {
    if (opts.force === true) this.#rejectQueued(new PoolError('POOL_CLOSED', 'the scoring pool was closed with windows still queued'))
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close (): Promise<void> {
    this.#closing = true
    this.emit('drain') // wake whenRoom() waiters: their score() now fails with POOL_CLOSED
    this.#pump()
    if (this.#queued > 0 || this.#inFlight > 0) await new Promise<void>(resolve => this.#idleWaiters.push(resolve))
    this.#clearTimer()
    for (const w of this.#readyWaiters.splice(0)) w.reject(new PoolError('POOL_CLOSED', 'the scoring pool was closed before its workers were ready'))
    await this.#piscina.destroy()
  }

  #pump (): void {
    while (this.#inFlight < this.#slots && this.#failed === undefined) {
      const q = this.#nextReady(performance.now())
      if (q === undefined) break
      this.#dispatch(q)
    }
    this.#armTimer()
    if (this.#queued === 0 && this.#inFlight === 0) for (const w of this.#idleWaiters.splice(0)) w()
  }

  /** The ready queue whose oldest window has waited longest. */
  #nextReady (now: number): KeyQueue | undefined {
    let best: KeyQueue | undefined
    for (const q of this.#queues.values()) {
      const ready = this.#closing || q.items.length >= this.#maxBatch || now - q.since >= this.#maxWaitMs
      if (ready && (best === undefined || q.since < best.since)) best = q
    }
    return best
  }

  #armTimer (): void {
    if (this.#inFlight >= this.#slots || this.#queues.size === 0 || this.#failed !== undefined) return this.#clearTimer()
    let at = Infinity
    for (const q of this.#queues.values()) at = Math.min(at, q.since + this.#maxWaitMs)
    if (this.#timer !== undefined && this.#timerAt <= at) return
    this.#clearTimer()
    this.#timerAt = at
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#timerAt = Infinity; this.#pump() }, Math.max(0, at - performance.now()))
  }

  #clearTimer (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #dispatch (q: KeyQueue): void {
    const items = q.items.splice(0, this.#maxBatch)
    // the rest (more than maxBatch were waiting) keep their age: they go on the next free thread
    if (q.items.length === 0) this.#queues.delete(q.qkey)
    this.#queued -= items.length
    if (this.#wasFull && this.#queued <= this.#maxQueue / 2) {
      this.#wasFull = false
      queueMicrotask(() => this.emit('drain'))
    }
    const D = this.#D
    const P = this.#P
    const batch = assemble(items.map(i => i.window), items.map(i => i.T), D, P)
    const task: ScoreTask = {
      source: q.source,
      version: q.version,
      key: q.key,
      B: batch.B,
      T: batch.T,
      D,
      P,
      embeddings: batch.embeddings,
      mask: batch.mask,
      paramBuckets: batch.paramBuckets,
      tensors: q.shared,
      live: this.#versions.live(),
    }
    this.#inFlight++
    const t0 = performance.now()
    this.#piscina.run(task, { transferList: [batch.embeddings.buffer as ArrayBuffer, batch.mask.buffer as ArrayBuffer, batch.paramBuckets.buffer as ArrayBuffer] })
      .then(reply => {
        this.#settled(q.key, items.length)
        if (!reply.ok) return this.#fail(items, new PoolError(reply.code, reply.message))
        const runMs = performance.now() - t0
        this.#latency.observe(runMs)
        this.#batchSize.observe(batch.B)
        this.#batches++
        if (reply.tensorsLoaded) this.#tensorLoads++
        const results = split(reply.score, reply.contribution, batch.T, batch.lengths)
        items.forEach((item, i) => {
          const r = item.request
          if (r.done) return
          r.results[item.index] = results[i]
          this.#windows++
          if (--r.remaining === 0) { r.done = true; r.resolve(r.results) }
        })
        // last, once every caller has its scores: a throwing listener cannot fail the batch
        if (this.listenerCount('batch') > 0) this.emit('batch', { source: q.source, windows: batch.B, queuedMs: t0 - items[0].at, runMs })
      }, (err: unknown) => {
        this.#settled(q.key, items.length)
        this.#fail(items, new PoolError('POOL_RUN_FAILED', `worker failed on ${q.key} [B ${batch.B}, T ${batch.T}]: ${(err as Error)?.message ?? err}`, { cause: err }))
      })
      .catch((err: unknown) => this.#fail(items, new PoolError('POOL_RUN_FAILED', `splitting the results of ${q.key} failed: ${(err as Error)?.message}`, { cause: err })))
      .finally(() => this.#pump())
  }

  /** A batch came back: its thread is free and its windows no longer hold their version. */
  #settled (key: string, windows: number): void {
    this.#inFlight--
    this.#versions.release(key, windows)
  }

  #fail (items: Pending[], err: PoolError): void {
    for (const item of items) {
      if (item.request.done) continue
      item.request.done = true
      this.#count(err.code)
      item.request.reject(err)
    }
  }

  #rejectQueued (err: PoolError): void {
    for (const q of this.#queues.values()) {
      this.#fail(q.items, err)
      this.#versions.release(q.key, q.items.length)
    }
    this.#queues.clear()
    this.#queued = 0
  }

  #onBackend (m: BackendReport): void {
    this.#reports.push(m)
    if (m.error !== null) {
      if (this.#failed !== undefined) return
      this.#failed = new PoolError('POOL_ENCODER_LOAD', m.error.message)
      this.#count('POOL_ENCODER_LOAD')
      this.#rejectQueued(this.#failed)
      for (const w of this.#readyWaiters.splice(0)) w.reject(this.#failed)
      this.#pump()
      return
    }
    if (m.fallback !== null) this.#count('POOL_EP_FALLBACK')
    if (this.#reports.length === 1) this.emit('backend', this.#backend()!)
    if (this.#reports.length >= this.#threads) for (const w of this.#readyWaiters.splice(0)) w.resolve(this.#backend()!)
  }

  #backend (): BackendInfo | undefined {
    const ok = this.#reports.filter(r => r.running !== null)
    const last = ok[ok.length - 1]
    if (last === undefined) return undefined
    return { requested: this.#requested, running: last.running!, fallback: ok.find(r => r.fallback !== null)?.fallback ?? null }
  }

  #count (code: PoolErrorCode): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1
  }
}

export function createScoringPool (opts: ScoringPoolOptions): ScoringPool {
  return new ScoringPool(opts)
}
