/**
 * Data sets without raw text (template ids per session, --format sequences),
 * and the raw OpenStack logs they were made from (no event times at all).
 *
 *   hdfs_deeplog_sessions     hdfs_train 4,855 normal + hdfs_test_abnormal 16,838 anomalous sessions
 *   openstack_sequences_ait   openstack_parisakalaki: train 50 + test_normal 4,895 normal, test_abnormal 651
 *   openstack_kalaki_raw      openstack-nova-sample.log: 1,162 instances, 982 normal / 180 anomalous
 *
 * (counts from each folder's SOURCE.txt)
 */
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DATASETS } from '../../bench/lib/datasets.js'
import { templateId } from '../../plugin/mining/template-id.js'
import { decodeNpy, type NpyArray } from '../../plugin/prepare/npy.js'
import { prepare, type PrepareOptions } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'

const DEEPLOG = join(DATASETS, 'hdfs_deeplog_sessions')
const AIT = join(DATASETS, 'openstack_sequences_ait')
const KALAKI = join(DATASETS, 'openstack_kalaki_raw')
const EMBEDDER = new URL('../../models/default/embedder.safetensors', import.meta.url).pathname
const dir = t.testdir({})

interface Info { key: string, file: string, first_line: number, last_line: number, size: number }
interface Out { meta: any, info: Info[], windows: NpyArray, buckets: NpyArray, labels: NpyArray, templates: { row: number, id: string, text: string, count: number }[], log: string, out: string }

async function run (name: string, o: Partial<PrepareOptions> & { logs: PrepareOptions['logs'] }): Promise<Out> {
  const out = join(dir, name)
  const log: string[] = []
  await prepare({ format: 'sequences', out, embedder: EMBEDDER, progress: createProgress({ write: s => log.push(s) }), ...o })
  const npy = (n: string): NpyArray => decodeNpy(readFileSync(join(out, n)))
  const jsonl = (n: string): any[] => readFileSync(join(out, n), 'utf8').trim().split('\n').map(l => JSON.parse(l))
  return {
    meta: JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')),
    info: jsonl('window_info.jsonl'),
    windows: npy('windows.npy'),
    buckets: npy('param_buckets.npy'),
    labels: npy('labels.npy'),
    templates: jsonl('templates.jsonl'),
    log: log.join(''),
    out,
  }
}

/** Non-empty lines of a file, CRLF or LF. */
const rows = (f: string): string[] => readFileSync(f, 'utf8').split('\n').map(l => l.replace(/\r$/, '')).filter(l => l.trim() !== '')

