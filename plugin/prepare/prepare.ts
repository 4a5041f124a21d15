/**
 * `prepare`: raw logs (+ labels) -> the arrays the trainer reads (DESIGN.md,
 * "Prepared data"), through the same parser, windowing and embedding code the
 * sidecar runs.
 *
 *   log file ──pass 1──▶ header (formats.ts) ─▶ Drain.add (learn templates)     passes.ts
 *                              │                  └─▶ windower.add (line indices only)
 *                              ▼
 *            ──pass 2──▶ header ─▶ Drain.match: final template + params of every line
 *                                   └─▶ param buckets (param-buckets.ts)
 *                              ▼
 *   windows ─▶ labels ─▶ split (split.ts) ─▶ [N, T] arrays (window-arrays.ts)
 *           ─▶ embedder (distilled from the train templates, or --embedder)
 *           ─▶ template vectors ─▶ files (write-output.ts)
 *
 * Why two passes: Drain generalises templates as it learns (an id changes when
 * a template gains a `<*>`), so a line's template at the time it was read is
 * not its final one. The second pass asks the finished parser, without
 * learning, which is what the sidecar does with a parser restored from the
 * bundle. Both passes stream the file, so memory is the per-line arrays
 * (~40 bytes + 4P per line), not the text.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Drain } from '../mining/drain.js'
import { type DrainOptions } from '../mining/options.js'
import { presetFor } from '../mining/presets.js'
import { saveSnapshot } from '../mining/snapshot.js'
import { DEFAULT_MAX_PARAMS, DEFAULT_PARAM_BUCKETS, checkParamOptions } from '../embedding/param-buckets.js'
import { PrepareError } from './errors.js'
import { DEFAULT_PRESETS, logFormat, type FormatName } from './formats.js'
import { readLabelFile, type LabelTable } from './labels.js'
import { finalPass, learnPass } from './passes.js'
import { createProgress, type Progress } from './progress.js'
import { splitWindows, type SplitMethod } from './split.js'
import { labelWindows, windowArrays } from './window-arrays.js'
import { buildEmbedder, writeOutput, type PrepareMeta } from './write-output.js'

export const DRAIN_SNAPSHOT_FILE = 'drain.json'

export interface PrepareOptions {
  format: FormatName
  logs: string
  labels?: string
  out: string
  /** Drain preset name (config/drain-presets.yaml); default: the format's own. */
  preset?: string
  /** Sliding windows: lines per window (default 20) and step (default = size). */
  windowSize?: number
  step?: number
  /** T: longest window kept; longer windows keep their first T lines. Default: sliding = size, session = min(longest, 256). */
  maxLen?: number
  split?: SplitMethod
  seed?: number
  valFraction?: number
  testFraction?: number
  /** Use this embedder file instead of distilling one from the training templates. */
  embedder?: string
  /** Distilled embedder size: pretrained words kept besides the training words, and n-gram table rows (distill.ts defaults). */
  embedderWords?: number
  embedderNgramBuckets?: number
  /** generic format: loghub-style header and session key regex. */
  logFormat?: string
  sessionKey?: string
  /** generic format: pattern of the time fields, e.g. `yy/MM/dd HH:mm:ss`. */
  timeFormat?: string
  /** B and P of the parameter buckets. */
  paramBuckets?: number
  maxParams?: number
  progress?: Progress
  /** Drain options instead of a preset (tests). */
  drainOptions?: Partial<DrainOptions>
}

export const PREPARE_DEFAULTS = {
  windowSize: 20,
  sessionMaxLen: 256,
  split: 'chronological' as SplitMethod,
  seed: 42,
  valFraction: 0.1,
  testFraction: 0.2,
}

export interface PrepareResult {
  meta: PrepareMeta
  /** Milliseconds per phase. */
  timings: Record<string, number>
}

