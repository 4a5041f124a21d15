/**
 * The scoring pool on a real bundle made by the trainer (tiny-bundle.ts) and
 * real onnxruntime-node workers: what the sidecar relies on.
 *
 *   parity      pool scores == PyTorch's scores at export (parity.json), padded or not
 *   batching    many concurrent one-window calls → few ORT runs, same scores as one by one
 *   versions    two adapter versions interleaved (and a swap mid-queue) are never mixed in a run
 *   queue       the bound bites: `full`, POOL_QUEUE_FULL, then 'drain'
 *   backend     executionProvider 'cuda' without CUDA → runs on CPU and says so
 *   failures    bad encoder, bad window, bad tensors: clear codes, nothing else lost
 *   close       queued windows still scored, then no threads left
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import { createScoringPool, lengthClass, type FlatWindow, type ScoreWindow, type ScoringPoolOptions, type SourceTensor } from '../../worker-pool/pool.js'
import { isPoolError } from '../../worker-pool/errors.js'
import { loadParity, type Parity } from './parity.js'
import { tinyBundle } from './tiny-bundle.js'

const parity: Parity = await loadParity(await tinyBundle())
const base = (o: Partial<ScoringPoolOptions> = {}): ScoringPoolOptions =>
  ({ encoderPath: parity.encoderPath, embeddingDim: parity.D, paramsPerLine: parity.P, threads: 1, ...o })
const v1 = parity.adapter.tensors
/** A second adapter version: a scaled, shifted head moves every score well away from v1's (checked below). */
const v2: SourceTensor[] = v1.map(x => x.name === 'head.weight' ? { ...x, data: x.data.map(v => v * 2) }
  : x.name === 'head.bias' ? { ...x, data: x.data.map(v => v + 2) } : x)

/** Prefixes of every parity window: distinct inputs, 1..13 lines, so batches need padding. */
function manyWindows (n: number): FlatWindow[] {
  const { D, P } = parity
  return Array.from({ length: n }, (_, i) => {
    const w = parity.trimmed[i % parity.trimmed.length]
    const T = w.embeddings.length / D
    const lines = 1 + ((i * 7) % T)
    return { embeddings: w.embeddings.slice(0, lines * D), paramBuckets: w.paramBuckets.slice(0, lines * P) }
  })
}

/** The reference: one window at a time through our own ORT session in this thread. */
async function direct (tensors: readonly SourceTensor[], windows: FlatWindow[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(parity.encoderPath)
  const out: number[] = []
  for (const w of windows) {
    const T = w.embeddings.length / parity.D
    const feeds: Record<string, ort.Tensor> = {
      embeddings: new ort.Tensor('float32', w.embeddings, [1, T, parity.D]),
      mask: new ort.Tensor('float32', w.mask ?? new Float32Array(T).fill(1), [1, T]),
      param_buckets: new ort.Tensor('int32', w.paramBuckets, [1, T, parity.P]),
    }
    for (const x of tensors) feeds[x.name] = new ort.Tensor('float32', x.data, x.shape as number[])
    out.push(((await session.run(feeds)).score.data as Float32Array)[0])
  }
  await session.release()
  return out
}

const maxDiff = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i])))
const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: unknown) => isPoolError(e) ? e.code : `not a PoolError: ${e}`)
const osThreads = (): number => readdirSync('/proc/self/task').length

