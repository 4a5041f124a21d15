/**
 * `fluent-anomaly replay` against a real scoring sidecar in this process: real
 * sockets on port 0, the tiny bundle the trainer made, real HDFS lines and
 * their labels. The replay receiver is bound first, so the sidecar's output
 * can point at it; runReplay then takes it instead of binding --listen.
 */
import t from 'tap'
import net from 'node:net'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { ReplayReceiver, runReplay, type ReplaySummary } from '../../plugin/cli/replay.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'

const HDFS = join(DATASETS, 'hdfs_loglead_2pct')
const LOG = join(HDFS, 'HDFS_2pct.log')
const LABELS = join(HDFS, 'anomaly_label.csv')
const TOKEN = 'replay-test-token-0123456789'

/** runReplay with stdout / stderr captured. */
async function replay (argv: string[], io: { receiver?: ReplayReceiver, env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runReplay(argv, { ...io, stdout: { write: (s: string) => { stdout += s } }, stderr: { write: (s: string) => { stderr += s } } })
  return { code, stdout, stderr }
}

/** A port nobody listens on (bound, then released). */
async function deadPort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as net.AddressInfo
  await new Promise(resolve => s.close(resolve))
  return port
}

/** Window-level confusion counts from the records that came back, labels read here from the CSV. */
async function recompute (records: Array<Record<string, unknown>>): Promise<{ windows: number, tp: number, fp: number, fn: number, tn: number, precision: number, recall: number, f1: number }> {
  const labels = new Map<string, boolean>()
  for (const row of (await readFile(LABELS, 'utf8')).split('\n').slice(1)) {
    const [k, v] = row.trim().split(',')
    if (k !== undefined && v !== undefined) labels.set(k, v === 'Anomaly')
  }
  const windows = new Map<string, { pred: boolean, label: boolean }>()
  for (const r of records) {
    const a = r.anomaly as { window_id: string, is_anomaly: boolean }
    const w = windows.get(a.window_id) ?? { pred: a.is_anomaly, label: false }
    if (w.pred !== a.is_anomaly) throw new Error(`records of window ${a.window_id} disagree on is_anomaly`)
    w.label ||= [...(r.log as string).matchAll(/blk_-?\d+/g)].some(m => labels.get(m[0]) === true)
    windows.set(a.window_id, w)
  }
  let tp = 0; let fp = 0; let fn = 0; let tn = 0
  for (const w of windows.values()) {
    if (w.pred && w.label) tp++
    else if (w.pred) fp++
    else if (w.label) fn++
    else tn++
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
  const f1 = precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall)
  return { windows: windows.size, tp, fp, fn, tn, precision, recall, f1 }
}

t.test('usage errors exit 64 with a message naming the problem', async t => {
  const cases: Array<[string[], RegExp]> = [
    [[], /FILE \(the log file to replay\) is required/],
    [[LOG], /--tag is required/],
    [[LOG, LOG, '--tag', 'app.hdfs'], /one FILE only/],
    [[LOG, '--tag', 'app.hdfs', '--bogus'], /Unknown option '--bogus'/],
    [[LOG, '--tag', 'app.hdfs', '--sidecar', 'localhost'], /--sidecar must be HOST:PORT/],
    [[LOG, '--tag', 'app.hdfs', '--sidecar', '127.0.0.1:0'], /--sidecar must be HOST:PORT with a port in 1\.\.65535/],
    [[LOG, '--tag', 'app.hdfs', '--batch', '0'], /--batch must be an integer >= 1/],
    [[LOG, '--tag', 'app.hdfs', '--rate', 'fast'], /--rate must be a number/],
    [[LOG, '--tag', 'app.hdfs', '--wait', 'forever'], /--wait must be a duration/],
    [[LOG, '--tag', 'app.hdfs', '--admin', 'ftp://x'], /--admin must be an http\(s\) URL/],
    [[LOG, '--tag', 'app.hdfs', '--label-format', 'csv'], /--label-format must be key, line or inline/],
    [[LOG, '--tag', 'app.hdfs', '--label-format', 'inline', '--labels', LABELS], /inline reads labels from the log lines/],
    [[LOG, '--tag', 'app.hdfs', '--label-format', 'key'], /--label-format key needs --labels FILE/],
    [[LOG, '--tag', 'app.hdfs', '--labels', LABELS, '--key-pattern', '('], /--key-pattern: Invalid regular expression/],
  ]
  for (const [argv, message] of cases) {
    const r = await replay(argv)
    t.equal(r.code, 64, argv.join(' '))
    t.match(r.stderr, message)
    t.match(r.stderr, /\[REPLAY_USAGE\][\s\S]*fluent-anomaly replay --help/)
  }
  const help = await replay(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: fluent-anomaly replay FILE --tag TAG/)
  for (const opt of ['--sidecar', '--listen', '--admin', '--token', '--wait', '--key', '--rate', '--batch', '--limit', '--labels', '--label-format', '--key-pattern', '--json']) {
    t.match(help.stdout, opt, `usage documents ${opt}`)
  }
})

