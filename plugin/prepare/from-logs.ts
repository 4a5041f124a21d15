/**
 * Raw logs (lines or ndjson records) -> lines, windows and final templates:
 * the Drain preset, how lines are grouped (the session key: pattern, record
 * field or file name; else sliding windows), and the two passes (passes.ts).
 */
import { Drain } from '../mining/drain.js'
import { type DrainOptions } from '../mining/options.js'
import { presetFor } from '../mining/presets.js'
import { checkParamOptions } from '../embedding/param-buckets.js'
import { PrepareError } from './errors.js'
import { DEFAULT_PRESETS, logFormat, type FormatName, type LogFormat } from './formats.js'
import { DEFAULT_TIME_KEYS, lineDecoder, type InputFile, type InputKind } from './inputs.js'
import { type LabelTable } from './labels.js'
import { finalPass, learnPass, type Grouping, type LearnResult, type TemplateRow } from './passes.js'
import { type Progress } from './progress.js'
import { type WindowPolicy } from './window-policy.js'

export interface FromLogsOptions {
  format: FormatName
  files: InputFile[]
  input: InputKind
  messageKey: string[]
  timeKey?: string[]
  keyField?: string
  sessionKeyFrom?: 'file'
  preset?: string
  drainOptions?: Partial<DrainOptions>
  logFormat?: string
  sessionKey?: string
  timeFormat?: string
  size: number
  step: number
  policy: WindowPolicy
  /** --max-length was given (it applies to sessions only) */
  maxLengthGiven: boolean
  labels: LabelTable | undefined
  labelsFile?: string
  params: ReturnType<typeof checkParamOptions>
  progress: Progress
}

export interface FromLogs {
  format: LogFormat
  grouping: Grouping
  drain: Drain
  preset: string | null
  learned: LearnResult
  templates: TemplateRow[]
  relearned: number
  timings: { pass1: number, pass2: number }
}

/** The Drain preset: --preset, else the format's own, else (no such preset) Drain's defaults. */
function resolveDrain (o: FromLogsOptions): { options: Partial<DrainOptions>, preset: string | null, logFormat?: string } {
  if (o.drainOptions !== undefined) return { options: o.drainOptions, preset: null }
  const name = o.preset ?? DEFAULT_PRESETS[o.format]
  try {
    const p = presetFor(name)
    // A preset's header format only stands in for generic's --log-format; the named formats have their own.
    return { options: p.drain, preset: p.name, logFormat: o.format === 'generic' ? p.logFormat : undefined }
  } catch (err) {
    if (o.preset !== undefined) throw new PrepareError('PREPARE_USAGE', `--preset ${name}: ${(err as Error).message}`, { cause: err })
    o.progress.log(`no Drain preset "${name}" (${(err as Error).message.split('\n')[0]}); using Drain defaults`)
    return { options: {}, preset: null }
  }
}

/** Sessions keyed by file name, by record field (+ the format's pattern, as the sidecar tries both), or by pattern; else sliding. */
export function groupingOf (format: LogFormat, o: { sessionKeyFrom?: 'file', keyField?: string, size: number, step: number }): Grouping {
  if (o.sessionKeyFrom === 'file') return { mode: 'session', keyFrom: 'file' }
  if (o.keyField !== undefined) return { mode: 'session', keyFrom: 'field', keyField: o.keyField, keyPattern: format.sessionKey }
  if (format.mode === 'session') return { mode: 'session', keyFrom: 'pattern', keyPattern: format.sessionKey }
  return { mode: 'sliding', size: o.size, step: o.step }
}

export async function fromLogs (o: FromLogsOptions): Promise<FromLogs> {
  const drainCfg = resolveDrain(o)
  const format = logFormat(o.format, { logFormat: o.logFormat ?? drainCfg.logFormat, sessionKey: o.sessionKey, timeFormat: o.timeFormat })
  const grouping = groupingOf(format, o)
  if (o.labels?.by === 'key' && grouping.mode !== 'session') {
    throw new PrepareError('PREPARE_USAGE', `${o.labelsFile} labels sessions by key, but --format ${format.name} uses sliding windows; give --session-key (generic), --key-field, --session-key-from file, or a by-line labels file`)
  }
  if (grouping.mode === 'sliding' && o.maxLengthGiven) {
    throw new PrepareError('PREPARE_USAGE', '--max-length applies to session windows; a sliding window is bounded by --window-size')
  }
  const decode = lineDecoder(format, { input: o.input, messageKey: o.messageKey, timeKey: o.timeKey ?? DEFAULT_TIME_KEYS })
  const drain = new Drain(drainCfg.options)
  const name = o.files.length === 1 ? o.files[0].path : `${o.files.length} files`

  // ── pass 1: learn templates, build windows of line indices ──
  const t0 = performance.now()
  const learned = await learnPass({ files: o.files, decode, grouping, policy: o.policy, drain, labels: o.labels, progress: o.progress })
  const pass1 = performance.now() - t0
  const { lines, windows } = learned
  if (lines.count === 0) throw new PrepareError('PREPARE_INPUT', `${name}: no log lines${learned.invalid > 0 ? ` (${learned.invalid} lines are not JSON records with a ${o.messageKey.join(' or ')} field)` : ''}`)
  if (learned.headerMismatch === lines.count && o.format !== 'generic') {
    throw new PrepareError('PREPARE_INPUT', `${name}: no line matches the ${o.format} header format; is --format right?`)
  }
  if (windows.length === 0) throw new PrepareError('PREPARE_INPUT', `${name}: no windows (no line has a session key?)`)

  // ── pass 2: final template and parameters of every line ──
  const t1 = performance.now()
  const { templates, relearned } = await finalPass({ files: o.files, decode, drain, lines, params: o.params, progress: o.progress })
  return { format, grouping, drain, preset: drainCfg.preset, learned, templates, relearned, timings: { pass1, pass2: performance.now() - t1 } }
}