t.test('scores equal the trainer\'s own scores for its parity batch', async t => {
  const pool = createScoringPool(base({ threads: 2, maxBatch: 3, maxWaitMs: 5 }))
  t.teardown(() => pool.close())
  const padded = await pool.score('hdfs', 'v1', v1, parity.padded)
  const d = maxDiff(padded.map(r => r.score), parity.expected.score)
  t.ok(d < 1e-4, `8 windows in batches of ≤ 3 on 2 threads: scores within 1e-4 of PyTorch (max diff ${d.toExponential(2)})`)
  const c = Math.max(...padded.flatMap((r, b) => parity.expected.contribution[b].map((v, j) => Math.abs(v - r.contribution[j]))))
  t.ok(c < 1e-4, `contributions within 1e-4 (max diff ${c.toExponential(2)})`)

  const trimmed = await pool.score('hdfs', 'v1', v1, parity.trimmed)
  const dt = maxDiff(trimmed.map(r => r.score), parity.expected.score)
  t.ok(dt < 1e-4, `windows cut to their real lines (2..13, padded by the pool) score the same (max diff ${dt.toExponential(2)})`)
  t.same(trimmed.map(r => r.contribution.length), parity.trimmed.map(w => w.embeddings.length / parity.D), 'one contribution per line of each window')
  // as the sidecar hands them over: a vector and an unpadded bucket list per line
  const { D, P } = parity
  const rows: ScoreWindow[] = parity.trimmed.map(w => {
    const T = w.embeddings.length / D
    return {
      embeddings: Array.from({ length: T }, (_, i) => w.embeddings.slice(i * D, (i + 1) * D)),
      paramBuckets: Array.from({ length: T }, (_, i) => [...w.paramBuckets.subarray(i * P, (i + 1) * P)].filter(b => b >= 0)),
    }
  })
  t.ok(rows.some(w => (w.paramBuckets as number[][]).some(r => r.length < P)), 'some lines have fewer than P parameters')
  const fromRows = await pool.score('hdfs', 'v1', v1, rows)
  t.same(fromRows.map(r => r.score), trimmed.map(r => r.score), 'windows given as rows score exactly as the flat arrays')
  t.equal(pool.stats().tensorLoads <= 2, true, 'each worker copied the adapter tensors at most once')
})

t.test('concurrent single-window calls coalesce into few ORT runs with the same scores', async t => {
  const windows = manyWindows(64)
  const want = await direct(v1, windows)

  const oneByOne = createScoringPool(base({ maxWaitMs: 0 }))
  t.teardown(() => oneByOne.close())
  const seq: number[] = []
  for (const w of windows) seq.push((await oneByOne.score('hdfs', 'v1', v1, [w]))[0].score)
  t.equal(oneByOne.stats().batches, 64, 'awaited one at a time: one ORT run per window')

  const pool = createScoringPool(base({ maxBatch: 32, maxWaitMs: 20 }))
  t.teardown(() => pool.close())
  const got = (await Promise.all(windows.map(w => pool.score('hdfs', 'v1', v1, [w])))).map(r => r[0].score)
  const s = pool.stats()
  // one run per length class, or more where a class holds more than maxBatch windows
  const perClass = new Map<number, number>()
  for (const w of windows) { const c = lengthClass(w.embeddings.length / parity.D); perClass.set(c, (perClass.get(c) ?? 0) + 1) }
  const bound = [...perClass.values()].reduce((a, n) => a + Math.ceil(n / 32), 0)
  t.ok(s.batches <= bound && bound <= 12, `64 concurrent calls ran in ${s.batches} ORT runs (≤ ${bound}: ${perClass.size} length classes)`)
  t.equal(s.windows, 64)
  t.equal(s.batchSize.sum, 64)
  t.ok(maxDiff(got, want) < 1e-5, `batched scores equal direct one-window runs (max diff ${maxDiff(got, want).toExponential(2)})`)
  t.ok(maxDiff(seq, want) < 1e-5, 'so do the one-by-one pool scores')
})

