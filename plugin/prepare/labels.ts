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
 * Label values (case-insensitive): normal = Normal, 0, false, -;
 * anomalous = Anomaly, Anomalous, Abnormal, 1, true, alert. Anything else is
 * an error naming the row, so a typo never silently becomes a label.
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

const NORMAL = new Set(['normal', '0', 'false', '-'])
const ANOMALOUS = new Set(['anomaly', 'anomalous', 'abnormal', '1', 'true', 'alert'])
const LINE_HEADERS = new Set(['line', 'line_number', 'lineno', 'line_no'])

const unquote = (s: string): string => {
  const t = s.trim()
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t
}

export function parseLabelCsv (text: string, name = 'labels'): LabelTable {
  const rows = text.split(/\r?\n/)
  let header: string | undefined
  const labels = new Map<string, 0 | 1>()
  let anomalous = 0
  let by: 'key' | 'line' = 'key'
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    if (row.trim() === '') continue
    const comma = row.lastIndexOf(',')
    if (comma < 0) throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: expected "<key>,<label>", got ${JSON.stringify(row.slice(0, 80))}`)
    const key = unquote(row.slice(0, comma))
    const value = unquote(row.slice(comma + 1)).toLowerCase()
    if (header === undefined) {
      header = key
      by = LINE_HEADERS.has(key.toLowerCase()) ? 'line' : 'key'
      continue
    }
    let label: 0 | 1
    if (NORMAL.has(value)) label = 0
    else if (ANOMALOUS.has(value)) label = 1
    else throw new PrepareError('PREPARE_LABELS', `${name}:${i + 1}: unknown label ${JSON.stringify(value)} (use Normal/Anomaly or 0/1)`)
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

export async function readLabelFile (file: string): Promise<LabelTable> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PrepareError('PREPARE_LABELS', `cannot read labels file ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseLabelCsv(text, file)
}
