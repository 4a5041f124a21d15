/**
 * `prepare`: raw logs (+ labels) -> the arrays the trainer reads (DESIGN.md,
 * "Prepared data"), through the same parser, windowing and embedding code the
 * sidecar runs, under the window policy the sidecar will serve.
 *
 *   --logs files/folders ──pass 1──▶ decoder (inputs.ts: header / ndjson record)        from-logs.ts
 *                              │     ─▶ Drain.add (learn templates)                     passes.ts
 *                              │     └▶ windower.add(line, now = event time), policy limits  window-policy.ts
 *                              ▼
 *                    ──pass 2──▶ decoder ─▶ Drain.match: final template + params of every line
 *   --format sequences ─────────▶ template ids per line, one window each              sequences.ts
 *                              ▼
 *   windows ─▶ labels ─▶ split (split.ts) ─▶ [N, T] arrays (window-arrays.ts)
 *           ─▶ embedder (distilled from the train templates, or --embedder)
 *           ─▶ template vectors ─▶ files (write-output.ts) ─▶ summary + warnings (summary.ts)
 *
 * Why two passes: Drain generalises templates as it learns (an id changes when
 * a template gains a `<*>`), so a line's template at the time it was read is
 * not its final one. The second pass asks the finished parser, without
 * learning, which is what the sidecar does with a parser restored from the
 * bundle. Both passes stream the files, so memory is the per-line arrays
 * (~40 bytes + 4P per line), not the text.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { saveSnapshot } from '../mining/snapshot.js'
import { DEFAULT_MAX_PARAMS, DEFAULT_PARAM_BUCKETS, checkParamOptions } from '../embedding/param-buckets.js'
import { type Window } from '../windowing/index.js'
import { PrepareError } from './errors.js'
import { type FormatName } from './formats.js'
import { fromLogs } from './from-logs.js'
import { DEFAULT_TIME_KEYS, listInputs, type InputFile } from './inputs.js'
import { readLabelFile, type LabelTable } from './labels.js'
import { type Lines, type TemplateRow } from './passes.js'
import { checkOptions, PREPARE_DEFAULTS, type PrepareOptions } from './options.js'
import { createProgress, type Progress } from './progress.js'
import { readSequences, readTemplates } from './sequences.js'
import { splitWindows } from './split.js'
import { chooseT, keyStats, warnings } from './summary.js'
import { labelWindows, windowArrays } from './window-arrays.js'
import { sidecarDefaults, windowMeta, type Clock, type WindowPolicy } from './window-policy.js'
import { trainTemplatesOf } from './train-templates.js'
import { buildEmbedder, writeOutput, type PrepareMeta, type SplitPart } from './write-output.js'

export const DRAIN_SNAPSHOT_FILE = 'drain.json'

export { checkOptions, PREPARE_DEFAULTS, type PrepareFormat, type PrepareOptions } from './options.js'

const usage = (msg: string): never => { throw new PrepareError('PREPARE_USAGE', msg) }

export interface PrepareResult {
  meta: PrepareMeta
  /** Milliseconds per phase. */
  timings: Record<string, number>
}

interface Built {
  lines: Lines
  windows: Window<number>[]
  templates: TemplateRow[]
  inputs: InputFile[]
  format: string
  mode: 'session' | 'sliding'
  clock: Clock
  window: PrepareMeta['window']
  /** counts before the common ones (format specific) */
  counts: { lines: number } & Record<string, number>
  /** labels_by when no --labels file is given */
  labelsBy: string | null
  closed: Record<string, number>
  drain: PrepareMeta['drain']
  snapshot?: () => Promise<void>
  timeGoesBack: { file: string, bySeconds: number }[]
  timings: Record<string, number>
}

