/**
 * What the main thread (pool.ts) and the workers (worker.ts) send each other.
 *
 *   main ──ScoreTask (moved: embeddings, mask, paramBuckets; shared: the version's tensors)──▶ worker
 *   main ◀─ScoreReply (moved: score, contribution)──────────────────────────────────────────── worker
 *   main ◀─BackendReport, once per worker at start (parentPort → Piscina 'message')─────────── worker
 *
 * Per-source tensors: Piscina's run() cannot pick a worker, so the pool cannot
 * know which worker holds which adapter version. Instead each live
 * `source@version` is copied once, on the main thread, into one
 * SharedArrayBuffer, and every task carries a handle to it (a few bytes; the
 * memory is shared, not copied). A worker that does not hold the task's key
 * yet copies the tensors out once into its own ort.Tensors (onnxruntime-node
 * refuses SharedArrayBuffer-backed feeds) and caches them by key; a hit costs
 * nothing. Every task also lists the keys still live, and the worker drops
 * the ones that are not. No "need tensors" round trip, no per-worker
 * bookkeeping on the main thread, and a worker that was replaced after a
 * crash simply loads on its first task.
 */
import { transferableSymbol, valueSymbol } from 'piscina'

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const
export type ExecutionProvider = typeof EXECUTION_PROVIDERS[number]

/** workerData of every worker: what it needs to build its session once. */
export interface WorkerInit {
  encoderPath: string
  executionProvider: ExecutionProvider
  /** ONNX Runtime intra-op threads of this worker's session. */
  ortThreads: number
  /** D: width of a template vector, checked against the encoder's `embeddings` input. */
  embeddingDim: number
  /** P: parameter buckets per line, checked against the encoder's `param_buckets` input. */
  paramsPerLine: number
  /** Niceness the worker thread adds to its own (the main thread's) before it builds its session, up to 19 (ORT's own threads inherit it); 0 leaves it as is. */
  nice: number
}

/** One adapter version's per-source tensors in one SharedArrayBuffer (float32). */
export interface SharedSourceTensors {
  key: string
  buffer: SharedArrayBuffer
  /** In the encoder's input order; offset and length count float32 elements. */
  tensors: Array<{ name: string, shape: number[], offset: number, length: number }>
}

export interface ScoreTask {
  source: string
  version: string
  /** `${source}@${version}`: the cache key of the per-source tensors. */
  key: string
  B: number
  T: number
  D: number
  P: number
  /** [B, T, D], 0 on padding. */
  embeddings: Float32Array
  /** [B, T], 1 = real line, 0 = padding at the end. */
  mask: Float32Array
  /** [B, T, P], −1 = none. */
  paramBuckets: Int32Array
  tensors: SharedSourceTensors
  /** Keys the pool still holds (queued or current); the worker evicts the others. */
  live: string[]
}

export interface TaskTiming {
  /** session.run() alone. */
  runMs: number
  /** Copying this version's tensors into the worker's cache (0 on a cache hit). */
  loadMs: number
}

export type ScoreReply =
  | { ok: true, score: Float32Array, contribution: Float32Array, timing: TaskTiming, tensorsLoaded: boolean, cached: number }
  | { ok: false, code: 'POOL_RUN_FAILED' | 'POOL_ENCODER_LOAD', message: string }

export const BACKEND_MESSAGE = 'fluent-anomaly/pool-backend'

/** Posted once by each worker when its session is built (or could not be). */
export interface BackendReport {
  type: typeof BACKEND_MESSAGE
  threadId: number
  requested: ExecutionProvider
  /** null when no session could be built at all (see error). */
  running: ExecutionProvider | null
  /** Why the requested provider did not start (then running is 'cpu'). */
  fallback: string | null
  error: { code: 'POOL_ENCODER_LOAD', message: string } | null
  /** The niceness the thread runs at (os.getPriority), null where it cannot be read. */
  nice: number | null
}

export const isBackendReport = (m: unknown): m is BackendReport =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === BACKEND_MESSAGE

/** A value whose buffers travel by transfer (Piscina's Transferable protocol, `move()`). */
export class Moved<T> {
  readonly #value: T
  readonly #transfer: ArrayBuffer[]
  constructor (value: T, transfer: ArrayBuffer[]) {
    this.#value = value
    this.#transfer = transfer
  }

  get [transferableSymbol] (): ArrayBuffer[] { return this.#transfer }
  get [valueSymbol] (): T { return this.#value }
}

/** The buffer of a typed array that owns all of it (else a copy that does), so transferring it moves nothing else. */
export function ownBuffer<A extends Float32Array | Int32Array> (a: A): A {
  return a.byteOffset === 0 && a.buffer.byteLength === a.byteLength && a.buffer instanceof ArrayBuffer ? a : a.slice() as A
}