t.test('two adapter versions interleaved are never mixed in one run', async t => {
  const windows = manyWindows(24)
  const [want1, want2] = [await direct(v1, windows), await direct(v2, windows)]
  const gap = Math.min(...want1.map((s, i) => Math.abs(s - want2[i])))
  t.ok(gap > 0.05, `v2 moves every score by > 0.05 (min ${gap.toFixed(3)}), so a mix-up would show`)

  const pool = createScoringPool(base({ threads: 2, maxBatch: 8, maxWaitMs: 10 }))
  t.teardown(() => pool.close())
  const calls = windows.map((w, i) => pool.score('hdfs', i % 2 === 0 ? 'v1' : 'v2', i % 2 === 0 ? v1 : v2, [w]))
  const got = (await Promise.all(calls)).map(r => r[0].score)
  const want = windows.map((_, i) => (i % 2 === 0 ? want1 : want2)[i])
  t.ok(maxDiff(got, want) < 1e-5, `each call scored with its own version (max diff ${maxDiff(got, want).toExponential(2)})`)
  t.ok(pool.stats().batches >= 2, 'the two versions took separate runs')
  t.equal(pool.stats().versions, 1, 'afterwards only the latest version (v2) is held')

  // a hot swap while v1 windows wait: they finish with v1, later ones use v2
  const slow = createScoringPool(base({ maxBatch: 64, maxWaitMs: 100 }))
  t.teardown(() => slow.close())
  const queuedV1 = slow.score('hdfs', 'v1', v1, windows.slice(0, 4))
  t.equal(slow.queued, 4, 'v1 windows are waiting')
  const afterSwap = slow.score('hdfs', 'v2', v2, windows.slice(0, 4))
  t.equal(slow.stats().versions, 2, 'the swapped-out v1 stays held while its windows wait')
  const [a, b] = await Promise.all([queuedV1, afterSwap])
  t.ok(maxDiff(a.map(r => r.score), want1.slice(0, 4)) < 1e-5, 'windows queued before the swap are scored with v1')
  t.ok(maxDiff(b.map(r => r.score), want2.slice(0, 4)) < 1e-5, 'windows issued after it with v2')
  t.equal(slow.stats().versions, 1, 'then v1 is dropped')
})

t.test('the queue bound bites: full, POOL_QUEUE_FULL, then drain', async t => {
  const pool = createScoringPool(base({ maxQueue: 8, maxBatch: 16, maxWaitMs: 200 }))
  t.teardown(() => pool.close())
  const windows = manyWindows(9)
  const first = pool.score('hdfs', 'v1', v1, windows.slice(0, 8))
  t.equal(pool.queued, 8)
  t.equal(pool.full, true, 'full once maxQueue windows wait: the caller stops reading here')
  const drained = new Promise<number>(resolve => pool.once('drain', () => resolve(pool.queued)))
  t.equal(await codeOf(pool.score('hdfs', 'v1', v1, windows.slice(8))), 'POOL_QUEUE_FULL', 'one more window is refused with a stable code')
  t.equal(pool.queued, 8, 'the refused call queued nothing')
  t.ok(await drained <= 4, '\'drain\' once the queue is down to maxQueue / 2')
  t.equal((await first).length, 8, 'the accepted windows are all scored')
  t.equal((await pool.score('hdfs', 'v1', v1, windows.slice(8))).length, 1, 'and new calls are accepted again')
  t.equal(pool.stats().errors.POOL_QUEUE_FULL, 1, 'the refusal is counted for metrics')
})

t.test('executionProvider cuda without CUDA falls back to CPU and says so', async t => {
  const pool = createScoringPool(base({ threads: 2, executionProvider: 'cuda' }))
  t.teardown(() => pool.close())
  const events: unknown[] = []
  pool.on('backend', b => events.push(b))
  const info = await pool.ready()
  t.equal(info.requested, 'cuda')
  t.equal(info.running, 'cpu', 'it runs on CPU (onnxruntime-node here has no CUDA provider: .npmrc skips its download)')
  t.match(info.fallback, /cuda/i, 'and the reason names CUDA')
  t.equal(events.length, 1, 'the \'backend\' event fires once for the pool')
  t.equal(pool.stats().errors.POOL_EP_FALLBACK, 2, 'each worker\'s fallback is counted')
  t.same(pool.stats().executionProvider, { requested: 'cuda', running: 'cpu', fallback: info.fallback })
  const r = await pool.score('hdfs', 'v1', v1, parity.padded)
  t.ok(maxDiff(r.map(x => x.score), parity.expected.score) < 1e-4, 'and scores as on CPU')
})

