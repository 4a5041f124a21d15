/**
 * What `prepare` reads: the files behind `--logs`, and one input line →
 * { content, time, label, fields } for the passes.
 *
 * --logs PATH (repeatable): a file, or a folder = its regular files sorted by
 *   name (hidden files and subfolders skipped). Files are read one after the
 *   other; line numbers stay per file.
 *
 * --input lines (default): each line is a log line, its header parsed by --format.
 * --input ndjson: each line is a JSON object (a capture of records, Fluent Bit's
 *   file output in json_lines): the log line from the first string field of
 *   --message-key (default the sidecar's `message_key`: log, message), the
 *   record itself as the fields a --key-field reads (as the sidecar's
 *   `window.key_field`), the event time from --time-key (default: the first of
 *   time, date, @timestamp present; epoch s / ms, or anything Date.parse reads),
 *   else the line header (--format), else none. A line that is not a JSON
 *   object, or has no log line, is counted (`invalid_records`) and skipped.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { PrepareError } from './errors.js'
import { parseTimeValue, type LogFormat } from './formats.js'

export interface InputFile {
  /** The path as given, or folder + name as found. */
  path: string
  /** Base name: the session key with --session-key-from file. */
  name: string
  bytes: number
}

/** Files behind the --logs paths, in order: each file as given, each folder's regular files by name. */
export async function listInputs (paths: readonly string[], option = '--logs'): Promise<InputFile[]> {
  const out: InputFile[] = []
  for (const p of paths) {
    let s
    try {
      s = await stat(p)
    } catch (err) {
      throw new PrepareError('PREPARE_INPUT', `cannot read log file ${p}: ${(err as Error).message}`, { cause: err })
    }
    if (s.isFile()) { out.push({ path: p, name: basename(p), bytes: s.size }); continue }
    if (!s.isDirectory()) throw new PrepareError('PREPARE_INPUT', `${option} ${p}: not a file or a folder`)
    const names = (await readdir(p)).filter(n => !n.startsWith('.')).sort()
    let found = 0
    for (const n of names) {
      const f = join(p, n)
      const fs = await stat(f).catch(() => undefined)
      if (fs?.isFile() !== true) continue
      out.push({ path: f, name: n, bytes: fs.size })
      found++
    }
    if (found === 0) throw new PrepareError('PREPARE_INPUT', `${option} ${p}: the folder holds no regular file (hidden files and subfolders are skipped)`)
  }
  return out
}

export type InputKind = 'lines' | 'ndjson'

export const DEFAULT_TIME_KEYS = ['time', 'date', '@timestamp'] as const

export interface DecodeOptions {
  input: InputKind
  /** ndjson: fields holding the log line, tried in order. */
  messageKey: readonly string[]
  /** ndjson: fields holding the event time, tried in order. */
  timeKey: readonly string[]
}

export interface Decoded {
  content: string
  /** Event time, epoch seconds; NaN when the line has none. */
  time: number
  label?: 0 | 1
  /** ndjson: the record, for --key-field. */
  fields?: Record<string, unknown>
  /** The header regex did not match (the whole line is the content). */
  mismatch: boolean
}

/** 'skip': an empty line or a format's header row (not counted); 'invalid': an ndjson line that is not a record with a log line. */
export type LineDecoder = (raw: string) => Decoded | 'skip' | 'invalid'

/** Epoch seconds of a record's time value (number: epoch s or ms; string: as parseTimeValue); NaN otherwise. */
export function recordTime (v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? (v > 1e11 ? v / 1000 : v) : NaN
  if (typeof v === 'string') return parseTimeValue(v)
  return NaN
}

export function lineDecoder (format: LogFormat, o: DecodeOptions): LineDecoder {
  const header = (message: string): Decoded | 'skip' => {
    if (message.trim() === '' || format.skip?.(message) === true) return 'skip'
    const p = format.parse(message)
    if (p === null) return { content: message, time: NaN, mismatch: true }
    return { content: p.content, time: p.time, label: p.label, mismatch: false }
  }
  if (o.input === 'lines') return header
  return raw => {
    if (raw.trim() === '') return 'skip'
    let rec: unknown
    try { rec = JSON.parse(raw) } catch { return 'invalid' }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return 'invalid'
    const fields = rec as Record<string, unknown>
    let message: string | undefined
    for (const k of o.messageKey) if (typeof fields[k] === 'string') { message = fields[k] as string; break }
    if (message === undefined) return 'invalid'
    // as the sidecar reads a tailed line (source-runtime.ts `message`): a trailing line break is not content
    const d = header(message.replace(/\r?\n$|\r$/, ''))
    if (d === 'skip') return 'skip'
    for (const k of o.timeKey) {
      if (fields[k] === undefined) continue
      const t = recordTime(fields[k])
      if (!Number.isNaN(t)) { d.time = t; break }
    }
    d.fields = fields
    return d
  }
}
