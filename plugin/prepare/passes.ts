/**
 * The two streaming passes of `prepare` over the log file (see prepare.ts for
 * why there are two).
 *
 * pass 1 (learnPass): header -> Drain.add, and the line index into the
 *   session or sliding windower, with the line's event time as `now`; keeps
 *   per line only its number, time and label.
 * pass 2 (finalPass): header -> Drain.match (no learning): final template row
 *   and parameter buckets of every line.
 */
import { type Drain } from '../mining/drain.js'
import { SessionWindows, SlidingWindows, type Window } from '../windowing/index.js'
import { writeParamBuckets, type ParamBucketOptions } from '../embedding/param-buckets.js'
import { templateOf } from '../scoring/features.js'
import { type LogFormat } from './formats.js'
import { type LabelTable } from './labels.js'
import { type Progress } from './progress.js'
import { readLines } from './read-lines.js'

/** Per-line arrays, indexed by line index (non-empty log lines in file order). */
export interface Lines {
  count: number
  /** 1-based line number in the file */
  lineNo: Int32Array
  /** event time, epoch seconds */
  time: Float64Array
  /** 1 = the line itself is labelled anomalous (first column, or a by-line labels file) */
  label: Uint8Array
  /** pass 2: row in templates.jsonl */
  row: Int32Array
  /** pass 2: P bucket ids per line */
  params: Int32Array
}

export interface LearnResult {
  lines: Lines
  windows: Window<number>[]
  headerMismatch: number
  /** Lines whose header gave no time: they take the previous line's time (or their line number). */
  withoutTime: number
  unkeyed: number
}

function grow<T extends Float64Array | Uint8Array | Int32Array> (a: T, need: number): T {
  if (need <= a.length) return a
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2))
  b.set(a)
  return b
}

const isSkipped = (format: LogFormat, raw: string): boolean => raw.trim() === '' || format.skip?.(raw) === true

export async function learnPass (o: {
  file: string
  bytes: number
  format: LogFormat
  drain: Drain
  labels: LabelTable | undefined
  size: number
  step: number
  progress: Progress
}): Promise<LearnResult> {
  const { format, drain, labels, progress } = o
  const n0 = 1 << 16
  const lines: Lines = { count: 0, lineNo: new Int32Array(n0), time: new Float64Array(n0), label: new Uint8Array(n0), row: new Int32Array(0), params: new Int32Array(0) }
  const windows: Window<number>[] = []
  // Offline, sessions end only at the end of the file (one window per key) and
  // streams never idle out: the sidecar's limits are for wall-clock serving.
  const session = format.mode === 'session'
    ? new SessionWindows<number>({ keyPattern: format.sessionKey, unkeyed: 'pass', idleMs: Infinity, maxAgeMs: Infinity, maxLength: Infinity, maxOpen: Infinity })
    : undefined
  const sliding = format.mode === 'sliding'
    ? new SlidingWindows<number>({ size: o.size, step: o.step, idleMs: Infinity, maxAgeMs: Infinity, maxOpen: Infinity })
    : undefined
  let headerMismatch = 0
  let withoutTime = 0
  let unkeyed = 0
  let lastTime = NaN
  let lineNo = 0
  progress.phase('pass 1/2 (learn templates, windows)', o.bytes)
  for await (const chunk of readLines(o.file, b => progress.update(b))) {
    for (const raw of chunk) {
      lineNo++
      if (isSkipped(format, raw)) continue
      let parsed = format.parse(raw)
      if (parsed === null) { headerMismatch++; parsed = { content: raw, time: NaN } }
      let time = parsed.time
      if (Number.isNaN(time)) { withoutTime++; time = Number.isNaN(lastTime) ? lineNo : lastTime }
      lastTime = time
      const i = lines.count++
      lines.time = grow(lines.time, lines.count)
      lines.label = grow(lines.label, lines.count)
      lines.lineNo = grow(lines.lineNo, lines.count)
      lines.lineNo[i] = lineNo
      lines.time[i] = time
      let label = parsed.label ?? 0
      if (labels?.by === 'line' && labels.labels.get(String(lineNo)) === 1) label = 1
      lines.label[i] = label
      drain.add(parsed.content)
      if (session !== undefined) {
        const r = session.add(i, parsed.content, undefined, time * 1000)
        if (r.unkeyed) unkeyed++
        for (const w of r.closed) windows.push(w)
      } else {
        for (const w of sliding!.add(i, '', time * 1000)) windows.push(w)
      }
    }
  }
  for (const w of (session ?? sliding!).flushAll(lastTime * 1000)) windows.push(w)
  progress.done(`${lines.count} lines, ${drain.size} templates, ${windows.length} windows`)
  return { lines, windows, headerMismatch, withoutTime, unkeyed }
}

export interface TemplateRow { id: string, text: string, count: number }

export async function finalPass (o: {
  file: string
  bytes: number
  format: LogFormat
  drain: Drain
  lines: Lines
  params: ParamBucketOptions
  progress: Progress
}): Promise<{ templates: TemplateRow[], relearned: number }> {
  const { format, drain, lines, progress } = o
  const P = o.params.maxParams
  lines.row = new Int32Array(lines.count)
  lines.params = new Int32Array(lines.count * P)
  const rowOf = new Map<string, number>()
  const templates: TemplateRow[] = []
  let relearned = 0
  let k = 0
  progress.phase('pass 2/2 (final templates, parameters)', o.bytes)
  for await (const chunk of readLines(o.file, b => progress.update(b))) {
    for (const raw of chunk) {
      if (isSkipped(format, raw)) continue
      const content = format.parse(raw)?.content ?? raw
      // The sidecar's own rule (scoring/features.ts): match, else learn. Here a
      // miss means a cluster evicted by maxClusters (counted in meta).
      const { result: r, learned } = templateOf(drain, content)
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
  progress.done(`${templates.length} templates`)
  return { templates, relearned }
}
