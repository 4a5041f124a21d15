/**
 * Drain hot-path speed, single thread, on the 222,579 real HDFS lines of the
 * LogLead 2% sample (hdfs_loglead_2pct/HDFS_2pct.log), with the shipped HDFS preset.
 *
 *   npx tsx bench/drain-speed.ts
 *   FLUENT_ANOMALY_DATASETS=/path/to/datasets DRAIN_SPEED_RUNS=7 npx tsx bench/drain-speed.ts
 *
 * Each run parses every line with a fresh Drain (learning included), after one
 * warm-up pass; the median of the runs is reported. Cases, all in this process:
 *   raw line, masking on : logFormat → <Content> → mask → Drain.add   (what the sidecar does)
 *   content,  masking on : mask → Drain.add                           (Content pre-extracted)
 *   content,  masking off: Drain.add with masks: []
 *   content,  match      : Drain.match on a learnt parser (no learning)
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { Drain, type DrainOptions } from '../plugin/mining/drain.js'
import { compileLogFormat } from '../plugin/mining/log-format.js'
import { presetFor } from '../plugin/mining/presets.js'
import { datasetsDir } from './drain-accuracy.js'

const RUNS = Number(process.env.DRAIN_SPEED_RUNS ?? 5)
/** Python Drain3 with its stock masking on the same lines, as reported in the project issue (not re-measured here). */
const DRAIN3_LINES_PER_S = 27_000

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function time(runs: number, fn: () => number): { linesPerS: number; clusters: number } {
  let clusters = fn() // warm-up
  const rates: number[] = []
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint()
    clusters = fn()
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(lines.length / s)
  }
  return { linesPerS: median(rates), clusters }
}

const file = join(datasetsDir(), 'hdfs_loglead_2pct', 'HDFS_2pct.log')
const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
const preset = presetFor('HDFS')
const format = compileLogFormat(preset.logFormat!)
const contents = lines.map((l) => format.content(l) ?? l)
const withMasks: Partial<DrainOptions> = preset.drain
const noMasks: Partial<DrainOptions> = { ...preset.drain, masks: [] }

const raw = time(RUNS, () => {
  const d = new Drain(withMasks)
  for (let i = 0; i < lines.length; i++) d.add(format.content(lines[i]!) ?? lines[i]!)
  return d.size
})
const on = time(RUNS, () => {
  const d = new Drain(withMasks)
  for (let i = 0; i < contents.length; i++) d.add(contents[i]!)
  return d.size
})
const off = time(RUNS, () => {
  const d = new Drain(noMasks)
  for (let i = 0; i < contents.length; i++) d.add(contents[i]!)
  return d.size
})
const learnt = new Drain(withMasks)
for (const c of contents) learnt.add(c)
const match = time(RUNS, () => {
  let hits = 0
  for (let i = 0; i < contents.length; i++) if (learnt.match(contents[i]!) !== null) hits++
  if (hits !== contents.length) throw new Error(`match missed ${contents.length - hits} lines`)
  return learnt.size
})

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US')
console.log(`${lines.length.toLocaleString('en-US')} lines from ${file}`)
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'}, median of ${RUNS} runs after 1 warm-up\n`)
console.log('| case | lines/s | templates |')
console.log('|---|---:|---:|')
console.log(`| raw line, masking on (logFormat + mask + add) | ${fmt(raw.linesPerS)} | ${raw.clusters} |`)
console.log(`| content, masking on (mask + add) | ${fmt(on.linesPerS)} | ${on.clusters} |`)
console.log(`| content, masking off (add) | ${fmt(off.linesPerS)} | ${off.clusters} |`)
console.log(`| content, match (no learning) | ${fmt(match.linesPerS)} | ${match.clusters} |`)
console.log(`\nmasking on / off: ${(on.linesPerS / off.linesPerS).toFixed(2)}`)
console.log(`raw line, masking on / Python Drain3 (~${fmt(DRAIN3_LINES_PER_S)} lines/s, from the issue): ${(raw.linesPerS / DRAIN3_LINES_PER_S).toFixed(1)}x`)
