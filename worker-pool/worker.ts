/**
 * One pool thread: owns one onnxruntime-node InferenceSession for its whole
 * life (piscina examples/async_load: the module's default export is a promise
 * of the handler, so Piscina waits for the session before the first task).
 *
 *   workerData ─▶ InferenceSession(encoder.onnx, asked EP) ─fails?─▶ CPU, report POOL_EP_FALLBACK once
 *                      │                                     └─fails too─▶ report POOL_ENCODER_LOAD; every task answers it
 *                      ▼
 *   ScoreTask ─▶ per-source tensors: cache hit, or copy out of the shared buffer ─▶ session.run ─▶ ScoreReply (moved)
 *
 * The reply is a value, never a throw: structured clone keeps no `code` on
 * errors, so failures travel as { ok: false, code, message }.
 */
import { getPriority, setPriority } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parentPort, threadId } from 'node:worker_threads'
import * as ort from 'onnxruntime-node'
import { move, workerData } from 'piscina'
import { BACKEND_MESSAGE, Moved, ownBuffer, type BackendReport, type ExecutionProvider, type ScoreReply, type ScoreTask, type SharedSourceTensors, type WorkerInit } from './task.js'

type Handler = (task: ScoreTask) => Promise<Moved<ScoreReply> | ScoreReply>

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500)

async function createSession (init: WorkerInit, ep: ExecutionProvider): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(init.encoderPath, {
    executionProviders: [ep],
    intraOpNumThreads: init.ortThreads,
    // one op at a time: the pool's threads are the parallelism across batches
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  })
}

/** The encoder's fixed inputs must take the D and P the pool will send. */
function checkDims (session: ort.InferenceSession, init: WorkerInit): void {
  const meta = session.inputMetadata as ReadonlyArray<{ name: string, isTensor: boolean, shape?: ReadonlyArray<number | string> }>
  for (const [name, want] of [['embeddings', init.embeddingDim], ['param_buckets', init.paramsPerLine]] as const) {
    const m = meta.find(i => i.name === name)
    if (m === undefined) throw new Error(`encoder has no input "${name}"`)
    const got = m.shape?.[2]
    if (typeof got === 'number' && got !== want) throw new Error(`encoder input "${name}" takes ${got} per line, the pool was given ${want}`)
  }
}

function tensorsFrom (shared: SharedSourceTensors): Map<string, ort.Tensor> {
  const all = new Float32Array(shared.buffer)
  const out = new Map<string, ort.Tensor>()
  // slice() copies into a worker-owned ArrayBuffer: ORT rejects shared memory as a feed
  for (const t of shared.tensors) out.set(t.name, new ort.Tensor('float32', all.slice(t.offset, t.offset + t.length), t.shape))
  return out
}

function scorer (session: ort.InferenceSession): Handler {
  const cache = new Map<string, Map<string, ort.Tensor>>()
  return async task => {
    const t0 = performance.now()
    let source = cache.get(task.key)
    const tensorsLoaded = source === undefined
    if (source === undefined) {
      source = tensorsFrom(task.tensors)
      cache.set(task.key, source)
    }
    for (const key of cache.keys()) if (!task.live.includes(key)) cache.delete(key)
    const t1 = performance.now()
    const { B, T, D, P } = task
    const feeds: Record<string, ort.Tensor> = {
      embeddings: new ort.Tensor('float32', task.embeddings, [B, T, D]),
      mask: new ort.Tensor('float32', task.mask, [B, T]),
      param_buckets: new ort.Tensor('int32', task.paramBuckets, [B, T, P]),
    }
    for (const [name, tensor] of source) feeds[name] = tensor
    let out: ort.InferenceSession.OnnxValueMapType
    try {
      out = await session.run(feeds)
    } catch (err) {
      return { ok: false, code: 'POOL_RUN_FAILED', message: `ONNX Runtime failed on ${task.key} [B ${B}, T ${T}]: ${message(err)}` }
    }
    const t2 = performance.now()
    const score = ownBuffer(out.score.data as Float32Array)
    const contribution = ownBuffer(out.contribution.data as Float32Array)
    const reply: ScoreReply = { ok: true, score, contribution, timing: { runMs: t2 - t1, loadMs: tensorsLoaded ? t1 - t0 : 0 }, tensorsLoaded, cached: cache.size }
    return move(new Moved(reply, [score.buffer as ArrayBuffer, contribution.buffer as ArrayBuffer])) as Moved<ScoreReply>
  }
}

async function init (): Promise<Handler> {
  const opts = workerData as WorkerInit
  // The thread starts at the main thread's niceness and goes `opts.nice` lower.
  // On Linux this sets the calling thread only (the main thread keeps its
  // priority); raising niceness needs no privilege. Where it fails the thread
  // keeps the priority it has, and the report says which one that is.
  let nice: number | null = null
  try {
    if (opts.nice !== 0) setPriority(Math.min(19, getPriority() + opts.nice))
  } catch {}
  try { nice = getPriority() } catch {}
  const report: BackendReport = { type: BACKEND_MESSAGE, threadId, requested: opts.executionProvider, running: null, fallback: null, error: null, nice }
  let session: ort.InferenceSession | undefined
  try {
    try {
      session = await createSession(opts, opts.executionProvider)
      report.running = opts.executionProvider
    } catch (err) {
      if (opts.executionProvider === 'cpu') throw err
      report.fallback = message(err)
      session = await createSession(opts, 'cpu')
      report.running = 'cpu'
    }
    checkDims(session, opts)
  } catch (err) {
    await session?.release()
    report.running = null
    report.error = { code: 'POOL_ENCODER_LOAD', message: `cannot load ${opts.encoderPath}: ${message(err)}` }
  }
  parentPort?.postMessage(report)
  if (report.error !== null || session === undefined) {
    const failed: ScoreReply = { ok: false, ...(report.error ?? { code: 'POOL_ENCODER_LOAD', message: 'no session' }) }
    return async () => failed
  }
  return scorer(session)
}

export default init()
