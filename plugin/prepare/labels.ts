/**
 * Label files for `prepare --labels FILE`. One CSV format, two kinds:
 *
 *   BlockId,Label                 by key: the first column is a session key
 *   blk_-1523128770808340095,Normal        (loghub anomaly_label.csv is this)
 *
 *   line,label                    by line: the first column header is `line`
 *   17,1                          (or `line_number`, `lineno`); 1-based line
 *                                 numbers of the log file; lines not listed are normal
 *
 * The label is the column headed `label` (case-insensitive) when the header
 * has one, the key the first column (e.g. `instance_id,label,in_ait_split,raw_files`);
 * otherwise the label is the last column and the key everything before it.
 *
 * Label values (case-insensitive): normal = Normal, 0, false, -;
 * anomalous = Anomaly, Anomalous, Abnormal, 1, true, alert. Anything else is
 * an error naming the row, so a typo never silently becomes a label.
 * With `normalLabels` (--normal-label V, repeatable) the table is those values
 * instead: they mean normal, every other non-empty value anomalous, and a row
 * with an empty value labels nothing (its key stays unlabelled).
 * A header row is required; empty lines are skipped; fields may be quoted.
 *
 * A session window is anomalous when its key is; a sliding window when any of
 * its lines is (by-line labels, or the first column of bgl/thunderbird lines).
 */
import { readFile } from 'node:fs/promises'
import { PrepareError } from './errors.js'

export interface LabelTable {
  by: 'key' | 'line'
  /** key or 1-based line number (as a string) -> 0 | 1 */
  labels: Map<string, 0 | 1>
  anomalous: number
}

export interface LabelOptions {
  /** Values that mean normal; every other non-empty value is anomalous. */
  normalLabels?: readonly string[]
}

const NORMAL = new Set(['normal', '0', 'false', '-'])
const ANOMALOUS = new Set(['anomaly', 'anomalous', 'abnormal', '1', 'true', 'alert'])
const LINE_HEADERS = new Set(['line', 'line_number', 'lineno', 'line_no'])

const unquote = (s: string): string => {
  const t = s.trim()
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t
}

/** CSV fields of one row, trimmed (RFC 4180 quotes, `""` inside them; no line breaks inside fields). */
export function csvFields (row: string): string[] {
  const out: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < row.length; i++) {
    const c = row[i]
    if (quoted) {
      if (c !== '"') field += c
      else if (row[i + 1] === '"') { field += '"'; i++ } else quoted = false
    } else if (c === '"' && field.trim() === '') {
      quoted = true
      field = ''
    } else if (c === ',') {
      out.push(field.trim())
      field = ''
    } else field += c
  }
  out.push(field.trim())
  return out
}

export function parseLabelCsv (text: string, name = 'labels', opts: LabelOptions = {}): LabelTable {
  const rows = text.split(/\r?\n/)
  let header: string[] | undefined
  /** index of the `label` column, or -1: the last column, key = all before it */
  let labelCol = -1
  const labels = new Map<string, 0 | 1>()
  let anomalous = 0
  let by: 'key' | 'line' = 'key'
  const normal = opts.normalLabels !== undefined ? new Set(opts.normalLabels.map(v => v.trim().toLowerCase())) : undefined
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    if (row.trim() === '') continue
    let key: string
    let value: string
    if (header === undefined || labelCol < 0) {
      const comma = row.lastIndexOf(',')
      if (comma < 0) throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: expected "<key>,<label>", got ${JSON.stringify(row.slice(0, 80))}`)
      key = unquote(row.slice(0, comma))
      value = unquote(row.slice(comma + 1)).toLowerCase()
    } else {
      const f = csvFields(row)
      if (f.length <= labelCol) throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: expected ${header.length} columns (${header.join(',')}), got ${f.length}`)
      key = f[0]
      value = f[labelCol].toLowerCase()
    }
    if (header === undefined) {
      header = csvFields(row)
      const at = header.findIndex(h => h.toLowerCase() === 'label')
      labelCol = at > 0 ? at : -1
      by = LINE_HEADERS.has(header[0].toLowerCase()) ? 'line' : 'key'
      continue
    }
    let label: 0 | 1
    if (normal !== undefined) {
      if (value === '') continue
      label = normal.has(value) ? 0 : 1
    } else if (NORMAL.has(value)) label = 0
    else if (ANOMALOUS.has(value)) label = 1
    else throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: unknown label ${JSON.stringify(value)} (use Normal/Anomaly or 0/1, or name the normal values with --normal-label)`)
    let k = key
    if (by === 'line') {
      const n = Number(key)
      if (!Number.isInteger(n) || n < 1) throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: line number must be an integer >= 1, got ${JSON.stringify(key)}`)
      k = String(n)
    }
    const before = labels.get(k)
    if (before === 1) anomalous--
    labels.set(k, label)
    if (label === 1) anomalous++
  }
  if (header === undefined) throw new PrepareError('PREPARE_LABELS', `${name}: empty labels file`)
  return { by, labels, anomalous }
}

export async function readLabelFile (file: string, opts: LabelOptions = {}): Promise<LabelTable> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PrepareError('PREPARE_LABELS', `cannot read labels file ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseLabelCsv(text, file, opts)
}