t.test('DeepLog HDFS sessions: 4,855 normal + 16,838 anomalous, one window per line', async t => {
  const train = join(DEEPLOG, 'hdfs_train')
  const abnormal = join(DEEPLOG, 'hdfs_test_abnormal')
  const o = await run('deeplog', { logs: train, anomalousLogs: [abnormal], templates: join(DEEPLOG, 'HDFS_templates_loghub.csv') })
  t.equal(o.meta.counts.windows, 21693)
  t.equal(o.meta.counts.anomalous_windows, 16838)
  t.equal(o.info.filter(w => w.file === train).length, 4855)
  t.ok(o.info.every((w, r) => o.labels.data[r] === (w.file === abnormal ? 1 : 0)), 'every session of --anomalous-logs is anomalous, every other normal')
  // SOURCE.txt gives 99,978 + 301,655 events: that count takes the "\r" of each CRLF line end for an id
  // (awk's fields); the ids themselves number 95,125 + 284,818.
  const events = [train, abnormal].map(f => rows(f).reduce((s, l) => s + l.trim().split(/\s+/).length, 0))
  t.same(events, [95125, 284818])
  t.equal(o.meta.counts.events, events[0] + events[1])
  t.same(o.meta.window, {
    session_key: null, key_field: null, key_from: 'sequence', clock: 'none', idle_timeout_ms: null, max_age_ms: null, max_length: null,
    truncation: 'first T lines', closed_at: 'each input line is one window: a whole recorded session of template ids (no event times, no limits)',
  })
  t.match(o.meta.source, { input: 'sequences', logs: [train], anomalous_logs: [abnormal], labels_by: 'file (--anomalous-logs)' })
  t.same(o.meta.counts.closed, { sequence: 21693 })
  t.same(o.meta.drain, { preset: null, options: null, snapshot: null }, 'no parser')
  t.notOk(existsSync(join(o.out, 'drain.json')), 'no drain.json (bundle.py add_source copies one only if it exists)')
  t.match(o.meta.split, { method: 'random', seed: 42 }, 'random split by default, seeded and recorded')
  t.match(o.log, /split: random \(seed 42\), the default for sequences/)

  // templates: EventId E<N> == id N; ids as for parsed lines; no parameters
  const csv = new Map(rows(join(DEEPLOG, 'HDFS_templates_loghub.csv')).slice(1).map(r => [Number(r.slice(1, r.indexOf(','))), r.slice(r.indexOf(',') + 1)]))
  t.ok(o.templates.every(x => x.id === templateId(x.text) && [...csv.values()].includes(x.text)))
  t.equal(o.templates.reduce((s, x) => s + x.count, 0), o.meta.counts.events)
  t.ok([...o.buckets.data].every(b => b === -1), 'param buckets all -1')
  const T = o.meta.T
  t.equal(T, 256)
  t.equal(o.meta.counts.longest_window, 284)
  t.equal(o.meta.counts.truncated_windows, 2)
  t.match(o.log, /T=256: the longest window \(284 lines\) capped at 256/)
  t.match(o.log, /warning: 2 windows are longer than T=256 and keep only the first 256 lines/)
  // a row, by hand: the template texts of its ids
  const text = o.templates.map(x => x.text)
  const lines = { [train]: rows(train), [abnormal]: rows(abnormal) }
  let wrong = 0
  for (const r of [0, 1, 5000, 21000]) {
    const w = o.info[r]
    const ids = lines[w.file][w.first_line - 1].trim().split(/\s+/).map(Number)
    const got = [...o.windows.data.subarray(r * T, r * T + Math.min(ids.length, T))].map(v => text[v])
    if (JSON.stringify(got) !== JSON.stringify(ids.slice(0, T).map(id => csv.get(id)))) wrong++
    if (w.key !== `${w.file.split('/').pop()}:${w.first_line}`) wrong++
  }
  t.equal(wrong, 0, 'window rows hold the templates of their line\'s ids; keys are <file>:<line>')
})

t.test('AIT OpenStack sequences: 4,945 normal / 651 anomalous, by file or by instance_labels.csv', async t => {
  const seqs = join(AIT, 'openstack_parisakalaki')
  const templates = join(AIT, 'templates/OpenStack_templates.csv')
  const byFile = await run('ait', {
    logs: [join(seqs, 'openstack_train'), join(seqs, 'openstack_test_normal')], anomalousLogs: [join(seqs, 'openstack_test_abnormal')], templates,
  })
  t.equal(byFile.meta.counts.windows, 50 + 4895 + 651)
  t.equal(byFile.meta.counts.anomalous_windows, 651)
  t.ok(byFile.info.every(w => /^[0-9a-f-]{36}$/.test(w.key)), 'the key is the instance id before the comma')
  // plain templates file: id = line number
  const tpl = rows(templates)
  const first = rows(join(seqs, 'openstack_train'))[0]
  const ids = first.slice(first.indexOf(',') + 1).split(' ').map(Number)
  const r = byFile.info.findIndex(w => w.key === first.slice(0, first.indexOf(',')))
  t.same([...byFile.windows.data.subarray(r * byFile.meta.T, r * byFile.meta.T + ids.length)].map(v => byFile.templates[v].text), ids.map(id => tpl[id - 1]))

  // the folder (all three files) labelled by instance_labels.csv: label column, values normal / anomaly_*
  const byKey = await run('ait-labels', { logs: seqs, templates, labels: join(KALAKI, 'instance_labels.csv'), normalLabels: ['normal'] })
  t.equal(byKey.meta.counts.windows, 5596)
  t.equal(byKey.meta.counts.anomalous_windows, 651)
  t.equal(byKey.meta.counts.unlabeled_windows, 0)
  t.match(byKey.meta.source, { labels_by: 'key', normal_labels: ['normal'] })
  const want = new Map(byFile.info.map((w, i) => [w.key, byFile.labels.data[i]]))
  t.ok(byKey.info.every((w, i) => want.get(w.key) === byKey.labels.data[i]), 'the same label per instance either way')
})

