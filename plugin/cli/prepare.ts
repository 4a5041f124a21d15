/**
 * `fluent-anomaly prepare`: raw logs + labels -> training arrays (plugin/prepare/).
 * Exit codes: 0 ok, 64 bad usage, 65 bad labels file, 66 unreadable or
 * unparseable log file, 1 anything else.
 */
import { parseArgs } from 'node:util'
import { PrepareError, type PrepareErrorCode } from '../prepare/errors.js'
import { FORMAT_NAMES, compileTimeFormat, type FormatName } from '../prepare/formats.js'
import { prepare, PREPARE_DEFAULTS, type PrepareOptions } from '../prepare/prepare.js'
import { createProgress } from '../prepare/progress.js'
import { DISTILL_DEFAULTS } from '../embedding/distill.js'

export const PREPARE_USAGE = `usage: fluent-anomaly prepare --format hdfs|bgl|thunderbird|generic --logs FILE --out DIR [options]

  --format F          hdfs: session windows by block id, labels from --labels (anomaly_label.csv)
                      bgl, thunderbird: first column is the label (- = normal); sliding windows
                      generic: --log-format / --session-key below; labels from --labels
  --logs FILE         raw log file
  --labels FILE       CSV "key,label" (session labels, e.g. BlockId,Label) or "line,label" (1-based line numbers)
  --out DIR           output folder (created)
  --preset NAME       Drain preset from config/drain-presets.yaml (default: the format's name)
  --window-size N     sliding window lines (default ${PREPARE_DEFAULTS.windowSize})
  --step N            sliding window step (default: window size)
  --max-len T         longest window kept, longer ones keep their first T lines
                      (default: sliding = window size, session = longest, at most ${PREPARE_DEFAULTS.sessionMaxLen})
  --split M           chronological (default) | random
  --seed N            seed of the random split (default ${PREPARE_DEFAULTS.seed})
  --val-fraction F    validation share, taken from the end of train (default ${PREPARE_DEFAULTS.valFraction})
  --test-fraction F   test share, the latest windows (default ${PREPARE_DEFAULTS.testFraction})
  --embedder FILE     use this embedder file (e.g. a bundle's) instead of distilling one
  --embedder-words N  distilled embedder: most frequent pretrained words kept besides the
                      training words (default ${DISTILL_DEFAULTS.topWords}; fewer = smaller bundle)
  --embedder-ngrams N distilled embedder: rows of the subword table for unknown words
                      (default ${DISTILL_DEFAULTS.ngramBuckets}; fp16, D x 2 bytes each)
  --log-format FMT    generic: loghub-style header, e.g. '<Date> <Time> <Level>: <Content>'
  --session-key RE    generic: session windows keyed by this regex
  --time-format PAT   generic: time fields pattern, e.g. 'yy/MM/dd HH:mm:ss' or 'yyyy-MM-dd HH:mm:ss,SSS' (UTC)
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

export function parsePrepareArgs (argv: string[]): PrepareOptions & { quiet: boolean } | 'help' {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        format: { type: 'string' },
        logs: { type: 'string' },
        labels: { type: 'string' },
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
        'log-format': { type: 'string' },
        'session-key': { type: 'string' },
        'time-format': { type: 'string' },
        'param-buckets': { type: 'string' },
        'max-params': { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }))
  } catch (err) {
    return usage((err as Error).message)
  }
  if (values.help === true) return 'help'
  const format = values.format
  if (format === undefined) usage('--format is required')
  if (!(FORMAT_NAMES as readonly string[]).includes(format)) usage(`--format must be one of ${FORMAT_NAMES.join(', ')}, got ${JSON.stringify(format)}`)
  if (values.logs === undefined) usage('--logs FILE is required')
  if (values.out === undefined) usage('--out DIR is required')
  const split = values.split ?? 'chronological'
  if (split !== 'chronological' && split !== 'random') usage(`--split must be chronological or random, got ${JSON.stringify(split)}`)
  if (format !== 'generic' && (values['log-format'] !== undefined || values['session-key'] !== undefined || values['time-format'] !== undefined)) {
    usage('--log-format, --session-key and --time-format apply to --format generic only')
  }
  if (values['time-format'] !== undefined) {
    try { compileTimeFormat(values['time-format']) } catch (err) { usage(`--time-format: ${(err as Error).message}`) }
  }
  if (values['session-key'] !== undefined) {
    try { new RegExp(values['session-key']) } catch (err) { usage(`--session-key: ${(err as Error).message}`) }
  }
  if (values.embedder !== undefined && (values['embedder-words'] !== undefined || values['embedder-ngrams'] !== undefined)) {
    usage('--embedder-words and --embedder-ngrams size a distilled embedder; they do not apply with --embedder FILE')
  }
  const windowSize = int('window-size', values['window-size'])
  const step = int('step', values.step)
  if (step !== undefined && step > (windowSize ?? PREPARE_DEFAULTS.windowSize)) usage('--step must not exceed --window-size (lines would fall in no window)')
  return {
    format: format as FormatName,
    logs: values.logs,
    labels: values.labels,
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
    logFormat: values['log-format'],
    sessionKey: values['session-key'],
    timeFormat: values['time-format'],
    paramBuckets: int('param-buckets', values['param-buckets']),
    maxParams: int('max-params', values['max-params']),
    quiet: values.quiet === true,
  }
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
