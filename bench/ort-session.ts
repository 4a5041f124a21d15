/**
 * ONNX Runtime alone: the cost of one encoder run per window line, for one or
 * more bundles in the same run (one InferenceSession each, 1 intra-op thread,
 * graph optimisation 'all', as the worker pool creates them), at batch B and
 * window length T. No pool, no Piscina, no sidecar: the floor under the
 * worker threads' share of a scored record. Inputs are synthetic values of the
 * right shapes (real values cost the same: the graph has no data-dependent
 * branches); parameter buckets are a mix of valid ids and -1 padding.
 *
 *   npx tsx bench/ort-session.ts [--bundle DIR ...] [--B 64] [--T 16,20] [--runs 200]
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as ort from 'onnxruntime-node'

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true, default: ['models/default'] },
    B: { type: 'string', default: '64' },
    T: { type: 'string', default: '8,16,20' },
    runs: { type: 'string', default: '200' },
  },
})
const B = Number(values.B)
const Ts = String(values.T).split(',').map(Number)
const RUNS = Number(values.runs)

function feedsFor (s: ort.InferenceSession, T: number, buckets: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {}
  const meta = s.inputMetadata as ReadonlyArray<{ name: string, isTensor: boolean, type?: string, shape?: ReadonlyArray<number | string> }>
  for (const m of meta) {
    const shape = (m.shape ?? []).map(d => d === 'B' ? B : d === 'T' ? T : typeof d === 'number' ? d : 1)
    const n = shape.reduce((a, b) => a * b, 1)
    if (m.type === 'int32') feeds[m.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => i % 3 === 0 ? -1 : i % buckets), shape)
    else feeds[m.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => m.name === 'mask' ? 1 : Math.sin(i) * 0.1), shape)
  }
  return feeds
}

const rows: Array<{ bundle: string, T: number, ms: number, usLine: number }> = []
for (const bundle of values.bundle as string[]) {
  const file = join(bundle, 'encoder.onnx')
  if (!existsSync(file)) throw new Error(`no encoder at ${file}`)
  // valid bucket ids for this encoder's Log-Attention table (manifest encoder.log_attention.buckets)
  const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as { encoder?: { log_attention?: { buckets?: number } } }
  const buckets = manifest.encoder?.log_attention?.buckets ?? 1024
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' })
  for (const T of Ts) {
    const feeds = feedsFor(s, T, buckets)
    for (let i = 0; i < 20; i++) await s.run(feeds)
    const t0 = performance.now()
    for (let i = 0; i < RUNS; i++) await s.run(feeds)
    const ms = (performance.now() - t0) / RUNS
    rows.push({ bundle, T, ms, usLine: ms * 1000 / (B * T) })
  }
  await s.release()
}
console.log(`# ONNX Runtime alone: npx tsx bench/ort-session.ts ${process.argv.slice(2).join(' ')}`.trim())
console.log(`B ${B}, ${RUNS} runs per cell, 1 intra-op thread, CPU EP\n`)
console.log('| bundle | T | ms per run | µs per line | vs the first bundle, same T |')
console.log('|---|---:|---:|---:|---:|')
for (const r of rows) {
  const first = rows.find(x => x.T === r.T) as typeof r
  console.log(`| ${r.bundle} | ${r.T} | ${r.ms.toFixed(2)} | ${r.usLine.toFixed(2)} | ${(r.usLine / first.usLine).toFixed(2)}x |`)
}
