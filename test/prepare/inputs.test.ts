/**
 * What prepare reads: several files and folders, one session per file
 * (--session-key-from file), ndjson records (--input ndjson --key-field).
 *
 * The files here are real lines split or wrapped by the test: the split into
 * several files and the JSON records are synthetic (the data sets ship one
 * plain file); the lines, their times and their labels are the data sets'.
 */
import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DATASETS } from '../../bench/lib/datasets.js'
import { runPrepare } from '../../plugin/cli/prepare.js'
import { decodeNpy, type NpyArray } from '../../plugin/prepare/npy.js'
import { prepare, type PrepareOptions } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'

const HDFS_LABELS = join(DATASETS, 'hdfs_loglead_2pct/anomaly_label.csv')
const EMBEDDER = new URL('../../models/default/embedder.safetensors', import.meta.url).pathname
const dir = t.testdir({})

interface Info { key: string, file: string, first_line: number, last_line: number, size: number, last_file?: string }
interface Out { meta: any, info: Info[], windows: NpyArray, labels: NpyArray, starts: NpyArray, log: string }

async function run (name: string, o: Partial<PrepareOptions> & { logs: PrepareOptions['logs'] }): Promise<Out> {
  const out = join(dir, name)
  const log: string[] = []
  await prepare({ format: 'hdfs', out, embedder: EMBEDDER, progress: createProgress({ write: s => log.push(s) }), ...o })
  const npy = (n: string): NpyArray => decodeNpy(readFileSync(join(out, n)))
  return {
    meta: JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')),
    info: readFileSync(join(out, 'window_info.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l)),
    windows: npy('windows.npy'),
    labels: npy('labels.npy'),
    starts: npy('start_times.npy'),
    log: log.join(''),
  }
}

const hdfs = readFileSync(join(DATASETS, 'hdfs_loglead_2pct/HDFS_2pct.log'), 'utf8').split('\n').slice(0, 20000)
const HDFS_20K = join(dir, 'hdfs-20k.log')
writeFileSync(HDFS_20K, hdfs.join('\n') + '\n')
const single = await run('single', { logs: HDFS_20K, labels: HDFS_LABELS })

t.test('a folder of three files gives the windows of the one file, with per-file line numbers', async t => {
  // synthetic split of the real 20,000 lines: 7,000 / 7,000 / 6,000, plus what a folder scan must skip
  const folder = join(dir, 'hdfs-split')
  mkdirSync(join(folder, 'old'), { recursive: true })
  const parts = [hdfs.slice(0, 7000), hdfs.slice(7000, 14000), hdfs.slice(14000)]
  const names = ['part-1.log', 'part-2.log', 'part-3.log']
  parts.forEach((p, i) => writeFileSync(join(folder, names[i]), p.join('\n') + '\n'))
  writeFileSync(join(folder, '.hidden.log'), hdfs.slice(0, 10).join('\n') + '\n')
  writeFileSync(join(folder, 'old', 'rotated.log'), hdfs.slice(0, 10).join('\n') + '\n')
  const offset = new Map(names.map((n, i) => [join(folder, n), i * 7000]))

  const f = await run('folder', { logs: folder, labels: HDFS_LABELS })
  t.same(f.meta.source.logs, names.map(n => join(folder, n)), 'the folder\'s regular files by name; hidden files and subfolders skipped')
  t.equal(f.meta.counts.lines, 20000)
  t.same([...f.windows.data], [...single.windows.data], 'same windows.npy')
  t.same([...f.labels.data], [...single.labels.data], 'same labels')
  t.same([...f.starts.data], [...single.starts.data], 'same start times')
  let wrong = 0
  let spanning = 0
  f.info.forEach((w, r) => {
    const s = single.info[r]
    const last = w.last_file ?? w.file
    if (w.last_file !== undefined) spanning++
    if (w.key !== s.key || w.size !== s.size || offset.get(w.file)! + w.first_line !== s.first_line || offset.get(last)! + w.last_line !== s.last_line) wrong++
    const text = readFileSync(w.file, 'utf8').split('\n')[w.first_line - 1]
    if (!text.includes(w.key)) wrong++
  })
  t.equal(wrong, 0, 'each row: its file and per-file line numbers name the same lines as the one-file run')
  t.ok(spanning > 0, `${spanning} sessions go on into the next file (last_file)`)
  t.ok(single.info.every(w => w.file === HDFS_20K && !('last_file' in w)))

  const listed = await run('listed', { logs: names.map(n => join(folder, n)), labels: HDFS_LABELS })
  t.same(listed.info, f.info, '--logs given three times = the folder')
})

t.test('by-line labels with several files are refused', async t => {
  const labels = join(dir, 'lines.csv')
  writeFileSync(labels, 'line,label\n3,1\n')
  await t.rejects(run('x', { logs: [HDFS_20K, HDFS_20K], labels }), { code: 'PREPARE_USAGE', message: /line numbers are per file: with 2 input files a line number names no single line/ })
  const errors: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((s: string) => { errors.push(String(s)); return true }) as typeof process.stderr.write
  try {
    t.equal(await runPrepare(['--format', 'hdfs', '--logs', HDFS_20K, '--logs', HDFS_20K, '--labels', labels, '--out', join(dir, 'y')]), 64)
  } finally {
    process.stderr.write = write
  }
  t.match(errors.join(''), /\[PREPARE_USAGE\]/)
})

t.test('--session-key-from file: one session per file, keyed by its name', async t => {
  // Hadoop_2k is one application's log (10 minutes); split here into three "job" files (synthetic)
  const lines = readFileSync(join(DATASETS, 'loghub_2k/Hadoop/Hadoop_2k.log'), 'utf8').split(/\r?\n/).filter(l => l !== '')
  const folder = join(dir, 'jobs')
  mkdirSync(folder)
  const parts: [string, string[]][] = [['job_a.log', lines.slice(0, 700)], ['job_b.log', lines.slice(700, 1400)], ['job_c.log', lines.slice(1400)]]
  for (const [n, p] of parts) writeFileSync(join(folder, n), p.join('\n') + '\n')
  const labels = join(dir, 'jobs.csv')
  writeFileSync(labels, 'job,label\njob_a.log,Normal\njob_b.log,Anomaly\njob_c.log,Normal\n')
  const common = { format: 'generic' as const, preset: 'Hadoop', timeFormat: 'yyyy-MM-dd HH:mm:ss,SSS', logs: folder, sessionKeyFrom: 'file' as const, labels, testFraction: 0, valFraction: 0 }

  const whole = await run('jobs-whole', { ...common, idleTimeout: null, maxAge: null, maxLength: null })
  t.match(whole.meta.window, { session_key: null, key_field: null, key_from: 'file', clock: 'event', idle_timeout_ms: null, max_age_ms: null, max_length: null })
  t.same(whole.info.map(w => [w.key, w.file, w.first_line, w.last_line, w.size]),
    parts.map(([n, p]) => [n, join(folder, n), 1, p.length, p.length]), 'one window per file: all its lines')
  t.same([...whole.labels.data], [0, 1, 0], 'labelled by file name')

  const cut = await run('jobs-default', common)
  t.match(cut.meta.window, { key_from: 'file', idle_timeout_ms: 30_000, max_age_ms: 600_000, max_length: 256 })
  t.equal(cut.meta.counts.keys, 3)
  t.equal(cut.meta.counts.keys_split, 3, 'each 600-700 line file is cut at 256 lines')
  t.ok(cut.info.every(w => w.size <= 256 && w.last_file === undefined), 'no window spans files')
  for (const [n, p] of parts) {
    const ws = cut.info.filter(w => w.key === n).sort((a, b) => a.first_line - b.first_line)
    t.equal(ws.reduce((s, w) => s + w.size, 0), p.length, `${n}: its windows hold its ${p.length} lines`)
    t.ok(ws.length >= Math.ceil(p.length / 256))
  }
  t.ok(cut.meta.counts.closed.max_length >= 6)
  t.same([...new Set(cut.info.filter((_, r) => cut.labels.data[r] === 1).map(w => w.key))], ['job_b.log'], 'every window of job_b is anomalous')
})

t.test('--input ndjson: records with the line, a time field and the key in a field', async t => {
  // Real HDFS lines as records: the block id in "block" (as a string, or every 5th record as a one-element
  // array, as a field listing several sessions would be), and "date" one hour after the header's time, so
  // the windows can only have that time from the record.
  const ids = (l: string): string[] => [...new Set(l.match(/blk_-?\d+/g) ?? [])]
  const hdr = (l: string): number => { const [d, h] = l.split(' '); return Date.UTC(2000 + +d.slice(0, 2), +d.slice(2, 4) - 1, +d.slice(4, 6), +h.slice(0, 2), +h.slice(2, 4), +h.slice(4, 6)) / 1000 }
  const recs = hdfs.filter(l => l !== '').map((l, i) => JSON.stringify({ date: hdr(l) + 3600, log: l + '\n', block: ids(l).length === 1 && i % 5 !== 0 ? ids(l)[0] : ids(l), source: 'tail.0' }))
  const file = join(dir, 'records.ndjson')
  writeFileSync(file, [...recs, 'not json', '[1, 2]', JSON.stringify({ msg: 'no log field' })].join('\n') + '\n')

  const n = await run('ndjson', { logs: file, labels: HDFS_LABELS, input: 'ndjson', keyField: 'block' })
  t.same(n.meta.window, { ...single.meta.window, key_field: 'block', key_from: 'field' }, 'the key from the field, the format\'s pattern as the sidecar\'s fallback')
  t.match(n.meta.source, { input: 'ndjson', message_key: ['log', 'message'], time_key: ['time', 'date', '@timestamp'] })
  t.equal(n.meta.counts.invalid_records, 3, 'three lines that are not records with a log line: counted, skipped')
  t.equal(n.meta.counts.lines, 20000)
  t.same(n.info.map(w => [w.key, w.first_line, w.last_line, w.size]), single.info.map(w => [w.key, w.first_line, w.last_line, w.size]), 'the same sessions as from the plain lines')
  t.same([...n.windows.data], [...single.windows.data], 'the same templates: the header is parsed from the record\'s log line')
  t.same([...n.starts.data], [...single.starts.data].map(s => s + 3600), 'event times from the record\'s date field')

  const hdrTime = await run('ndjson-header-time', { logs: file, labels: HDFS_LABELS, input: 'ndjson', keyField: 'block', timeKey: ['no_such_field'] })
  t.same([...hdrTime.starts.data], [...single.starts.data], 'without a time field: the line header\'s time')
})

t.test('input options that do not go together', async t => {
  await t.rejects(run('bad1', { logs: HDFS_20K, keyField: 'block' }), { code: 'PREPARE_USAGE', message: /--key-field read record fields: they need --input ndjson/ })
  await t.rejects(run('bad2', { logs: HDFS_20K, sessionKeyFrom: 'file', format: 'generic', sessionKey: 'x' }), { code: 'PREPARE_USAGE', message: /does not go with --session-key/ })
  await t.rejects(run('bad3', { logs: join(DATASETS, 'loghub_2k/BGL/BGL_2k.log'), format: 'bgl', maxLength: 10 }), { code: 'PREPARE_USAGE', message: /--max-length applies to session windows/ })
  await t.rejects(run('bad4', { logs: dir + '/nope' }), { code: 'PREPARE_INPUT' })
  const empty = join(dir, 'empty-folder')
  mkdirSync(empty)
  await t.rejects(run('bad5', { logs: empty }), { code: 'PREPARE_INPUT', message: /holds no regular file/ })
})