t.test('missing input files exit 66, a bad labels file 65, before anything is sent', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'fa-replay-'))
  let r = await replay([join(dir, 'nope.log'), '--tag', 'app.hdfs'])
  t.equal(r.code, 66)
  t.match(r.stderr, /\[REPLAY_INPUT\] log file not found: .*nope\.log/)
  r = await replay([LOG, '--tag', 'app.hdfs', '--labels', join(dir, 'nope.csv')])
  t.equal(r.code, 66)
  t.match(r.stderr, /labels file not found: .*nope\.csv/)
  const bad = join(dir, 'bad.csv')
  await writeFile(bad, 'BlockId,Label\nblk_1,Maybe\n')
  r = await replay([LOG, '--tag', 'app.hdfs', '--labels', bad])
  t.equal(r.code, 65)
  t.match(r.stderr, /\[REPLAY_LABELS\] .*bad\.csv:2: unknown label "maybe"/)
  const byLine = join(dir, 'by-line.csv')
  await writeFile(byLine, 'line,label\n3,1\n')
  r = await replay([LOG, '--tag', 'app.hdfs', '--labels', byLine, '--label-format', 'key'])
  t.equal(r.code, 65)
  t.match(r.stderr, /labelled by line \(its header\), not by key/)
})

t.test('an unreachable sidecar exits 69 and says where it looked', async t => {
  const port = await deadPort()
  const r = await replay([LOG, '--tag', 'app.hdfs', '--sidecar', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--limit', '10'])
  t.equal(r.code, 69)
  t.match(r.stderr, new RegExp(`\\[REPLAY_UNAVAILABLE\\] cannot reach the sidecar at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
  t.equal(r.stdout, '', 'no summary')
})

t.test('--listen on a port already taken exits 69', async t => {
  const taken = await ReplayReceiver.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => taken.close())
  const r = await replay([LOG, '--tag', 'app.hdfs', '--listen', `127.0.0.1:${taken.address.port}`, '--limit', '10'])
  t.equal(r.code, 69)
  t.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
})

t.test('HDFS lines through a scoring sidecar: every line back once, windows, P/R/F1, flush', async t => {
  const rx = await ReplayReceiver.listen({ host: '127.0.0.1', port: 0 })
  const received: LogEvent[] = []
  rx.subscribe(e => received.push(e))
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.address.port, retry_initial: 50 } },
    model: { bundle: await tinyBundle(), threads: 1, watch: false },
    // idle_timeout and max_age far beyond the test: windows close only through the flush
    sources: [
      { name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { idle_timeout: '10m', max_age: '1h' } },
      // BGL lines scored with the HDFS adapter: nonsense scores, but real sliding windows to label inline
      { name: 'bgl', adapter: 'hdfs', match: '*.bgl', format: 'bgl', message_key: 'message', window: { mode: 'sliding', size: 20, idle_timeout: '10m', max_age: '1h' } },
    ],
    admin: { port: 0, token: TOKEN },
    limits: { shutdown_grace: 5000 },
  })
  const sc = await buildSidecar(config, { telemetry })
  const { forward, admin } = await sc.start()
  t.teardown(async () => { await sc.stop(); await rx.close() })
  const common = ['--tag', 'app.hdfs', '--sidecar', `127.0.0.1:${forward.port}`, '--admin', `http://127.0.0.1:${admin?.port}`]
  const N = 3000

  await t.test('--json: counts match the records, P/R/F1 match a recomputation', async t => {
    received.length = 0
    const t0 = Date.now()
    const r = await replay([LOG, ...common, '--token', TOKEN, '--labels', LABELS, '--limit', String(N), '--batch', '250', '--json'], { receiver: rx })
    t.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as ReplaySummary
    const lines = (await readFile(LOG, 'utf8')).split('\n').slice(0, N)
    t.equal(lines.filter(l => l === '').length, 0, 'the first lines have no empty one')
    const records = received.filter(e => e.tag === 'scored.app.hdfs' && typeof e.record.replay_seq === 'number')
    const bySeq = new Map<number, number>()
    for (const e of records) bySeq.set(e.record.replay_seq as number, (bySeq.get(e.record.replay_seq as number) ?? 0) + 1)
    t.equal(bySeq.size, N, 'every line came back')
    t.ok([...bySeq.values()].every(n => n === 1), 'each exactly once')
    t.ok(records.every(e => e.record.log === lines[(e.record.replay_seq as number) - 1]), 'with its line unchanged')
    t.match(s, { lines_read: N, sent: N, received: N, missing: 0, missing_lines: [], duplicates: 0, unscored: 0, other: 0 })
    t.ok(records.every(e => typeof (e.record.anomaly as { score?: unknown }).score === 'number'), 'every record scored')
    const re = await recompute(records.map(e => e.record))
    t.equal(s.windows, re.windows, 'windows = distinct window ids that came back')
    t.equal(s.windows, telemetry.counters.get('windows_scored_total', { source: 'hdfs' }), 'and = windows the sidecar scored')
    t.equal(s.anomalous_windows, re.tp + re.fp)
    t.same(s.labels, { format: 'key', anomalous_lines: s.labels?.anomalous_lines, windows_labelled_anomalous: re.tp + re.fn, tp: re.tp, fp: re.fp, fn: re.fn, tn: re.tn, precision: re.precision, recall: re.recall, f1: re.f1 })
    t.ok((s.labels?.windows_labelled_anomalous ?? 0) > 0, 'the sample has anomalous blocks')
    t.equal(s.summaries, s.anomalous_windows, 'one summary event per anomalous window')
    // with idle_timeout 10m, only the flush can have closed the last windows this soon
    t.equal(s.flush.ok, true)
    t.ok(s.flush.ok && s.flush.windows > 0 && s.flush.records > 0, `flush closed the open windows: ${JSON.stringify(s.flush)}`)
    t.ok(Date.now() - t0 < 5 * 60_000, 'finished long before any idle timeout')
    t.equal(s.stall_flushes, 0)
    t.equal(s.top.length, Math.min(5, s.anomalous_windows))
    for (let i = 1; i < s.top.length; i++) t.ok(s.top[i - 1].score >= s.top[i].score, 'top windows by score')
    if (s.top.length > 0) t.match(s.top[0], { window_id: /^hdfs:/, score: Number, size: Number, top_line: String, label: Number })
  })

  await t.test('text output; token from the environment; a second run on the same sidecar', async t => {
    received.length = 0
    const r = await replay([LOG, ...common, '--labels', LABELS, '--limit', '1000', '--rate', '20000'], { receiver: rx, env: { FLUENT_ANOMALY_ADMIN_TOKEN: TOKEN } })
    t.equal(r.code, 0, r.stderr)
    const records = received.filter(e => typeof e.record.replay_seq === 'number').map(e => e.record)
    t.equal(records.length, 1000)
    const re = await recompute(records)
    t.match(r.stdout, /records {3}1000 sent, 1000 received back, 0 missing, 0 duplicates, 0 unscored\n/)
    t.match(r.stdout, new RegExp(`windows {3}${re.windows}, ${re.tp + re.fp} anomalous`))
    t.match(r.stdout, `precision ${re.precision.toFixed(3)}  recall ${re.recall.toFixed(3)}  F1 ${re.f1.toFixed(3)}  (tp ${re.tp}, fp ${re.fp}, fn ${re.fn}, tn ${re.tn})`)
    t.match(r.stdout, /flush {5}\d+ windows, \d+ records closed at the end/)
    t.equal(r.stderr, '')
  })

  await t.test('inline labels (BGL layout), --key, --rate, an empty line', async t => {
    const bgl = (await readFile(join(DATASETS, 'bgl_head_10k', 'BGL_head_10k.log'), 'utf8')).split('\n').slice(0, 400)
    // the head of BGL has no alert: tag a few lines as Loghub does (first token = alert category)
    for (const i of [100, 101, 102, 250, 333]) bgl[i] = bgl[i].replace(/^- /, 'KERNDTLB ')
    bgl.splice(50, 0, '')
    const file = join(await mkdtemp(join(tmpdir(), 'fa-replay-')), 'bgl.log')
    await writeFile(file, bgl.join('\n') + '\n')
    received.length = 0
    const r = await replay([file, ...common.slice(2), '--tag', 'app.bgl', '--token', TOKEN, '--key', 'message', '--label-format', 'inline', '--rate', '2000', '--json'], { receiver: rx })
    t.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as ReplaySummary
    t.match(s, { lines_read: 401, skipped_empty: 1, sent: 400, received: 400, missing: 0, unscored: 0 })
    const records = received.filter(e => e.tag === 'scored.app.bgl' && typeof e.record.replay_seq === 'number')
    t.same(records.map(e => e.record.replay_seq).sort((a, b) => (a as number) - (b as number)), [...Array(401).keys()].map(i => i + 1).filter(n => n !== 51), 'line numbers are the file\'s, the empty line 51 skipped')
    const windows = new Map<string, { pred: boolean, label: boolean }>()
    for (const e of records) {
      const a = e.record.anomaly as { window_id: string, is_anomaly: boolean }
      const w = windows.get(a.window_id) ?? { pred: a.is_anomaly, label: false }
      w.label ||= !(e.record.message as string).startsWith('- ')
      windows.set(a.window_id, w)
    }
    const labelled = [...windows.values()].filter(w => w.label).length
    t.equal(s.windows, windows.size)
    t.equal(s.windows, 20, '400 lines, sliding windows of 20')
    t.match(s.labels, { format: 'inline', anomalous_lines: 5, windows_labelled_anomalous: labelled })
    t.equal(labelled, 3, 'the three adjacent tagged lines share a window, the other two have one each')
    t.equal(s.labels?.tp, [...windows.values()].filter(w => w.pred && w.label).length)
    t.equal(s.labels?.fp, [...windows.values()].filter(w => w.pred && !w.label).length)
    t.ok(s.elapsed_ms >= 100, `--rate 2000: 400 lines in two batches 100 ms apart (${s.elapsed_ms} ms)`)
  })

  await t.test('--max-unacked: a sidecar holding that many lines without acking is flushed, and the run goes on', async t => {
    const r = await replay([LOG, ...common, '--token', TOKEN, '--limit', '600', '--batch', '100', '--max-unacked', '300'], { receiver: rx })
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /records {3}600 sent, 600 received back, 0 missing/)
    t.match(r.stdout, /and [1-9]\d* flushes while the sidecar held --max-unacked lines \(sessions cut early\)/)
  })

  await t.test('a refused flush is reported; what does not come back within --wait exits 69 and is counted', async t => {
    const r = await replay([LOG, ...common, '--token', 'wrong-token-0123456789', '--limit', '200', '--wait', '1s', '--json'], { receiver: rx })
    t.equal(r.code, 69)
    t.match(r.stderr, /POST http:\/\/127\.0\.0\.1:\d+\/v1\/flush failed \(HTTP 401: missing or wrong bearer token \(pass --token/)
    t.match(r.stderr, /200 of 200 records did not come back within --wait .*first missing lines: 1, 2, 3/)
    const s = JSON.parse(r.stdout) as ReplaySummary
    t.match(s, { sent: 200, received: 0, missing: 200, flush: { ok: false, error: /HTTP 401/ } })
    t.equal(s.missing_lines.length, 20, 'the first 20 missing lines are listed')
  })
})
