/**
 * The two streaming passes of `prepare` over the input files (see prepare.ts
 * for why there are two). Files are read one after the other, in order.
 *
 * pass 1 (learnPass): line -> decoder (inputs.ts: header, or ndjson record)
 *   -> Drain.add, and the line index into the session or sliding windower with
 *   the line's event time (ms) as `now` and the window policy's limits
 *   (window-policy.ts), exactly as the sidecar's windowers run; keeps per line
 *   only its number, time and label.
 * pass 2 (finalPass): line -> decoder -> Drain.match (no learning): final
 *   template row and parameter buckets of every line.
 *
 * A line without an event time takes the previous line's time (for the order
 * of windows), or its ordinal in the input when no line before it had one; it
 * does not move the windowers' clock (time limits never cut by line numbers).
 */
import { type Drain } from '../mining/drain.js'
import { SessionWindows, SlidingWindows, type Window, type WindowStats } from '../windowing/index.js'
import { writeParamBuckets, type ParamBucketOptions } from '../embedding/param-buckets.js'
import { templateOf } from '../scoring/features.js'
import { type InputFile, type LineDecoder } from './inputs.js'
import { type LabelTable } from './labels.js'
import { type Progress } from './progress.js'
import { readLines } from './read-lines.js'
import { limit, type KeyFrom, type WindowPolicy } from './window-policy.js'

/** Per-line arrays, indexed by line index (the lines kept, in input order). */
export interface Lines {
  count: number
  /** 1-based line number in its file */
  lineNo: Int32Array
  /** event time, epoch seconds */
  time: Float64Array
  /** 1 = the line itself is labelled anomalous (first column, or a by-line labels file) */
  label: Uint8Array
  /** pass 2: row in templates.jsonl */
  row: Int32Array
  /** pass 2: P bucket ids per line */
  params: Int32Array
  /** fileStart[f] = index of the first line of file f (lines are in file order) */
  fileStart: number[]
}

/** How lines are grouped: sessions by key, or sliding windows of one stream. */
export type Grouping =
  | { mode: 'session', keyFrom: Exclude<KeyFrom, 'sequence'>, keyPattern?: RegExp, keyField?: string }
  | { mode: 'sliding', size: number, step: number }

export interface LearnResult {
  lines: Lines
  windows: Window<number>[]
  headerMismatch: number
  /** Lines that gave no time (header or record). */
  withoutTime: number
  unkeyed: number
  /** ndjson lines that are not a record with a log line. */
  invalid: number
  /** Windows by how they closed, summed over the windowers' stats(). */
  closed: WindowStats['closed']
  /** Files whose first event time is earlier than the latest one of the files before (the clock cannot go back). */
  timeGoesBack: { file: string, bySeconds: number }[]
}

function grow<T extends Float64Array | Uint8Array | Int32Array> (a: T, need: number): T {
  if (need <= a.length) return a
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

/** Index of the file holding line `i`. */
export function fileOfLine (lines: Lines, i: number): number {
  let lo = 0
  let hi = lines.fileStart.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (lines.fileStart[mid] <= i) lo = mid
    else hi = mid - 1
  }
  return lo
}

type Windower = { kind: 'session', w: SessionWindows<number> } | { kind: 'sliding', w: SlidingWindows<number> }

function newWindower (g: Grouping, p: WindowPolicy): Windower {
  // maxOpen stays unbounded offline: the sidecar's cap is a memory guard, not part of the policy.
  if (g.mode === 'sliding') return { kind: 'sliding', w: new SlidingWindows<number>({ size: g.size, step: g.step, idleMs: limit(p.idleMs), maxAgeMs: limit(p.maxAgeMs), maxOpen: Infinity }) }
  const keyField = g.keyFrom === 'file' ? FILE_FIELD : g.keyField
  return { kind: 'session', w: new SessionWindows<number>({ keyPattern: g.keyPattern, keyField, unkeyed: 'pass', idleMs: limit(p.idleMs), maxAgeMs: limit(p.maxAgeMs), maxLength: limit(p.maxLength), maxOpen: Infinity }) }
}

/** --session-key-from file: the key is handed to the windower as a record field, as the sidecar gets it (e.g. Fluent Bit tail's Path_Key). */
const FILE_FIELD = 'file'