t.test('failures get clear codes and cost nothing else', async t => {
  const missing = createScoringPool(base({ encoderPath: '/nonexistent/encoder.onnx' }))
  t.teardown(() => missing.close())
  t.equal(await codeOf(missing.ready()), 'POOL_ENCODER_LOAD', 'a missing encoder fails ready()')
  t.equal(await codeOf(missing.score('hdfs', 'v1', v1, parity.trimmed)), 'POOL_ENCODER_LOAD', 'and every score()')
  await t.rejects(missing.ready(), /nonexistent\/encoder\.onnx/, 'the message names the file')

  const wrongDims = createScoringPool(base({ embeddingDim: parity.D + 1 }))
  t.teardown(() => wrongDims.close())
  await t.rejects(wrongDims.ready(), { code: 'POOL_ENCODER_LOAD', message: /takes 100 per line, the pool was given 101/ }, 'D unlike the encoder\'s is refused at start')

  const pool = createScoringPool(base({ maxWaitMs: 5 }))
  t.teardown(() => pool.close())
  const good = pool.score('hdfs', 'v1', v1, parity.trimmed)
  const bad = { embeddings: new Float32Array(parity.D + 3), paramBuckets: new Int32Array(parity.P) }
  t.equal(await codeOf(pool.score('hdfs', 'v1', v1, [parity.trimmed[0], bad])), 'POOL_BAD_INPUT', 'a window that is not a multiple of D')
  const broken = v1.map(x => x.name === 'head.bias' ? { ...x, name: 'no.such.input' } : x)
  t.equal(await codeOf(pool.score('hdfs', 'broken', broken, parity.trimmed)), 'POOL_RUN_FAILED', 'tensors the encoder does not take fail their run')
  t.ok(maxDiff((await good).map(r => r.score), parity.expected.score) < 1e-4, 'the good call beside them is scored right')
  t.same(pool.stats().errors, { POOL_BAD_INPUT: 1, POOL_RUN_FAILED: 1 })
})

