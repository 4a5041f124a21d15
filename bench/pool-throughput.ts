/**
 * Scoring pool throughput: windows/s for 1 and 2 worker threads and maxBatch
 * 1 / 32 / 256, against maxBatch 1 on the same thread count and against
 * 1 thread × maxBatch 1, all measured in this run. Windows are the bundle's parity rows tiled to T lines; all N are
 * submitted at once as one-window score() calls, as the plugin's windowing
 * does, so the pool's own coalescing forms the batches.
 *
 *   npx tsx bench/pool-throughput.ts [--windows N] [--T lines] [--bundle DIR ...]
 *
 * Bundles: the trainer-made tiny one (test/worker-pool/tiny-bundle.ts) and
 * models/default when it exists. ORT intra-op threads: 1 per worker.
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { createScoringPool, type FlatWindow } from '../worker-pool/pool.js'
import { loadParity, type Parity } from '../test/worker-pool/parity.js'
import { tinyBundle } from '../test/worker-pool/tiny-bundle.js'

const { values } = parseArgs({ options: { windows: { type: 'string', default: '4096' }, T: { type: 'string', default: '20' }, bundle: { type: 'string', multiple: true }, repeat: { type: 'string', default: '3' } } })
const N = Number(values.windows)
const T = Number(values.T)
const REPEAT = Number(values.repeat)

/** N windows of T lines: parity rows' real lines, repeated until T. */
function windowsOf (p: Parity, n: number): FlatWindow[] {
  return Array.from({ length: n }, (_, i) => {
    const w = p.trimmed[i % p.trimmed.length]
    const lines = w.embeddings.length / p.D
    const embeddings = new Float32Array(T * p.D)
    const paramBuckets = new Int32Array(T * p.P)
    for (let l = 0; l < T; l++) {
      const src = (l + i) % lines
      embeddings.set(w.embeddings.subarray(src * p.D, (src + 1) * p.D), l * p.D)
      paramBuckets.set(w.paramBuckets.subarray(src * p.P, (src + 1) * p.P), l * p.P)
    }
    return { embeddings, paramBuckets }
  })
}

async function measure (p: Parity, threads: number, maxBatch: number, windows: FlatWindow[]): Promise<{ rate: number, batches: number }> {
  const pool = createScoringPool({ encoderPath: p.encoderPath, embeddingDim: p.D, paramsPerLine: p.P, threads, ortThreads: 1, maxBatch, maxWaitMs: 2, maxQueue: windows.length })
  try {
    await pool.ready()
    const tensors = p.adapter.tensors
    await Promise.all(windows.slice(0, 4 * threads * maxBatch).map(w => pool.score(p.adapter.source, 'bench', tensors, [w]))) // warm-up: sessions, tensor caches
    const rates: number[] = []
    const before = pool.stats().batches
    for (let r = 0; r < REPEAT; r++) {
      const t0 = performance.now()
      await Promise.all(windows.map(w => pool.score(p.adapter.source, 'bench', tensors, [w])))
      rates.push(windows.length / ((performance.now() - t0) / 1000))
    }
    rates.sort((a, b) => a - b)
    return { rate: rates[Math.floor(rates.length / 2)], batches: (pool.stats().batches - before) / REPEAT }
  } finally {
    await pool.close()
  }
}

const bundles = values.bundle ?? [await tinyBundle(), ...(existsSync(new URL('../models/default/manifest.json', import.meta.url)) ? [new URL('../models/default', import.meta.url).pathname] : [])]
console.log(`# pool throughput: ${N} one-window calls of T = ${T} lines, median of ${REPEAT}; ${availableParallelism()} cores, node ${process.version}`)
for (const dir of bundles) {
  const p = await loadParity(dir)
  const windows = windowsOf(p, N)
  console.log(`\n## ${dir} (D ${p.D}, P ${p.P}, source ${p.adapter.source})\n`)
  console.log('| threads | maxBatch | ORT runs | windows/s | vs maxBatch 1 | vs 1 thread, maxBatch 1 |')
  console.log('|--------:|---------:|---------:|----------:|--------------:|------------------------:|')
  let first = 0
  for (const threads of [1, 2]) {
    let baseline = 0
    for (const maxBatch of [1, 32, 256]) {
      const { rate, batches } = await measure(p, threads, maxBatch, windows)
      if (maxBatch === 1) baseline = rate
      first ||= rate
      console.log(`| ${threads} | ${maxBatch} | ${Math.round(batches)} | ${Math.round(rate)} | ${(rate / baseline).toFixed(2)}× | ${(rate / first).toFixed(2)}× |`)
    }
  }
}
