/**
 * `fluent-anomaly prepare`: raw logs + labels -> training arrays (plugin/prepare/).
 * Exit codes: 0 ok, 64 bad usage, 65 bad labels file, 66 unreadable or
 * unparseable log file, 1 anything else.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PrepareError, type PrepareErrorCode } from '../prepare/errors.js'
import { FORMAT_NAMES, compileTimeFormat } from '../prepare/formats.js'
import { DEFAULT_TIME_KEYS } from '../prepare/inputs.js'
import { checkOptions, prepare, PREPARE_DEFAULTS, type PrepareFormat, type PrepareOptions } from '../prepare/prepare.js'
import { parseCountOption, parseDurationOption, preparedLike, sidecarDefaults } from '../prepare/window-policy.js'
import { createProgress } from '../prepare/progress.js'
import { DISTILL_DEFAULTS } from '../embedding/distill.js'

/** A limit as the option takes it: 30s, 10m, none. */
function limitText (v: number | null): string {
  if (v === null) return 'none'
  for (const [unit, n] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (v % n === 0) return `${v / n}${unit}`
  return `${v}ms`
}

export const PREPARE_USAGE = `usage: fluent-anomaly prepare --format hdfs|bgl|thunderbird|generic|sequences --logs PATH --out DIR [options]

  --format F          hdfs: session windows by block id, labels from --labels (anomaly_label.csv)
                      bgl, thunderbird: first column is the label (- = normal); sliding windows
                      generic: --log-format / --session-key below; labels from --labels
                      sequences: template ids per line, one session each (needs --templates)
  --logs PATH         a log file or a folder (its regular files by name, hidden ones skipped);
                      repeatable; files are read one after the other
  --labels FILE       CSV "key,label" (session labels, e.g. BlockId,Label; the column named "label"
                      when the header has one) or "line,label" (1-based line numbers; one log file only)
  --normal-label V    these label values mean normal, any other non-empty value anomalous (repeatable;
                      default: Normal/Anomaly, 0/1 and nothing else)
  --out DIR           output folder (created)

 windows (the policy the sidecar serves, recorded in meta.json; limits in event time):
  --idle-timeout D    close a window after D without a line (default ${limitText(sidecarDefaults().policy.idleMs)}); D: 500ms, 30s, 5m, 12h, or none
  --max-age D         close a session D after its first line / a partial sliding window whose oldest
                      line waited D (default ${limitText(sidecarDefaults().policy.maxAgeMs)}); or none
  --max-length N      sessions: close at N lines (default ${sidecarDefaults().policy.maxLength}); or none
  --window-size N     sliding window lines (default ${PREPARE_DEFAULTS.windowSize})
  --step N            sliding window step (default: window size)
  --session-key RE    generic: session windows keyed by this regex (capture group 1 if it has one, else the match)
  --session-key-from file   one session per file, keyed by its base name
  --max-len T         longest window kept, longer ones keep their first T lines
                      (default: sliding = window size, session = longest, at most ${PREPARE_DEFAULTS.sessionMaxLen})

 inputs:
  --input lines|ndjson  lines (default): log lines; ndjson: one JSON record per line
  --message-key K[,K2]  ndjson: fields holding the log line (default ${sidecarDefaults().messageKey.join(',')})
  --time-key K[,K2]     ndjson: fields holding the event time, epoch s/ms or a date (default ${DEFAULT_TIME_KEYS.join(',')};
                        else the line header, as --format reads it)
  --key-field F         ndjson: session key from this record field (string, number or array)
  --templates FILE      sequences: "EventId,EventTemplate" CSV (ids E<N> or N) or one template per line (id = line number)
  --anomalous-logs PATH sequences: every session in these files is anomalous (repeatable)
  --log-format FMT    generic: loghub-style header, e.g. '<Date> <Time> <Level>: <Content>'
  --time-format PAT   generic: time fields pattern, e.g. 'yy/MM/dd HH:mm:ss' or 'yyyy-MM-dd HH:mm:ss,SSS' (UTC)
  --preset NAME       Drain preset from config/drain-presets.yaml (default: the format's name)

 split and features:
  --split M           chronological (default; sequences: random) | random
  --seed N            seed of the random split (default ${PREPARE_DEFAULTS.seed})
  --val-fraction F    validation share, taken from the end of train (default ${PREPARE_DEFAULTS.valFraction})
  --test-fraction F   test share, the latest windows (default ${PREPARE_DEFAULTS.testFraction})
  --embedder FILE     use this embedder file (e.g. a bundle's) instead of distilling one
  --embedder-words N  distilled embedder: most frequent pretrained words kept besides the
                      training words (default ${DISTILL_DEFAULTS.topWords}; fewer = smaller bundle)
  --embedder-ngrams N distilled embedder: rows of the subword table for unknown words
                      (default ${DISTILL_DEFAULTS.ngramBuckets}; fp16, D x 2 bytes each)
  --embedder-also DIR distilled embedder: also keep the words of DIR's training templates
                      (a folder prepare wrote; repeatable): one embedder for sources that will be
                      pretrained together (train pretrain --data A --data B ...)
  --like BUNDLE:SOURCE  prepare as that source of a bundle was trained: its embedder, Log-Attention
                      buckets, window policy, sliding size, format (what you give yourself wins);
                      e.g. to eval the bundled model on your copy of a log: --like models/default:hdfs
  --param-buckets B   Log-Attention buckets (default 1024)
  --max-params P      parameters kept per line (default 8)
  --quiet             no progress output
`

const EXIT: Record<PrepareErrorCode, number> = { PREPARE_USAGE: 64, PREPARE_LABELS: 65, PREPARE_INPUT: 66, PREPARE_EMBEDDER: 1 }

function usage (msg: string): never {
  throw new PrepareError('PREPARE_USAGE', msg)
}

function int (name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`)
  return n
}

function fraction (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!(n >= 0 && n < 1)) usage(`--${name} must be a number in [0, 1), got ${JSON.stringify(v)}`)
  return n
}

interface TrainedSource { bundle: string, format: string | undefined, entry: { window: Record<string, unknown>, params: { buckets: number, max_params: number } } }

/** `--like BUNDLE:SOURCE`: that source's manifest entry (its window policy, buckets, format). */
function trainedSource (v: string): TrainedSource {
  const i = v.lastIndexOf(':')
  if (i <= 0 || i === v.length - 1) usage(`--like takes BUNDLE:SOURCE (e.g. models/default:hdfs), got ${JSON.stringify(v)}`)
  const bundle = v.slice(0, i)
  const source = v.slice(i + 1)
  let manifest: { sources?: Record<string, TrainedSource['entry']> }
  try {
    manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'))
  } catch (err) {
    return usage(`--like ${v}: cannot read ${join(bundle, 'manifest.json')}: ${(err as Error).message}`)
  }
  const entry = manifest.sources?.[source]
  if (entry === undefined) usage(`--like ${v}: the bundle has no source ${JSON.stringify(source)} (has: ${Object.keys(manifest.sources ?? {}).join(', ') || 'none'})`)
  const format = typeof entry.window.format === 'string' ? entry.window.format : undefined
  return { bundle, format, entry }
}

/** What --like sets where the command line is silent: the bundle's embedder, the source's buckets and window policy. */
function fillLike (opts: PrepareOptions, like: TrainedSource): void {
  if (opts.embedder === undefined) opts.embedder = join(like.bundle, 'embedder.safetensors')
  const p = preparedLike(like.entry)
  opts.paramBuckets ??= p.paramBuckets
  opts.maxParams ??= p.maxParams
  if (opts.format !== 'sequences') {
    if (opts.idleTimeout === undefined) opts.idleTimeout = p.idleTimeout
    if (opts.maxAge === undefined) opts.maxAge = p.maxAge
    if (opts.maxLength === undefined && like.entry.window.mode === 'session') opts.maxLength = p.maxLength
  }
  const w = like.entry.window
  if (w.mode === 'sliding') {
    if (opts.windowSize === undefined && typeof w.size === 'number') opts.windowSize = w.size
    if (opts.step === undefined && typeof w.step === 'number') opts.step = w.step
  }
}

export function parsePrepareArgs (argv: string[]): PrepareOptions & { quiet: boolean } | 'help' {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        format: { type: 'string' },
        logs: { type: 'string', multiple: true },
        labels: { type: 'string' },
        'normal-label': { type: 'string', multiple: true },
        input: { type: 'string' },
        'message-key': { type: 'string' },
        'time-key': { type: 'string' },
        'key-field': { type: 'string' },
        'session-key-from': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'max-age': { type: 'string' },
        'max-length': { type: 'string' },
        templates: { type: 'string' },
        'anomalous-logs': { type: 'string', multiple: true },
        out: { type: 'string' },
        preset: { type: 'string' },
        'window-size': { type: 'string' },
        step: { type: 'string' },
        'max-len': { type: 'string' },
        split: { type: 'string' },
        seed: { type: 'string' },
        'val-fraction': { type: 'string' },
        'test-fraction': { type: 'string' },
        embedder: { type: 'string' },
        'embedder-words': { type: 'string' },
        'embedder-ngrams': { type: 'string' },
        'embedder-also': { type: 'string', multiple: true },
        'log-format': { type: 'string' },
        'session-key': { type: 'string' },
        'time-format': { type: 'string' },
        'param-buckets': { type: 'string' },
        'max-params': { type: 'string' },
        like: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (err) {
    return usage((err as Error).message)
  }
  if (values.help === true) return 'help'
  const like = values.like === undefined ? undefined : trainedSource(values.like)
  const format = values.format ?? like?.format
  if (format === undefined) usage('--format is required')
  const formats: readonly string[] = [...FORMAT_NAMES, 'sequences']
  if (!formats.includes(format)) usage(`--format must be one of ${formats.join(', ')}, got ${JSON.stringify(format)}`)
  if (values.logs === undefined || values.logs.length === 0) usage('--logs FILE|FOLDER is required')
  if (values.out === undefined) usage('--out DIR is required')
  const split = values.split
  if (split !== undefined && split !== 'chronological' && split !== 'random') usage(`--split must be chronological or random, got ${JSON.stringify(split)}`)
  if (format !== 'generic' && (values['log-format'] !== undefined || values['session-key'] !== undefined || values['time-format'] !== undefined)) {
    usage('--log-format, --session-key and --time-format apply to --format generic only')
  }
  if (values['time-format'] !== undefined) {
    try { compileTimeFormat(values['time-format']) } catch (err) { usage(`--time-format: ${(err as Error).message}`) }
  }
  if (values['session-key'] !== undefined) {
    try { new RegExp(values['session-key']) } catch (err) { usage(`--session-key: ${(err as Error).message}`) }
  }
  if (values.embedder !== undefined && (values['embedder-words'] !== undefined || values['embedder-ngrams'] !== undefined || values['embedder-also'] !== undefined)) {
    usage('--embedder-words, --embedder-ngrams and --embedder-also shape a distilled embedder; they do not apply with --embedder FILE')
  }
  const windowSize = int('window-size', values['window-size'])
  const step = int('step', values.step)
  if (step !== undefined && step > (windowSize ?? PREPARE_DEFAULTS.windowSize)) usage('--step must not exceed --window-size (lines would fall in no window)')
  const input = values.input
  if (input !== undefined && input !== 'lines' && input !== 'ndjson') usage(`--input must be lines or ndjson, got ${JSON.stringify(input)}`)
  const list = (v: string | undefined): string[] | undefined => v === undefined ? undefined : v.split(',').map(k => k.trim()).filter(k => k !== '')
  const opts: PrepareOptions & { quiet: boolean } = {
    format: format as PrepareFormat,
    logs: values.logs,
    labels: values.labels,
    normalLabels: values['normal-label'],
    input,
    messageKey: list(values['message-key']),
    timeKey: list(values['time-key']),
    keyField: values['key-field'],
    sessionKeyFrom: values['session-key-from'] as 'file' | undefined,
    idleTimeout: values['idle-timeout'] === undefined ? undefined : parseDurationOption('idle-timeout', values['idle-timeout']),
    maxAge: values['max-age'] === undefined ? undefined : parseDurationOption('max-age', values['max-age']),
    maxLength: values['max-length'] === undefined ? undefined : parseCountOption('max-length', values['max-length']),
    templates: values.templates,
    anomalousLogs: values['anomalous-logs'],
    out: values.out,
    preset: values.preset,
    windowSize,
    step,
    maxLen: int('max-len', values['max-len']),
    split,
    seed: int('seed', values.seed, 0),
    valFraction: fraction('val-fraction', values['val-fraction']),
    testFraction: fraction('test-fraction', values['test-fraction']),
    embedder: values.embedder,
    embedderWords: int('embedder-words', values['embedder-words'], 0),
    embedderNgramBuckets: int('embedder-ngrams', values['embedder-ngrams']),
    embedderAlso: values['embedder-also'],
    logFormat: values['log-format'],
    sessionKey: values['session-key'],
    timeFormat: values['time-format'],
    paramBuckets: int('param-buckets', values['param-buckets']),
    maxParams: int('max-params', values['max-params']),
    quiet: values.quiet === true,
  }
  if (like !== undefined) fillLike(opts, like)
  if (opts.messageKey?.length === 0 || opts.timeKey?.length === 0) usage('--message-key and --time-key take field names, e.g. log,message')
  checkOptions(opts)
  return opts
}

export async function runPrepare (argv: string[]): Promise<number> {
  try {
    const opts = parsePrepareArgs(argv)
    if (opts === 'help') { process.stdout.write(PREPARE_USAGE); return 0 }
    await prepare({ ...opts, progress: createProgress(process.stderr, { quiet: opts.quiet }) })
    return 0
  } catch (err) {
    if (err instanceof PrepareError) {
      process.stderr.write(`fluent-anomaly prepare: [${err.code}] ${err.message}\n`)
      if (err.code === 'PREPARE_USAGE') process.stderr.write(`run "fluent-anomaly prepare --help" for the options\n`)
      return EXIT[err.code]
    }
    throw err
  }
}
