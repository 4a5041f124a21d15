/**
 * The options of `prepare` (the CLI maps its flags onto these), their
 * defaults, and which of them do not go together.
 */
import { type DrainOptions } from '../mining/options.js'
import { PrepareError } from './errors.js'
import { type FormatName } from './formats.js'
import { type InputKind } from './inputs.js'
import { type Progress } from './progress.js'
import { type SplitMethod } from './split.js'

export type PrepareFormat = FormatName | 'sequences'

export interface PrepareOptions {
  /** A log format, or `sequences` (template ids per line, sequences.ts). */
  format: PrepareFormat
  /** Files or folders (a folder = its regular files by name); read one after the other. */
  logs: string | readonly string[]
  labels?: string
  /** Label values meaning normal; then every other non-empty value is anomalous (labels.ts). */
  normalLabels?: string[]
  out: string
  /** How each line is read: a log line (default) or an ndjson record (inputs.ts). */
  input?: InputKind
  /** ndjson: fields holding the log line (default: the sidecar's message_key, log then message). */
  messageKey?: string[]
  /** ndjson: fields holding the event time (default time, date, @timestamp). */
  timeKey?: string[]
  /** ndjson: session key from this record field (as the sidecar's window.key_field). */
  keyField?: string
  /** Session key = the base name of each file (one session per file). */
  sessionKeyFrom?: 'file'
  /** Window policy, ms / lines; null = no limit; undefined = the sidecar's default. */
  idleTimeout?: number | null
  maxAge?: number | null
  maxLength?: number | null
  /** sequences: the templates file, and files whose every session is anomalous. */
  templates?: string
  anomalousLogs?: string[]
  /** Drain preset name (config/drain-presets.yaml); default: the format's own. */
  preset?: string
  /** Sliding windows: lines per window (default 20) and step (default = size). */
  windowSize?: number
  step?: number
  /** T: longest window kept; longer windows keep their first T lines. Default: sliding = size, session = min(longest, 256). */
  maxLen?: number
  /** Default chronological; random for sequences. */
  split?: SplitMethod
  seed?: number
  valFraction?: number
  testFraction?: number
  /** Use this embedder file instead of distilling one from the training templates. */
  embedder?: string
  /** Distilled embedder size: pretrained words kept besides the training words, and n-gram table rows (distill.ts defaults). */
  embedderWords?: number
  embedderNgramBuckets?: number
  /** Prepared folders whose training templates also go into the distilled embedder (sources that will share one encoder). */
  embedderAlso?: string[]
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
  sequencesSplit: 'random' as SplitMethod,
  seed: 42,
  valFraction: 0.1,
  testFraction: 0.2,
}

const usage = (msg: string): never => { throw new PrepareError('PREPARE_USAGE', msg) }

/** Options that do not go together (the CLI checks the same through here). */
export function checkOptions (o: PrepareOptions): void {
  const given = (names: [string, unknown][]): string[] => names.filter(([, v]) => v !== undefined).map(([n]) => n)
  if (o.format === 'sequences') {
    if (o.templates === undefined) usage('--format sequences needs --templates FILE (the template text of each id)')
    const bad = given([['--input', o.input === 'lines' ? undefined : o.input], ['--key-field', o.keyField], ['--session-key-from', o.sessionKeyFrom], ['--session-key', o.sessionKey],
      ['--log-format', o.logFormat], ['--time-format', o.timeFormat], ['--preset', o.preset], ['--window-size', o.windowSize], ['--step', o.step],
      ['--idle-timeout', o.idleTimeout], ['--max-age', o.maxAge], ['--max-length', o.maxLength]])
    if (bad.length > 0) usage(`${bad.join(', ')} do not apply to --format sequences: each line is one whole session (template ids, no text, no times)`)
  } else {
    const bad = given([['--templates', o.templates], ['--anomalous-logs', o.anomalousLogs]])
    if (bad.length > 0) usage(`${bad.join(', ')} apply to --format sequences only`)
  }
  if (o.input !== undefined && o.input !== 'lines' && o.input !== 'ndjson') usage(`--input must be lines or ndjson, got ${JSON.stringify(o.input)}`)
  if (o.input !== 'ndjson') {
    const bad = given([['--key-field', o.keyField], ['--message-key', o.messageKey], ['--time-key', o.timeKey]])
    if (bad.length > 0) usage(`${bad.join(', ')} read record fields: they need --input ndjson`)
  }
  if (o.sessionKeyFrom !== undefined) {
    if (o.sessionKeyFrom !== 'file') usage(`--session-key-from must be file (a pattern is --session-key, a record field --key-field), got ${JSON.stringify(o.sessionKeyFrom)}`)
    const bad = given([['--session-key', o.sessionKey], ['--key-field', o.keyField]])
    if (bad.length > 0) usage(`--session-key-from file takes the key from the file name; it does not go with ${bad.join(', ')}`)
  }
}
