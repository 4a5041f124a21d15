/**
 * `prepare --format sequences`: data sets that ship template ids per session
 * instead of raw text (DeepLog's hdfs_train / hdfs_test_abnormal, the AIT
 * OpenStack sequences).
 *
 *   one session per line    `<key>,<id> <id> ...`   (AIT: instance id, then ids)
 *                           `<id> <id> ...`         (DeepLog: key = `<file name>:<line>`)
 *   ids                     N or E<N>
 *   --templates FILE        CSV with header `EventId,EventTemplate` (ids E<N> or N), or a
 *                           plain file with one template per line (id = 1-based line number)
 *
 * Each line is one window (a whole recorded session: no time, no limits).
 * Template rows are numbered by first appearance and carry the same ids as
 * parsed lines (templateId of the text); there are no parameters, so every
 * parameter bucket is -1. A line's "time" is its ordinal in the input (the
 * data has none), used only to keep the input order.
 */
import { readFile } from 'node:fs/promises'
import { templateId } from '../mining/template-id.js'
import { type Window } from '../windowing/index.js'
import { PrepareError } from './errors.js'
import { type InputFile } from './inputs.js'
import { csvFields, type LabelTable } from './labels.js'
import { type Lines, type TemplateRow } from './passes.js'
import { type Progress } from './progress.js'
import { readLines } from './read-lines.js'

/** id -> template text */
export async function readTemplates (file: string): Promise<Map<number, string>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PrepareError('PREPARE_INPUT', `cannot read templates file ${file}: ${(err as Error).message}`, { cause: err })
  }
  const rows = text.split('\n').map(r => r.endsWith('\r') ? r.slice(0, -1) : r)
  if (rows.length > 0 && rows[rows.length - 1] === '') rows.pop()
  const out = new Map<number, string>()
  const head = csvFields(rows[0] ?? '').map(h => h.toLowerCase())
  if (head[0] === 'eventid' && head[1] === 'eventtemplate') {
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].trim() === '') continue
      const comma = rows[i].indexOf(',')
      const id = parseId(comma < 0 ? rows[i] : rows[i].slice(0, comma))
      if (id === undefined || comma < 0) throw new PrepareError('PREPARE_INPUT', `${file}:${i + 1}: expected "<EventId>,<EventTemplate>" with EventId E<N> or N, got ${JSON.stringify(rows[i].slice(0, 80))}`)
      // the template is the rest of the row (it may hold commas), unquoted when quoted
      const rest = rows[i].slice(comma + 1)
      out.set(id, /^\s*".*"\s*$/.test(rest) ? rest.trim().slice(1, -1).replace(/""/g, '"') : rest)
    }
  } else {
    rows.forEach((r, i) => { if (r.trim() !== '') out.set(i + 1, r) })
  }
  if (out.size === 0) throw new PrepareError('PREPARE_INPUT', `${file}: no templates`)
  return out
}

function parseId (s: string): number | undefined {
  const m = /^\s*[Ee]?(\d+)\s*$/.exec(s)
  return m === null ? undefined : Number(m[1])
}

export interface SequencesResult {
  lines: Lines
  windows: Window<number>[]
  templates: TemplateRow[]
  /** The files in the order read (--logs, then --anomalous-logs); Lines.fileStart indexes them. */
  inputs: InputFile[]
  /** sequence lines read, events (ids) in them, lines with a key but no ids (skipped) */
  sequences: number
  events: number
  empty: number
}

/** Read every sequence of `files` (normal unless labelled) and of `anomalous` (every one anomalous). */
export async function readSequences (o: {
  files: InputFile[]
  anomalous: InputFile[]
  templates: Map<number, string>
  labels: LabelTable | undefined
  P: number
  progress: Progress
}): Promise<SequencesResult> {
  const all = [...o.files.map(f => ({ f, anomalous: false })), ...o.anomalous.map(f => ({ f, anomalous: true }))]
  let cap = 1 << 16
  let lineNo = new Int32Array(cap)
  let time = new Float64Array(cap)
  let label = new Uint8Array(cap)
  let row = new Int32Array(cap)
  const fileStart: number[] = []
  const windows: Window<number>[] = []
  const rowOf = new Map<number, number>()
  const rowOfText = new Map<string, number>()
  const templates: TemplateRow[] = []
  let n = 0
  let sequences = 0
  let empty = 0
  const total = all.reduce((s, x) => s + x.f.bytes, 0)
  let before = 0
  o.progress.phase(`read sequences (${all.length} file${all.length > 1 ? 's' : ''})`, total)
  for (const { f, anomalous } of all) {
    fileStart.push(n)
    let no = 0
    for await (const chunk of readLines(f.path, b => o.progress.update(before + b))) {
      for (const raw of chunk) {
        no++
        if (raw.trim() === '') continue
        sequences++
        const comma = raw.indexOf(',')
        const key = comma < 0 ? `${f.name}:${no}` : raw.slice(0, comma).trim()
        const ids = (comma < 0 ? raw : raw.slice(comma + 1)).trim().split(/\s+/).filter(s => s !== '')
        if (ids.length === 0) { empty++; continue }
        const lineLabel = anomalous || (o.labels?.by === 'line' && o.labels.labels.get(String(no)) === 1) ? 1 : 0
        const items: number[] = new Array(ids.length)
        for (let j = 0; j < ids.length; j++) {
          const id = parseId(ids[j])
          const text = id === undefined ? undefined : o.templates.get(id)
          if (text === undefined) {
            throw new PrepareError('PREPARE_INPUT', `${f.path}:${no}: ${id === undefined ? `${JSON.stringify(ids[j])} is not a template id (N or E<N>)` : `template id ${ids[j]} is not in the templates file`}`)
          }
          let r = rowOf.get(id!)
          if (r === undefined) {
            // two ids with the same text are one template, as for parsed lines
            const tid = templateId(text)
            r = rowOfText.get(tid)
            if (r === undefined) { r = templates.length; rowOfText.set(tid, r); templates.push({ id: tid, text, count: 0 }) }
            rowOf.set(id!, r)
          }
          templates[r].count++
          if (n === cap) {
            cap *= 2
            const g = <T extends Int32Array | Float64Array | Uint8Array>(a: T): T => { const b = new (a.constructor as new (k: number) => T)(cap); b.set(a); return b }
            lineNo = g(lineNo); time = g(time); label = g(label); row = g(row)
          }
          lineNo[n] = no
          time[n] = sequences
          label[n] = lineLabel
          row[n] = r
          items[j] = n++
        }
        windows.push({ id: `${key}#${windows.length}`, key, items, owned: items.map(() => true), openedAt: sequences, closedAt: sequences, reason: 'flush' })
      }
    }
    before += f.bytes
  }
  o.progress.done(`${sequences} sequences, ${n} events, ${templates.length} templates`)
  const lines: Lines = {
    count: n, lineNo: lineNo.subarray(0, n), time: time.subarray(0, n), label: label.subarray(0, n), row: row.subarray(0, n),
    params: new Int32Array(n * o.P).fill(-1), fileStart,
  }
  return { lines, windows, templates, inputs: all.map(x => x.f), sequences, events: n, empty }
}