export async function prepare (opts: PrepareOptions): Promise<PrepareResult> {
  const progress = opts.progress ?? createProgress()
  const t0 = performance.now()
  checkOptions(opts)
  const seq = opts.format === 'sequences'
  const logs = typeof opts.logs === 'string' ? [opts.logs] : [...opts.logs]
  if (logs.length === 0) usage('--logs FILE|FOLDER is required')
  const files = await listInputs(logs)
  const anomalousFiles = seq ? await listInputs(opts.anomalousLogs ?? [], '--anomalous-logs') : []
  const labels: LabelTable | undefined = opts.labels !== undefined ? await readLabelFile(opts.labels, { normalLabels: opts.normalLabels }) : undefined
  if (labels?.by === 'line' && files.length + anomalousFiles.length > 1) {
    usage(`${opts.labels} labels lines by number, and line numbers are per file: with ${files.length + anomalousFiles.length} input files a line number names no single line; give one file, or label sessions by key`)
  }
  const params = checkParamOptions({ buckets: opts.paramBuckets ?? DEFAULT_PARAM_BUCKETS, maxParams: opts.maxParams ?? DEFAULT_MAX_PARAMS })
  const P = params.maxParams
  const size = opts.windowSize ?? PREPARE_DEFAULTS.windowSize
  const step = opts.step ?? size
  const def = sidecarDefaults()
  const policy: WindowPolicy = seq
    ? { idleMs: null, maxAgeMs: null, maxLength: null }
    : { idleMs: opts.idleTimeout === undefined ? def.policy.idleMs : opts.idleTimeout, maxAgeMs: opts.maxAge === undefined ? def.policy.maxAgeMs : opts.maxAge, maxLength: opts.maxLength === undefined ? def.policy.maxLength : opts.maxLength }
  const messageKey = opts.messageKey ?? def.messageKey

  const b: Built = seq
    ? await sequencesBuilt(opts, files, anomalousFiles, labels, P, progress)
    : await logsBuilt(opts, files, labels, policy, messageKey, params, size, step, progress)
  const { lines, windows, templates } = b
  const timings: Record<string, number> = { ...b.timings }

  // ── labels, split, arrays ──
  const t2 = performance.now()
  const N = windows.length
  let longest = 0
  for (const w of windows) if (w.items.length > longest) longest = w.items.length
  const { T, why } = chooseT({ mode: b.mode, maxLen: opts.maxLen, size, longest, cap: PREPARE_DEFAULTS.sessionMaxLen })
  if (!Number.isInteger(T) || T < 1) usage(`--max-len must be an integer >= 1, got ${T}`)
  const labelled = labelWindows(windows, lines, labels)
  const splitMethod = opts.split ?? (seq ? PREPARE_DEFAULTS.sequencesSplit : PREPARE_DEFAULTS.split)
  const seed = opts.seed ?? PREPARE_DEFAULTS.seed
  const fractions = { valFraction: opts.valFraction ?? PREPARE_DEFAULTS.valFraction, testFraction: opts.testFraction ?? PREPARE_DEFAULTS.testFraction }
  const split = splitWindows(labelled.starts, { method: splitMethod, seed, ...fractions })
  const arr = windowArrays({ windows, order: split.order, lines, labels: labelled.labels, starts: labelled.starts, T, P, files: b.inputs.map(f => f.path) })
  const winArr = arr.windows
  const labelArr = arr.labels
  timings.windows = performance.now() - t2

  // ── embedder (distilled from training templates) and template vectors ──
  const t3 = performance.now()
  const trainRows = new Set<number>()
  for (let r = split.train[0]; r < split.train[1]; r++) {
    for (let j = 0; j < T; j++) { const v = winArr[r * T + j]; if (v < 0) break; trainRows.add(v) }
  }
  const what = b.inputs.length === 1 ? b.inputs[0].path : `${b.inputs[0].path} and ${b.inputs.length - 1} more files`
  const also: string[] = []
  for (const dir of opts.embedderAlso ?? []) also.push(...await trainTemplatesOf(dir))
  const emb = await buildEmbedder({
    given: opts.embedder,
    topWords: opts.embedderWords,
    ngramBuckets: opts.embedderNgramBuckets,
    trainTemplates: [...[...trainRows].sort((x, y) => x - y).map(r => templates[r].text), ...also],
    createdFrom: `prepare --format ${b.format} ${what}, train split (${split.train[1] - split.train[0]} windows)` +
      (also.length > 0 ? ` + ${also.length} training templates of ${(opts.embedderAlso ?? []).join(', ')}` : ''),
    progress,
  })
  const D = emb.embedder.dim
  const vectors = new Float32Array(templates.length * D)
  templates.forEach((t, r) => vectors.set(emb.embedder.embed(t.text), r * D))
  timings.embed = performance.now() - t3

  // ── meta, summary, files ──
  const t4 = performance.now()
  const part = ([a, z]: [number, number]): SplitPart => {
    let an = 0
    for (let r = a; r < z; r++) an += labelArr[r]
    return { start: a, end: z, windows: z - a, anomalous: an }
  }
  const train = part(split.train)
  const validation = part(split.validation)
  const test = part(split.test)
  const parts = [{ name: 'train', ...train }, { name: 'validation', ...validation }, { name: 'test', ...test }]
  let anomalous = 0
  for (let r = 0; r < N; r++) anomalous += labelArr[r]
  const keys = keyStats(windows)
  const warned = warnings({
    T, truncated: arr.truncated, keys, policy, clock: b.clock, timeLimits: !seq && (policy.idleMs !== null || policy.maxAgeMs !== null),
    parts, anomalous, timeGoesBack: b.timeGoesBack,
  })
  if (seq && opts.split === 'chronological') warned.push('--split chronological on sequences follows file and line order (they have no times); these files often group sessions by label, so one part may get all of one kind')
  const meta: PrepareMeta = {
    format_version: 1,
    source: {
      input: seq ? 'sequences' : (opts.input ?? 'lines'),
      logs: files.map(f => f.path),
      labels: opts.labels ?? null,
      labels_by: labels?.by ?? b.labelsBy,
      normal_labels: opts.normalLabels ?? null,
      ...(opts.input === 'ndjson' ? { message_key: messageKey, time_key: opts.timeKey ?? [...DEFAULT_TIME_KEYS] } : {}),
      ...(seq ? { anomalous_logs: anomalousFiles.map(f => f.path), templates: opts.templates } : {}),
    },
    format: b.format,
    mode: b.mode,
    window: b.window,
    T,
    P,
    buckets: params.buckets,
    param_hash: 'fnv1a32(utf8(value)) mod buckets; first P params of a line; pad -1',
    counts: {
      ...b.counts,
      templates: templates.length,
      windows: N,
      anomalous_windows: anomalous,
      unlabeled_windows: labelled.unlabeled,
      truncated_windows: arr.truncated,
      longest_window: longest,
      keys: keys.keys,
      keys_split: keys.split,
      closed: b.closed,
    },
    split: {
      method: splitMethod,
      seed: splitMethod === 'random' ? seed : null,
      test_fraction: fractions.testFraction,
      val_fraction: fractions.valFraction,
      order: 'rows sorted by window start time within each part; ranges are [start, end)',
      train,
      validation,
      test,
    },
    drain: b.drain,
    embedder: emb.meta,
    files: {},
    warnings: warned,
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
  // The parser that made these templates, so a bundle can start the sidecar from it (none for sequences: no stale one either).
  if (b.snapshot !== undefined) await b.snapshot()
  else await rm(join(opts.out, DRAIN_SNAPSHOT_FILE), { force: true })
  timings.write = performance.now() - t4
  timings.total = performance.now() - t0

  const closedWords = Object.entries(b.closed).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ')
  progress.log(`windows: ${meta.window.closed_at}`)
  progress.log(b.mode === 'session'
    ? `${N} windows from ${keys.keys} keys (${keys.split} keys in more than one window); closed: ${closedWords}`
    : `${N} windows; closed: ${closedWords}`)
  progress.log(`T=${T}: ${why}`)
  if (seq && opts.split === undefined) progress.log(`split: random (seed ${seed}), the default for sequences: they have no times, and such files group the sessions by label (all anomalies in one file), so an order-based split would put one kind in the test part only`)
  for (const w of warned) progress.log(`warning: ${w}`)
  progress.log(`${N} windows (${anomalous} anomalous), ${templates.length} templates, T=${T}, written to ${opts.out} in ${(timings.total / 1000).toFixed(2)} s`)
  return { meta, timings }
}

async function logsBuilt (opts: PrepareOptions, files: InputFile[], labels: LabelTable | undefined, policy: WindowPolicy, messageKey: string[],
  params: ReturnType<typeof checkParamOptions>, size: number, step: number, progress: Progress): Promise<Built> {
  const r = await fromLogs({
    format: opts.format as FormatName, files, input: opts.input ?? 'lines', messageKey, timeKey: opts.timeKey, keyField: opts.keyField,
    sessionKeyFrom: opts.sessionKeyFrom, preset: opts.preset, drainOptions: opts.drainOptions, logFormat: opts.logFormat,
    sessionKey: opts.sessionKey, timeFormat: opts.timeFormat, size, step, policy, maxLengthGiven: opts.maxLength !== undefined,
    labels, labelsFile: opts.labels, params, progress,
  })
  const { learned, grouping } = r
  const clock: Clock = learned.withoutTime === learned.lines.count ? 'none' : 'event'
  const window = grouping.mode === 'sliding'
    ? windowMeta({ mode: 'sliding', policy, clock, size: grouping.size, step: grouping.step })
    : windowMeta({ mode: 'session', policy, clock, sessionKey: grouping.keyPattern?.source ?? null, keyField: grouping.keyField ?? null, keyFrom: grouping.keyFrom })
  return {
    lines: learned.lines, windows: learned.windows, templates: r.templates, inputs: files, format: r.format.name, mode: grouping.mode, clock, window,
    counts: {
      lines: learned.lines.count,
      header_mismatch: learned.headerMismatch,
      lines_without_time: learned.withoutTime,
      lines_without_key: learned.unkeyed,
      ...(opts.input === 'ndjson' ? { invalid_records: learned.invalid } : {}),
      lines_relearned: r.relearned,
    },
    labelsBy: r.format.lineLabels ? 'line (first column)' : null,
    closed: learned.closed,
    drain: { preset: r.preset, options: r.drain.options, snapshot: DRAIN_SNAPSHOT_FILE },
    snapshot: async () => { await saveSnapshot(join(opts.out, DRAIN_SNAPSHOT_FILE), r.drain) },
    timeGoesBack: learned.timeGoesBack,
    timings: r.timings,
  }
}

async function sequencesBuilt (opts: PrepareOptions, files: InputFile[], anomalous: InputFile[], labels: LabelTable | undefined, P: number, progress: Progress): Promise<Built> {
  const t0 = performance.now()
  const r = await readSequences({ files, anomalous, templates: await readTemplates(opts.templates!), labels, P, progress })
  if (r.windows.length === 0) throw new PrepareError('PREPARE_INPUT', `${r.inputs.map(f => f.path).join(', ')}: no sequences`)
  const window = {
    ...windowMeta({ mode: 'session', policy: { idleMs: null, maxAgeMs: null, maxLength: null }, clock: 'none', keyFrom: 'sequence' }),
    closed_at: 'each input line is one window: a whole recorded session of template ids (no event times, no limits)',
  }
  return {
    lines: r.lines, windows: r.windows, templates: r.templates, inputs: r.inputs, format: 'sequences', mode: 'session', clock: 'none', window,
    counts: { lines: r.sequences, events: r.events, empty_sequences: r.empty },
    labelsBy: anomalous.length > 0 ? 'file (--anomalous-logs)' : null,
    closed: { sequence: r.windows.length },
    drain: { preset: null, options: null, snapshot: null },
    timeGoesBack: [],
    timings: { read: performance.now() - t0 },
  }
}