t.test('sequences: errors and the no-normal-window warning', async t => {
  const templates = join(DEEPLOG, 'HDFS_templates_loghub.csv')
  const bad = join(dir, 'bad-seq')
  writeFileSync(bad, '5 5 22\n5 99 3\n')
  await t.rejects(run('bad', { logs: bad, templates }), { code: 'PREPARE_INPUT', message: new RegExp(`${bad}:2: template id 99 is not in the templates file`) })
  await t.rejects(run('bad2', { logs: bad }), { code: 'PREPARE_USAGE', message: /needs --templates/ })
  await t.rejects(run('bad3', { logs: bad, templates, idleTimeout: 1000 }), { code: 'PREPARE_USAGE', message: /--idle-timeout do not apply to --format sequences/ })
  await t.rejects(prepare({ format: 'hdfs', logs: bad, templates, out: join(dir, 'bad4') }), { code: 'PREPARE_USAGE', message: /--templates apply to --format sequences only/ })
  const none = join(dir, 'no-normal')
  writeFileSync(none, '')
  const o = await run('all-anomalous', { logs: none, anomalousLogs: [join(DEEPLOG, 'hdfs_test_abnormal')], templates })
  t.equal(o.meta.counts.anomalous_windows, o.meta.counts.windows)
  for (const part of ['train', 'validation', 'test']) t.match(o.log, new RegExp(`warning: the ${part} part \\(\\d+ windows\\) holds no normal window`), `warning (c): ${part}`)
})

t.test('OpenStack raw (Kalaki): instance sessions from a bracketed id, no event times', async t => {
  const log = join(KALAKI, 'openstack-nova-sample.log')
  // header layout: "<LEVEL> <logger> [req-<uuid> ...] [instance: <uuid>] <message>", CRLF, no timestamps
  const lines = rows(log)
  t.ok(lines.slice(0, 200).every(l => /^\s*(INFO|WARNING|ERROR|DEBUG|CRITICAL) \S+ /.test(l)), 'level, logger, then the message')
  t.notOk(lines.some(l => /^\d{4}-\d\d-\d\d/.test(l)), 'no line starts with a date')
  const o = await run('kalaki', {
    format: 'generic', logs: log, logFormat: '<Level> <Component> <Content>', sessionKey: '\\[instance: ([0-9a-f-]{36})\\]',
    labels: join(KALAKI, 'instance_labels.csv'), normalLabels: ['normal'],
  })
  t.equal(o.meta.counts.windows, 1162, '1,162 instances')
  t.equal(o.meta.counts.anomalous_windows, 180, '982 normal / 180 anomalous (78 + 54 + 48)')
  t.equal(o.meta.counts.unlabeled_windows, 0)
  t.ok(o.info.every(w => /^[0-9a-f-]{36}$/.test(w.key)), 'the key is capture group 1 (the id, without "[instance: ")')
  const csv = new Map(rows(join(KALAKI, 'instance_labels.csv')).slice(1).map(r => r.split(',')).map(f => [f[0], f[1]]))
  const kinds = new Map<string, number>()
  for (const w of o.info) { const k = csv.get(w.key)!; kinds.set(k, (kinds.get(k) ?? 0) + 1) }
  t.same(Object.fromEntries(kinds), { normal: 982, anomaly_vm_destroy_after_create: 78, 'anomaly_other(type2_undefine?)': 54, anomaly_dhcp_off: 48 })
  t.ok(o.info.every((w, r) => o.labels.data[r] === (csv.get(w.key) === 'normal' ? 0 : 1)))
  t.match(o.meta.window, { clock: 'none', idle_timeout_ms: null, max_age_ms: null, max_length: 256, key_from: 'pattern' })
  t.equal(o.meta.counts.lines_without_time, o.meta.counts.lines)
  t.match(o.log, /warning: no line has an event time: the time limits \(idle_timeout, max_age\) cannot apply and are recorded as null; line numbers give the chronological order only/, 'warning (d)')
  t.match(o.log, /warning: the train part \(\d+ windows\) holds no anomalous window/, 'warning (c): the anomalous instances come last in the file')
})