t.test('close() scores what is queued, then leaves no threads', async t => {
  const before = osThreads()
  const pool = createScoringPool(base({ threads: 2, ortThreads: 2, maxWaitMs: 60_000 }))
  await pool.ready()
  t.ok(osThreads() > before, `the pool runs threads (${before} → ${osThreads()})`)
  const queued = pool.score('hdfs', 'v1', v1, parity.trimmed)
  const t0 = performance.now()
  await pool.close()
  t.ok(performance.now() - t0 < 10_000, 'close() did not wait out maxWaitMs')
  t.ok(maxDiff((await queued).map(r => r.score), parity.expected.score) < 1e-4, 'windows queued before close() are scored')
  t.equal(pool.stats().threadsAlive, 0)
  for (let i = 0; i < 50 && osThreads() > before; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(osThreads(), before, 'the process has as many threads as before the pool')
  t.equal(await codeOf(pool.score('hdfs', 'v1', v1, parity.trimmed)), 'POOL_CLOSED', 'score() after close() is refused')

  const forced = createScoringPool(base({ maxWaitMs: 60_000 }))
  const dropped = codeOf(forced.score('hdfs', 'v1', v1, parity.trimmed))
  await forced.close({ force: true })
  t.equal(await dropped, 'POOL_CLOSED', 'close({ force: true }) rejects the queued windows')
})

t.test('short and long windows go in separate batches (less padding), with the same scores', async t => {
  const { D, P } = parity
  const long = parity.trimmed.reduce((a, w) => w.embeddings.length > a.embeddings.length ? w : a)
  const T = long.embeddings.length / D
  t.ok(T > 8, `the longest parity window has ${T} lines`)
  // 1-line prefixes (class 2) and the full window (a longer class), interleaved in one call
  const windows: FlatWindow[] = Array.from({ length: 6 }, (_, i) => i % 2 === 0
    ? { embeddings: long.embeddings.slice(0, D), paramBuckets: long.paramBuckets.slice(0, P) }
    : { embeddings: long.embeddings, paramBuckets: long.paramBuckets })
  const pool = createScoringPool(base({ maxBatch: 64, maxWaitMs: 20 }))
  t.teardown(() => pool.close())
  const got = (await pool.score('hdfs', 'v1', v1, windows)).map(s => s.score)
  t.equal(pool.stats().batches, 2, 'one batch per length class, not one padded batch')
  t.ok(maxDiff(got, await direct(v1, windows)) < 1e-5, 'results still in call order and equal to one-at-a-time scoring')
  const classes = Array.from({ length: 600 }, (_, i) => [i + 1, lengthClass(i + 1)])
  t.ok(classes.every(([T, c]) => c >= T && (T <= 16 ? c - T <= 1 : c < 1.25 * T)), 'a class pads its windows by one line at most up to 16 lines, by less than 1.25x above')
  t.same([1, 2, 9, 16, 17, 21, 33, 42, 100].map(lengthClass), [2, 2, 10, 16, 20, 24, 40, 48, 112])
})

t.test('tasksPerThread: each thread is handed its next batch before it returns the last', async t => {
  // maxBatch 1, no wait: every window is a batch of its own, ready at once
  const windows = manyWindows(8)
  const want = await direct(v1, windows)
  for (const [tasksPerThread, inFlight] of [[1, 1], [2, 2], [3, 3]]) {
    const pool = createScoringPool(base({ threads: 1, maxBatch: 1, maxWaitMs: 0, tasksPerThread }))
    await pool.ready()
    const scores = pool.score('hdfs', 'v1', v1, windows)
    t.equal(pool.stats().inFlight, inFlight, `tasksPerThread ${tasksPerThread}: ${inFlight} batch(es) handed to the one thread at once, the rest queued here`)
    t.equal(pool.stats().queued, 8 - inFlight)
    t.ok(maxDiff((await scores).map(s => s.score), want) < 1e-5, 'scores in call order and equal to one-at-a-time scoring')
    t.equal(pool.stats().batches, 8)
    await pool.close()
  }
  t.throws(() => createScoringPool(base({ tasksPerThread: 0 })), /tasksPerThread must be a positive integer/)
})

/** Niceness of each thread of this process (Linux /proc: field 19 of the thread's stat). */
function threadNices (): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]))
    } catch {} // a thread that ended between the two reads
  }
  return out
}

t.test('worker threads run below the main thread\'s priority (workerNice), and score the same', async t => {
  const mainNice = threadNices().get(process.pid)
  t.ok(mainNice !== undefined && mainNice < 19, `the test process runs at nice ${mainNice}, so its workers can go lower`)
  const want = (await (async () => {
    const p = createScoringPool(base({ workerNice: 0 }))
    try { return (await p.score('hdfs', 'v1', v1, parity.trimmed)).map(r => r.score) } finally { await p.close() }
  })())
  for (const [opts, added] of [[{}, 10], [{ workerNice: 19, threads: 2 }, 19]] as const) {
    const nice = Math.min(19, (mainNice ?? 0) + added)
    const before = new Set(threadNices().keys())
    const pool = createScoringPool(base(opts))
    t.teardown(() => pool.close())
    await pool.ready()
    const fresh = [...threadNices()].filter(([tid]) => !before.has(tid))
    const atNice = fresh.filter(([, n]) => n === nice).length
    t.ok(atNice >= pool.stats().threads, `${JSON.stringify(opts)}: ${atNice} new thread(s) at nice ${nice}, at least one per worker (new: ${JSON.stringify(fresh.map(([, n]) => n))})`)
    t.same(pool.stats().workerNice, Array(pool.stats().threads).fill(nice), 'stats() says what the workers run at')
    t.equal(threadNices().get(process.pid), mainNice, 'the main thread keeps its priority')
    t.same((await pool.score('hdfs', 'v1', v1, parity.trimmed)).map(r => r.score), want, 'same scores as with workerNice 0')
  }
  t.throws(() => createScoringPool(base({ workerNice: -1 })), /workerNice must be an integer from 0 to 19/)
  t.throws(() => createScoringPool(base({ workerNice: 20 })), /workerNice must be an integer from 0 to 19/)
})