export async function learnPass (o: {
  files: InputFile[]
  decode: LineDecoder
  grouping: Grouping
  policy: WindowPolicy
  drain: Drain
  labels: LabelTable | undefined
  progress: Progress
}): Promise<LearnResult> {
  const { decode, grouping, drain, labels, progress } = o
  const n0 = 1 << 16
  const lines: Lines = { count: 0, lineNo: new Int32Array(n0), time: new Float64Array(n0), label: new Uint8Array(n0), row: new Int32Array(0), params: new Int32Array(0), fileStart: [] }
  const windows: Window<number>[] = []
  const closed = {} as WindowStats['closed']
  const retire = (wr: Windower, now: number): void => {
    for (const w of wr.w.flushAll(now)) windows.push(w)
    for (const [r, n] of Object.entries(wr.w.stats().closed)) closed[r as keyof typeof closed] = (closed[r as keyof typeof closed] ?? 0) + n
  }
  // Sessions keyed by file never span files: each file gets its own windower (and its own clock).
  const perFile = grouping.mode === 'session' && grouping.keyFrom === 'file'
  let windower = newWindower(grouping, o.policy)
  let headerMismatch = 0
  let withoutTime = 0
  let unkeyed = 0
  let invalid = 0
  let lastTime = NaN
  let clockMs = 0
  let latestMs = -Infinity
  const timeGoesBack: LearnResult['timeGoesBack'] = []
  const total = o.files.reduce((s, f) => s + f.bytes, 0)
  let before = 0
  progress.phase(`pass 1/2 (learn templates, windows${o.files.length > 1 ? `; ${o.files.length} files` : ''})`, total)
  for (let f = 0; f < o.files.length; f++) {
    const file = o.files[f]
    lines.fileStart.push(lines.count)
    if (perFile && f > 0) { retire(windower, clockMs); windower = newWindower(grouping, o.policy); clockMs = 0; latestMs = -Infinity }
    const fields = perFile ? { [FILE_FIELD]: file.name } : undefined
    let firstTimed = true
    let lineNo = 0
    for await (const chunk of readLines(file.path, b => progress.update(before + b))) {
      for (const raw of chunk) {
        lineNo++
        const d = decode(raw)
        if (d === 'skip') continue
        if (d === 'invalid') { invalid++; continue }
        if (d.mismatch) headerMismatch++
        const i = lines.count++
        let time = d.time
        if (Number.isNaN(time)) {
          withoutTime++
          time = Number.isNaN(lastTime) ? i + 1 : lastTime
        } else {
          const ms = time * 1000
          if (firstTimed && ms < latestMs) timeGoesBack.push({ file: file.path, bySeconds: (latestMs - ms) / 1000 })
          firstTimed = false
          if (ms > latestMs) latestMs = ms
          clockMs = ms
        }
        lastTime = time
        lines.time = grow(lines.time, lines.count)
        lines.label = grow(lines.label, lines.count)
        lines.lineNo = grow(lines.lineNo, lines.count)
        lines.lineNo[i] = lineNo
        lines.time[i] = time
        let label = d.label ?? 0
        if (labels?.by === 'line' && labels.labels.get(String(lineNo)) === 1) label = 1
        lines.label[i] = label
        drain.add(d.content)
        if (windower.kind === 'session') {
          const r = windower.w.add(i, d.content, fields ?? d.fields, clockMs)
          if (r.unkeyed) unkeyed++
          for (const w of r.closed) windows.push(w)
        } else {
          for (const w of windower.w.add(i, '', clockMs)) windows.push(w)
        }
      }
    }
    before += file.bytes
  }
  retire(windower, clockMs)
  progress.done(`${lines.count} lines, ${drain.size} templates, ${windows.length} windows`)
  return { lines, windows, headerMismatch, withoutTime, unkeyed, invalid, closed, timeGoesBack }
}

export interface TemplateRow { id: string, text: string, count: number }

export async function finalPass (o: {
  files: InputFile[]
  decode: LineDecoder
  drain: Drain
  lines: Lines
  params: ParamBucketOptions
  progress: Progress
}): Promise<{ templates: TemplateRow[], relearned: number }> {
  const { decode, drain, lines, progress } = o
  const P = o.params.maxParams
  lines.row = new Int32Array(lines.count)
  lines.params = new Int32Array(lines.count * P)
  const rowOf = new Map<string, number>()
  const templates: TemplateRow[] = []
  let relearned = 0
  let k = 0
  const total = o.files.reduce((s, f) => s + f.bytes, 0)
  let before = 0
  progress.phase('pass 2/2 (final templates, parameters)', total)
  for (const file of o.files) {
    for await (const chunk of readLines(file.path, b => progress.update(before + b))) {
      for (const raw of chunk) {
        const d = decode(raw)
        if (d === 'skip' || d === 'invalid') continue
        // The sidecar's own rule (scoring/features.ts): match, else learn. Here a
        // miss means a cluster evicted by maxClusters (counted in meta).
        const { result: r, learned } = templateOf(drain, d.content)
        if (learned) relearned++
        let row = rowOf.get(r.templateId)
        if (row === undefined) {
          row = templates.length
          rowOf.set(r.templateId, row)
          templates.push({ id: r.templateId, text: r.template, count: 0 })
        }
        templates[row].count++
        lines.row[k] = row
        writeParamBuckets(r.params, lines.params, k * P, o.params)
        k++
      }
    }
    before += file.bytes
  }
  progress.done(`${templates.length} templates`)
  return { templates, relearned }
}
