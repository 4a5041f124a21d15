/**
 * `fluent-anomaly prepare` end to end on the shared real data, checked against
 * counts computed here independently from the raw files.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runPrepare } from '../../plugin/cli/prepare.js'
import { loadEmbedder } from '../../plugin/embedding/embedder.js'
import { decodeNpy, type NpyArray } from '../../plugin/prepare/npy.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { NO_NUMPY, pythonWithNumpy, runPythonJson } from './numpy-python.js'

const DATA = (process.env.FLUENT_ANOMALY_DATASETS ?? new URL('../../../shared/datasets', import.meta.url).pathname) + '/'
const HDFS_LOG = join(DATA, 'hdfs_loglead_2pct/HDFS_2pct.log')
const HDFS_LABELS = join(DATA, 'hdfs_loglead_2pct/anomaly_label.csv')
const BGL_LOG = join(DATA, 'loghub_2k/BGL/BGL_2k.log')

const dir = t.testdir({})

interface Out {
  meta: any
  windows: NpyArray
  buckets: NpyArray
  labels: NpyArray
  starts: NpyArray
  vectors: NpyArray
  info: { key: string, file: string, first_line: number, last_line: number, size: number }[]
  templates: { row: number, id: string, text: string, count: number }[]
}

function load (out: string): Out {
  const npy = (n: string): NpyArray => decodeNpy(readFileSync(join(out, n)))
  const jsonl = (n: string): any[] => readFileSync(join(out, n), 'utf8').trim().split('\n').map(l => JSON.parse(l))
  return {
    meta: JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')),
    windows: npy('windows.npy'),
    buckets: npy('param_buckets.npy'),
    labels: npy('labels.npy'),
    starts: npy('start_times.npy'),
    vectors: npy('template_vectors.npy'),
    info: jsonl('window_info.jsonl'),
    templates: jsonl('templates.jsonl'),
  }
}

const sha256 = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')

type T = Test

function checkSplitRanges (t: T, o: Out, method: string): void {
  const N = o.labels.shape[0]
  const s = o.meta.split
  t.equal(s.method, method)
  t.equal(s.train.start, 0)
  t.equal(s.train.end, s.validation.start)
  t.equal(s.validation.end, s.test.start)
  t.equal(s.test.end, N)
  t.equal(s.test.windows, Math.round(N * 0.2), 'test is 20% of windows')
  t.equal(s.validation.windows, Math.round((N - s.test.windows) * 0.1), 'validation is 10% of the rest')
  let an = 0
  for (const part of [s.train, s.validation, s.test]) {
    let a = 0
    for (let r = part.start; r < part.end; r++) a += o.labels.data[r]
    t.equal(part.anomalous, a, 'per-part anomalous count matches labels.npy')
    an += a
  }
  t.equal(an, o.meta.counts.anomalous_windows)
}

// ── HDFS: sessions by block id ──────────────────────────────────────────────

// No limits, so a session is every line of its block (the default limits cut sessions
// in event time: test/prepare/window-policy.test.ts).
const NO_LIMITS = ['--idle-timeout', 'none', '--max-age', 'none', '--max-length', 'none']
const hdfsOut = join(dir, 'hdfs')
const hdfsCode = await runPrepare(['--format', 'hdfs', '--logs', HDFS_LOG, '--labels', HDFS_LABELS, '--out', hdfsOut, ...NO_LIMITS, '--quiet'])

t.test('HDFS: without limits, one window per distinct block id, labelled from anomaly_label.csv', async t => {
  t.equal(hdfsCode, 0)
  // Independent count from the raw lines: lines per block id, time of its first line.
  const linesOf = new Map<string, number>()
  const firstTime = new Map<string, number>()
  let lines = 0
  for (const line of readFileSync(HDFS_LOG, 'utf8').split('\n')) {
    if (line === '') continue
    lines++
    for (const id of new Set(line.match(/blk_-?\d+/g) ?? [])) {
      linesOf.set(id, (linesOf.get(id) ?? 0) + 1)
      if (!firstTime.has(id)) {
        const [d, tm] = line.split(' ')
        firstTime.set(id, Date.UTC(2000 + +d.slice(0, 2), +d.slice(2, 4) - 1, +d.slice(4, 6), +tm.slice(0, 2), +tm.slice(2, 4), +tm.slice(4, 6)) / 1000)
      }
    }
  }
  const csv = new Map(readFileSync(HDFS_LABELS, 'utf8').trim().split('\n').slice(1).map(r => r.split(',') as [string, string]))
  const anomalousPresent = [...linesOf.keys()].filter(id => csv.get(id) === 'Anomaly').length

  const o = load(hdfsOut)
  const N = linesOf.size
  t.equal(o.meta.counts.windows, N, `${N} distinct block ids`)
  t.equal(o.windows.shape[0], N)
  t.equal(o.meta.counts.lines, lines)
  t.equal(o.meta.counts.anomalous_windows, anomalousPresent, `${anomalousPresent} anomalous blocks present`)
  t.equal(o.meta.mode, 'session')
  t.same(o.meta.window, {
    session_key: 'blk_-?\\d+', key_field: null, key_from: 'pattern', clock: 'event',
    idle_timeout_ms: null, max_age_ms: null, max_length: null, truncation: 'first T lines',
    closed_at: 'a session closes only at the end of the input (no limit)',
  }, 'no limit is recorded as null')
  t.equal(o.meta.counts.keys, N)
  t.equal(o.meta.counts.keys_split, 0)
  t.equal(o.meta.counts.closed.flush, N, 'every session closed at the end of the file')
  t.same(o.meta.source.logs, [HDFS_LOG], 'source.logs is a list')
  t.equal(o.meta.drain.preset, 'HDFS', 'the HDFS Drain preset is used and recorded')
  t.same(new Set(o.info.map(w => w.key)), new Set(linesOf.keys()), 'window keys are the block ids')

  const T = o.meta.T
  t.same(o.windows.shape, [N, T])
  let labelMismatch = 0
  let lengthMismatch = 0
  let timeMismatch = 0
  for (let r = 0; r < N; r++) {
    const key = o.info[r].key
    if (o.labels.data[r] !== (csv.get(key) === 'Anomaly' ? 1 : 0)) labelMismatch++
    let len = 0
    while (len < T && o.windows.data[r * T + len] !== -1) len++
    if (len !== Math.min(linesOf.get(key)!, T) || o.info[r].size !== linesOf.get(key)) lengthMismatch++
    if (o.starts.data[r] !== firstTime.get(key)) timeMismatch++
  }
  t.equal(labelMismatch, 0, 'every window label equals its block label in the csv')
  t.equal(lengthMismatch, 0, 'every window holds all lines that name its block')
  t.equal(timeMismatch, 0, 'start time is the first line of the block (UTC epoch seconds)')
})

t.test('HDFS: split is chronological by window start and recorded in meta.json', async t => {
  const o = load(hdfsOut)
  checkSplitRanges(t, o, 'chronological')
  t.equal(o.meta.split.seed, null)
  let sorted = true
  for (let r = 1; r < o.starts.data.length; r++) if (o.starts.data[r] < o.starts.data[r - 1]) sorted = false
  t.ok(sorted, 'rows are in start-time order, so test windows start after train and validation')
})

t.test('HDFS: templates, vectors and parameter buckets are consistent', async t => {
  const o = load(hdfsOut)
  const K = o.templates.length
  t.equal(o.meta.counts.templates, K)
  t.same(o.templates.map(x => x.row), [...Array(K).keys()])
  t.equal(o.templates.reduce((s, x) => s + x.count, 0), o.meta.counts.lines, 'template counts add up to the lines')
  t.ok(o.templates.every(x => !/blk_-?\d/.test(x.text)), 'block ids are parameters, not template text')
  t.same(o.vectors.shape, [K, 100])
  let maxRow = -1
  for (const v of o.windows.data) maxRow = Math.max(maxRow, v)
  t.equal(maxRow, K - 1, 'window entries index templates.jsonl rows')
  const { T, P, buckets } = o.meta
  t.same(o.buckets.shape, [o.labels.shape[0], T, P])
  let bad = 0
  let padMismatch = 0
  let withParams = 0
  for (let i = 0; i < o.windows.data.length; i++) {
    const first = o.buckets.data[i * P]
    if (o.windows.data[i] === -1 && first !== -1) padMismatch++
    if (o.windows.data[i] !== -1 && first !== -1) withParams++
    for (let p = 0; p < P; p++) { const b = o.buckets.data[i * P + p]; if (b < -1 || b >= buckets) bad++ }
  }
  t.equal(bad, 0, 'bucket ids in [-1, B)')
  t.equal(padMismatch, 0, 'padded positions have no parameters')
  t.ok(withParams > 0.9 * o.meta.counts.lines, 'HDFS lines carry parameters (block ids, IPs)')
})

t.test('HDFS: the embedder written beside the data reproduces template_vectors.npy', async t => {
  const o = load(hdfsOut)
  const file = join(hdfsOut, o.meta.embedder.file)
  t.equal(o.meta.embedder.sha256, sha256(file))
  t.equal(o.meta.embedder.origin, 'distilled')
  const e = await loadEmbedder(file)
  const D = e.dim
  let same = true
  o.templates.forEach((x, r) => {
    const v = e.embed(x.text)
    for (let d = 0; d < D; d++) if (v[d] !== o.vectors.data[r * D + d]) same = false
  })
  t.ok(same, 'sidecar-side embedding equals the prepared vectors bit for bit')
})

t.test('HDFS: the saved Drain state gives every line the template recorded for it', async t => {
  const o = load(hdfsOut)
  t.equal(o.meta.drain.snapshot, 'drain.json')
  const drain = await loadSnapshot(join(hdfsOut, 'drain.json'))
  t.ok(drain !== null)
  const rowOf = new Map(o.templates.map(x => [x.id, x.row]))
  const counts = new Array<number>(o.templates.length).fill(0)
  const hdfs = logFormat('hdfs')
  for (const line of readFileSync(HDFS_LOG, 'utf8').split('\n')) {
    if (line === '') continue
    const id = drain!.match(hdfs.parse(line)!.content)?.templateId
    const row = id === undefined ? undefined : rowOf.get(id)
    if (row !== undefined) counts[row]++
  }
  t.same(counts, o.templates.map(x => x.count), 'restored parser reproduces the per-template line counts')
})

const py = pythonWithNumpy()

t.test('HDFS: numpy reads every array with the shape and dtype meta.json gives', { skip: py === undefined ? NO_NUMPY : false }, async t => {
  if (py === undefined) return
  const got = runPythonJson(py, `
import json, numpy as np
m = json.load(open('${hdfsOut}/meta.json'))
out = {}
for name in m['files']:
    a = np.load('${hdfsOut}/' + name, allow_pickle=False)
    out[name] = {'dtype': str(a.dtype), 'shape': list(a.shape)}
out['labels_sum'] = int(np.load('${hdfsOut}/labels.npy').sum())
v = np.load('${hdfsOut}/template_vectors.npy')
out['norms_ok'] = bool(np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5))
print(json.dumps(out))
`) as Record<string, any>
  const meta = load(hdfsOut).meta
  t.same(Object.keys(meta.files).sort(), ['labels.npy', 'param_buckets.npy', 'start_times.npy', 'template_vectors.npy', 'windows.npy'])
  for (const [name, f] of Object.entries(meta.files) as [string, { dtype: string, shape: number[] }][]) {
    t.same(got[name], f, name)
  }
  t.same(got['windows.npy'].shape, [meta.counts.windows, meta.T])
  t.equal(got['windows.npy'].dtype, 'int32')
  t.equal(got['labels.npy'].dtype, 'uint8')
  t.equal(got['start_times.npy'].dtype, 'float64')
  t.equal(got['template_vectors.npy'].dtype, 'float32')
  t.equal(got.labels_sum, meta.counts.anomalous_windows)
  t.ok(got.norms_ok, 'template vectors are unit rows')
})

// ── BGL: first column is the label, sliding windows ────────────────────────

const bglLines = readFileSync(BGL_LOG, 'utf8').split(/\r?\n/).filter(l => l !== '')
const alertAt = bglLines.flatMap((l, i) => (l.startsWith('- ') ? [] : [i]))
const embedderFile = join(hdfsOut, 'embedder.safetensors')

// BGL_2k is a sample of lines far apart in time: without time limits the windows are plain
// runs of 20 lines (with them, see window-policy.test.ts).
const NO_TIME_LIMITS = ['--idle-timeout', 'none', '--max-age', 'none']

t.test('BGL 2k: exactly the windows holding alert lines are anomalous', async t => {
  const out = join(dir, 'bgl')
  t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', out, '--embedder', embedderFile, ...NO_TIME_LIMITS, '--quiet']), 0)
  const o = load(out)
  t.equal(alertAt.length, 143, 'the sample has 143 alert lines')
  const expected = new Set(alertAt.map(i => Math.floor(i / 20)))
  t.equal(o.meta.counts.windows, Math.ceil(bglLines.length / 20))
  t.equal(o.meta.counts.anomalous_windows, expected.size, `${expected.size} windows hold alerts`)
  t.match(o.meta.window, { size: 20, step: 20, group_by: null, clock: 'event', idle_timeout_ms: null, max_age_ms: null, truncation: 'first T lines' })
  t.notOk('max_length' in o.meta.window, 'sliding windows are bounded by their size')
  t.same(o.meta.counts.closed, { idle: 0, max_length: 0, max_age: 0, evicted: 0, full: 100, unkeyed: 0, flush: 0 })
  let wrong = 0
  for (let r = 0; r < o.info.length; r++) {
    const w = (o.info[r].first_line - 1) / 20
    if (o.labels.data[r] !== (expected.has(w) ? 1 : 0)) wrong++
  }
  t.equal(wrong, 0, 'each window label = does it contain an alert line')
  const tags = new Set(alertAt.map(i => bglLines[i].split(' ')[0]))
  t.ok(o.templates.every(x => ![...tags].some(tag => x.text.includes(tag)) && !x.text.startsWith('- ')),
    'the label column is stripped before parsing')
  t.ok(o.templates.every(x => !/^(RAS|KERNEL|INFO|FATAL)\b/.test(x.text)), 'header fields are not template text')
  t.equal(o.meta.embedder.origin, 'given')
  t.equal(o.meta.embedder.sha256, sha256(embedderFile), '--embedder is used and recorded')
  t.equal(sha256(join(out, 'embedder.safetensors')), sha256(embedderFile), 'and copied beside the data')
  checkSplitRanges(t, o, 'chronological')
})

t.test('BGL 2k: overlapping windows (step < size) are labelled by every line they hold', async t => {
  const out = join(dir, 'bgl-step')
  t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', out, '--embedder', embedderFile, '--window-size', '20', '--step', '10', ...NO_TIME_LIMITS, '--quiet']), 0)
  const o = load(out)
  const starts: number[] = []
  for (let s = 0; s + 20 <= bglLines.length; s += 10) starts.push(s)
  t.equal(o.meta.counts.windows, starts.length)
  const alerts = new Set(alertAt)
  const expected = new Map(starts.map(s => [s, [...Array(20).keys()].some(k => alerts.has(s + k)) ? 1 : 0]))
  let wrong = 0
  for (let r = 0; r < o.info.length; r++) if (o.labels.data[r] !== expected.get(o.info[r].first_line - 1)) wrong++
  t.equal(wrong, 0)
})

t.test('random split only when asked: seeded, reproducible, recorded', async t => {
  const run = async (seed: string, name: string): Promise<Out> => {
    const out = join(dir, name)
    t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', out, '--embedder', embedderFile, '--split', 'random', '--seed', seed, '--quiet']), 0)
    return load(out)
  }
  const a = await run('7', 'rand-a')
  const b = await run('7', 'rand-b')
  const c = await run('8', 'rand-c')
  checkSplitRanges(t, a, 'random')
  t.equal(a.meta.split.seed, 7)
  t.same([...a.windows.data], [...b.windows.data], 'same seed, same windows order')
  t.same([...a.labels.data], [...b.labels.data])
  t.notSame(a.info.map(w => w.first_line), c.info.map(w => w.first_line), 'another seed deals differently')
  const s = a.meta.split
  const maxTrain = Math.max(...[...a.starts.data].slice(s.train.start, s.train.end))
  const minTest = Math.min(...[...a.starts.data].slice(s.test.start, s.test.end))
  t.ok(minTest < maxTrain, 'test windows are not simply the latest ones')
})

// ── generic: loghub-style header, session key, labels by line ──────────────

t.test('generic: --log-format, --session-key and a by-line labels file', async t => {
  const log = join(dir, 'app.log')
  const lines = [
    '2024-03-01T10:00:00Z INFO req=a1 user alice logged in',
    '2024-03-01T10:00:01Z INFO req=b2 user bob logged in',
    '2024-03-01T10:00:02Z ERROR req=a1 payment declined code 51',
    '2024-03-01T10:00:03Z INFO req=b2 user bob logged out',
    'garbage',
    '2024-03-01T10:00:05Z INFO req=c3 user carol logged in',
  ]
  writeFileSync(log, lines.join('\n') + '\n')
  const labels = join(dir, 'app-labels.csv')
  writeFileSync(labels, 'line,label\n3,1\n')
  const out = join(dir, 'generic')
  const code = await runPrepare(['--format', 'generic', '--logs', log, '--labels', labels, '--out', out, '--embedder', embedderFile,
    '--log-format', '<Timestamp> <Level> <Content>', '--session-key', 'req=(\\w+)', '--test-fraction', '0', '--val-fraction', '0', '--quiet'])
  t.equal(code, 0)
  const o = load(out)
  t.same(o.info.map(w => w.key), ['a1', 'b2', 'c3'], 'one session per request id, in start order')
  t.same([...o.labels.data], [1, 0, 0], 'the session holding line 3 is anomalous')
  t.same(o.info.map(w => w.size), [2, 2, 1])
  t.equal(o.meta.counts.header_mismatch, 1)
  t.equal(o.meta.counts.lines_without_key, 1)
  t.equal(o.starts.data[0], Date.parse('2024-03-01T10:00:00Z') / 1000)
})

t.test('generic: without --log-format the header format of the preset is used', async t => {
  const out = join(dir, 'spark')
  const log = join(DATA, 'loghub_2k/Spark/Spark_2k.log')
  t.equal(await runPrepare(['--format', 'generic', '--logs', log, '--preset', 'Spark', '--out', out, '--embedder', embedderFile, '--quiet']), 0)
  const o = load(out)
  t.equal(o.meta.drain.preset, 'Spark')
  t.equal(o.meta.counts.header_mismatch, 0)
  t.ok(o.templates.every(x => !/^\d\d\/\d\d\/\d\d/.test(x.text) && !/^(INFO|WARN|ERROR) /.test(x.text)), 'date and level are not template text')
  t.equal(o.meta.counts.lines_without_time, 2000, '"17/06/09 20:10:40" is not a time Date.parse reads, and meta.json says so')
  const timed = join(dir, 'spark-timed')
  t.equal(await runPrepare(['--format', 'generic', '--logs', log, '--preset', 'Spark', '--time-format', 'yy/MM/dd HH:mm:ss', '--out', timed, '--embedder', embedderFile, '--quiet']), 0)
  const p = load(timed)
  t.equal(p.meta.counts.lines_without_time, 0)
  t.equal(p.starts.data[0], Date.UTC(2017, 5, 9, 20, 10, 40) / 1000, 'with --time-format the Date and Time fields give the start times')
})

// ── command line ──────────────────────────────────────────────────────────

t.test('--embedder-words / --embedder-ngrams size a distilled embedder (the default model ships a small one)', async t => {
  const out = join(dir, 'bgl-small-embedder')
  t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', out, '--embedder-words', '2000', '--embedder-ngrams', '1024', '--quiet']), 0)
  const o = load(out)
  t.equal(o.meta.embedder.origin, 'distilled')
  t.ok(o.meta.embedder.vocab >= 2000 && o.meta.embedder.vocab < 3000, `2,000 common words + the training words (${o.meta.embedder.vocab})`)
  const e = await loadEmbedder(join(out, 'embedder.safetensors'))
  t.equal(e.meta.ngramBuckets, 1024, '1,024 subword rows')
  const bytes = statSync(join(out, 'embedder.safetensors')).size
  t.ok(bytes < 1.2e6, `the file is ${(bytes / 1e6).toFixed(2)} MB (default settings: about 7.5 MB)`)
})

t.test('bad command lines and inputs fail with a clear message and exit code', async t => {
  const errors: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((s: string) => { errors.push(String(s)); return true }) as typeof process.stderr.write
  try {
    t.equal(await runPrepare(['--logs', BGL_LOG, '--out', dir]), 64, 'missing --format')
    t.equal(await runPrepare(['--format', 'syslog', '--logs', BGL_LOG, '--out', dir]), 64, 'unknown format')
    t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', dir, '--split', 'sideways']), 64, 'bad split')
    t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', dir, '--window-size', '10', '--step', '20']), 64, 'step > size')
    t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', dir, '--bogus']), 64, 'unknown option')
    t.equal(await runPrepare(['--format', 'bgl', '--logs', BGL_LOG, '--out', dir, '--embedder', embedderFile, '--embedder-words', '100']), 64, 'sizing a given embedder')
    t.equal(await runPrepare(['--format', 'bgl', '--logs', join(dir, 'nope.log'), '--out', dir]), 66, 'missing log file')
    t.equal(await runPrepare(['--format', 'hdfs', '--logs', BGL_LOG, '--out', join(dir, 'x'), '--embedder', embedderFile]), 66, 'wrong format for the file')
    const badLabels = join(dir, 'bad-labels.csv')
    writeFileSync(badLabels, 'BlockId,Label\nblk_1,Maybe\n')
    t.equal(await runPrepare(['--format', 'hdfs', '--logs', HDFS_LOG, '--labels', badLabels, '--out', dir]), 65, 'bad label value')
  } finally {
    process.stderr.write = write
  }
  const text = errors.join('')
  t.match(text, /--format is required/)
  t.match(text, /--embedder-words, --embedder-ngrams and --embedder-also shape a distilled embedder/)
  t.match(text, /--format must be one of hdfs, bgl, thunderbird, generic/)
  t.match(text, /no line matches the hdfs header format/)
  t.match(text, /bad-labels\.csv:2: unknown label "maybe"/)
})