/** The Drain preset: --preset, else the format's own, else (no such preset) Drain's defaults. */
function resolveDrain (opts: PrepareOptions, progress: Progress): { options: Partial<DrainOptions>, preset: string | null, logFormat?: string } {
  if (opts.drainOptions !== undefined) return { options: opts.drainOptions, preset: null }
  const name = opts.preset ?? DEFAULT_PRESETS[opts.format]
  try {
    const p = presetFor(name)
    // A preset's header format only stands in for generic's --log-format; the named formats have their own.
    return { options: p.drain, preset: p.name, logFormat: opts.format === 'generic' ? p.logFormat : undefined }
  } catch (err) {
    if (opts.preset !== undefined) throw new PrepareError('PREPARE_USAGE', `--preset ${name}: ${(err as Error).message}`, { cause: err })
    progress.log(`no Drain preset "${name}" (${(err as Error).message.split('\n')[0]}); using Drain defaults`)
    return { options: {}, preset: null }
  }
}

export async function prepare (opts: PrepareOptions): Promise<PrepareResult> {
  const progress = opts.progress ?? createProgress()
  const timings: Record<string, number> = {}
  const t0 = performance.now()
  const drainCfg = resolveDrain(opts, progress)
  const format = logFormat(opts.format, { logFormat: opts.logFormat ?? drainCfg.logFormat, sessionKey: opts.sessionKey, timeFormat: opts.timeFormat })
  const params = checkParamOptions({ buckets: opts.paramBuckets ?? DEFAULT_PARAM_BUCKETS, maxParams: opts.maxParams ?? DEFAULT_MAX_PARAMS })
  const P = params.maxParams
  const size = opts.windowSize ?? PREPARE_DEFAULTS.windowSize
  const step = opts.step ?? size
  const labels: LabelTable | undefined = opts.labels !== undefined ? await readLabelFile(opts.labels) : undefined
  if (labels?.by === 'key' && format.mode !== 'session') {
    throw new PrepareError('PREPARE_USAGE', `${opts.labels} labels sessions by key, but --format ${format.name} uses sliding windows; give --session-key (generic) or a by-line labels file`)
  }
  const drain = new Drain(drainCfg.options)
  let logBytes: number
  try {
    logBytes = (await stat(opts.logs)).size
  } catch (err) {
    throw new PrepareError('PREPARE_INPUT', `cannot read log file ${opts.logs}: ${(err as Error).message}`, { cause: err })
  }

  // ── pass 1: learn templates, build windows of line indices ──
  const learned = await learnPass({ file: opts.logs, bytes: logBytes, format, drain, labels, size, step, progress })
  const { lines, windows } = learned
  timings.pass1 = performance.now() - t0
  if (lines.count === 0) throw new PrepareError('PREPARE_INPUT', `${opts.logs}: no log lines`)
  if (learned.headerMismatch === lines.count && opts.format !== 'generic') {
    throw new PrepareError('PREPARE_INPUT', `${opts.logs}: no line matches the ${opts.format} header format; is --format right?`)
  }
  if (windows.length === 0) throw new PrepareError('PREPARE_INPUT', `${opts.logs}: no windows (no line has a session key?)`)

  // ── pass 2: final template and parameters of every line ──
  const t1 = performance.now()
  const { templates, relearned } = await finalPass({ file: opts.logs, bytes: logBytes, format, drain, lines, params, progress })
  timings.pass2 = performance.now() - t1

  // ── labels, split, arrays ──
  const t2 = performance.now()
  const N = windows.length
  let longest = 0
  for (const w of windows) if (w.items.length > longest) longest = w.items.length
  const T = opts.maxLen ?? (format.mode === 'sliding' ? size : Math.min(longest, PREPARE_DEFAULTS.sessionMaxLen))
  if (!Number.isInteger(T) || T < 1) throw new PrepareError('PREPARE_USAGE', `--max-len must be an integer >= 1, got ${T}`)
  const labelled = labelWindows(windows, lines, labels)
  const split = splitWindows(labelled.starts, {
    method: opts.split ?? PREPARE_DEFAULTS.split,
    seed: opts.seed ?? PREPARE_DEFAULTS.seed,
    valFraction: opts.valFraction ?? PREPARE_DEFAULTS.valFraction,
    testFraction: opts.testFraction ?? PREPARE_DEFAULTS.testFraction,
  })
  const arr = windowArrays({ windows, order: split.order, lines, labels: labelled.labels, starts: labelled.starts, T, P })
  const winArr = arr.windows
  const labelArr = arr.labels
  timings.windows = performance.now() - t2

  // ── embedder (distilled from training templates) and template vectors ──
  const t3 = performance.now()
  const trainRows = new Set<number>()
  for (let r = split.train[0]; r < split.train[1]; r++) {
    for (let j = 0; j < T; j++) { const v = winArr[r * T + j]; if (v < 0) break; trainRows.add(v) }
  }
  const emb = await buildEmbedder({
    given: opts.embedder,
    topWords: opts.embedderWords,
    ngramBuckets: opts.embedderNgramBuckets,
    trainTemplates: [...trainRows].sort((a, b) => a - b).map(r => templates[r].text),
    createdFrom: `prepare --format ${format.name} ${opts.logs}, train split (${split.train[1] - split.train[0]} windows)`,
    progress,
  })
  const D = emb.embedder.dim
  const vectors = new Float32Array(templates.length * D)
  templates.forEach((t, r) => vectors.set(emb.embedder.embed(t.text), r * D))
  timings.embed = performance.now() - t3

  const t4 = performance.now()
  const count = (a: number, b: number): { start: number, end: number, windows: number, anomalous: number } => {
    let an = 0
    for (let r = a; r < b; r++) an += labelArr[r]
    return { start: a, end: b, windows: b - a, anomalous: an }
  }
  let anomalous = 0
  for (let r = 0; r < N; r++) anomalous += labelArr[r]
  const meta: PrepareMeta = {
    format_version: 1,
    source: { logs: opts.logs, labels: opts.labels ?? null, labels_by: labels?.by ?? (format.lineLabels ? 'line (first column)' : null) },
    format: format.name,
    mode: format.mode,
    window: format.mode === 'session'
      ? { session_key: format.sessionKey!.source, closed_at: 'end of file (no idle / age limit offline)' }
      : { size, step },
    T,
    P,
    buckets: params.buckets,
    param_hash: 'fnv1a32(utf8(value)) mod buckets; first P params of a line; pad -1',
    counts: {
      lines: lines.count,
      header_mismatch: learned.headerMismatch,
      lines_without_time: learned.withoutTime,
      lines_without_key: learned.unkeyed,
      lines_relearned: relearned,
      templates: templates.length,
      windows: N,
      anomalous_windows: anomalous,
      unlabeled_windows: labelled.unlabeled,
      truncated_windows: arr.truncated,
      longest_window: longest,
    },
    split: {
      method: opts.split ?? PREPARE_DEFAULTS.split,
      seed: (opts.split ?? PREPARE_DEFAULTS.split) === 'random' ? (opts.seed ?? PREPARE_DEFAULTS.seed) : null,
      test_fraction: opts.testFraction ?? PREPARE_DEFAULTS.testFraction,
      val_fraction: opts.valFraction ?? PREPARE_DEFAULTS.valFraction,
      order: 'rows sorted by window start time within each part; ranges are [start, end)',
      train: count(...split.train),
      validation: count(...split.validation),
      test: count(...split.test),
    },
    drain: { preset: drainCfg.preset, options: drain.options, snapshot: DRAIN_SNAPSHOT_FILE },
    embedder: emb.meta,
    files: {},
  }
  await writeOutput(opts.out, meta, {
    templates,
    vectors: { data: vectors, shape: [templates.length, D] },
    windows: { data: winArr, shape: [N, T] },
    buckets: { data: arr.buckets, shape: [N, T, P] },
    labels: { data: labelArr, shape: [N] },
    starts: { data: arr.starts, shape: [N] },
    info: arr.info,
    embedderBytes: emb.bytes,
  })
  // The parser that made these templates, so a bundle can start the sidecar from it.
  await saveSnapshot(join(opts.out, DRAIN_SNAPSHOT_FILE), drain)
  timings.write = performance.now() - t4
  timings.total = performance.now() - t0
  progress.log(`${N} windows (${anomalous} anomalous), ${templates.length} templates, T=${T}, written to ${opts.out} in ${(timings.total / 1000).toFixed(2)} s`)
  return { meta, timings }
}
