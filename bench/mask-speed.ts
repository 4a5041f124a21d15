/**
 * Masking speed, single thread, with and without the after-a-non-word
 * prefilter (plugin/mining/masker.ts), in the same run: the HDFS preset's
 * masks on the content of the 222,579 lines of hdfs_loglead_2pct/HDFS_2pct.log,
 * and the BGL preset's masks on the content of bgl_head_10k/BGL_head_10k.log.
 * Both maskers must give the same result on every line (checked first).
 *
 *   npx tsx bench/mask-speed.ts
 *   FLUENT_ANOMALY_DATASETS=/path/to/datasets MASK_SPEED_RUNS=7 npx tsx bench/mask-speed.ts
 *
 * Median of the runs (after one warm-up pass), µs per line, and the ratio.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Masker } from '../plugin/mining/masker.js'
import { presetFor } from '../plugin/mining/presets.js'
import { logFormat } from '../plugin/prepare/formats.js'
import { datasetsDir } from './drain-accuracy.js'

const RUNS = Number(process.env.MASK_SPEED_RUNS ?? 5)
const CASES = [
  { preset: 'HDFS', format: 'hdfs', file: join('hdfs_loglead_2pct', 'HDFS_2pct.log') },
  { preset: 'BGL', format: 'bgl', file: join('bgl_head_10k', 'BGL_head_10k.log') },
] as const

function timeIt (m: Masker, lines: readonly string[]): number {
  const t0 = performance.now()
  let n = 0
  for (const l of lines) n += m.mask(l).values.length
  if (n < 0) throw new Error('unreachable')
  return (performance.now() - t0) * 1000 / lines.length
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

console.log(`# masking: npx tsx bench/mask-speed.ts (${cpus()[0]?.model ?? '?'}, node ${process.version}, median of ${RUNS} runs)\n`)
console.log('| data | preset masks | lines | plain alternation, µs/line | with the prefilter, µs/line | ratio |')
console.log('|---|---|---:|---:|---:|---:|')
for (const c of CASES) {
  const format = logFormat(c.format)
  const lines = readFileSync(join(datasetsDir(), c.file), 'utf8').split(/\r?\n/).filter(l => l !== '').map(l => format.content!(l) ?? l)
  const masks = presetFor(c.preset).drain.masks
  const plain = new Masker(masks, { prefilter: false })
  const fast = new Masker(masks)
  const differ = lines.filter(l => JSON.stringify(plain.mask(l)) !== JSON.stringify(fast.mask(l))).length
  if (differ > 0) throw new Error(`${c.file}: ${differ} lines mask differently with the prefilter`)
  timeIt(plain, lines); timeIt(fast, lines)
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < RUNS; r++) { a.push(timeIt(plain, lines)); b.push(timeIt(fast, lines)) }
  const [pa, pb] = [median(a), median(b)]
  console.log(`| ${c.file} (content) | ${c.preset} | ${lines.length.toLocaleString('en-US')} | ${pa.toFixed(2)} | ${pb.toFixed(2)} | ${(pa / pb).toFixed(2)}x |`)
}
