/**
 * `fluent-anomaly replay FILE --tag TAG [--labels FILE]`: send a log file
 * through a running sidecar, stand in for its downstream, and report what
 * came back (windows, anomalies, and with labels precision / recall / F1).
 *
 *   FILE ─lines─▶ ForwardClient ──Forward, ack──▶ sidecar :24224 ──scored.TAG──▶ ReplayReceiver :24225
 *   {log, replay_seq, replay_run}  barrier record last  ▲   │                       │ settles (acks) at once
 *                                                       │   └─ POST /v1/flush       ▼
 *                                                       │      (admin :24231)     Tally: replay_seq → window,
 *                                                       └──── acks ◀── records back   score, label → summary
 *
 * A run: listen; check the sidecar answers; send every non-empty line as
 * `{<key>: line, replay_seq: <1-based line number>, replay_run: <run id>}`
 * (the sidecar passes unknown fields through; the run id tells this run's
 * records from an earlier run's stragglers); send a barrier record; wait for
 * its ack; POST /v1/flush; wait for every line to come back.
 *
 * Why the barrier instead of "flush once the last line is acked": the sidecar
 * acks a chunk only when all its records were re-emitted, and it holds a
 * record until its window closes, so with session windows the last acks come
 * only after the flush (or idle_timeout). The barrier has no message field:
 * the sidecar passes it on at once (one `records_unscored_total{reason=
 * "no_message"}` there), and a connection's frames are read in order, so its
 * ack means every line before it is inside the sidecar's windows.
 *
 * Acks are awaited without resend (a sidecar may hold records for minutes);
 * a broken connection resends what was unacked, so duplicates are possible
 * and counted. At most --max-unacked lines are in the sidecar at once; when it
 * acks none of them for STALL_MS (its windows wait for lines that cannot come
 * yet) replay flushes it, which closes sessions early, as an idle timeout would.
 *
 * Exit codes: 0 ok, 64 usage, 65 bad labels file, 66 log or labels file
 * missing, 69 sidecar unreachable, cannot listen, or records missing.
 */
import { existsSync, statSync } from 'node:fs'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { parseConfig } from '../../config/load.js'
import { duration } from '../../config/schema.js'
import { quietTelemetry } from '../events.js'
import type { ErrorCode } from '../errors.js'
import { EventTime } from '../forward/event-time.js'
import { ForwardClient } from '../forward/client.js'
import { ForwardServer } from '../forward/server.js'
import { Pipeline } from '../pipeline/pipeline.js'
import { Receipt } from '../pipeline/receipt.js'
import type { LogEvent, Sink } from '../pipeline/stage.js'
import { PrepareError } from '../prepare/errors.js'
import { readLabelFile, type LabelTable } from '../prepare/labels.js'
import { readLines } from '../prepare/read-lines.js'

const DEFAULTS = {
  sidecar: '127.0.0.1:24224', listen: '127.0.0.1:24225', admin: 'http://127.0.0.1:24231',
  key: 'log', batch: 500, wait: '60s', keyPattern: 'blk_-?\\d+', field: 'anomaly', top: 5, maxUnacked: 100_000,
}
/** No ack for this long while --max-unacked lines are held: flush the sidecar. */
const STALL_MS = 2000
const CONNECT_TIMEOUT_MS = 5000
/** After the last record: how long without events before trailing summary events are taken as all there. */
const QUIET_MS = 250

export const REPLAY_USAGE = `usage: fluent-anomaly replay FILE --tag TAG [options]

Sends FILE line by line through a running sidecar (Forward, with ack), receives
what it re-emits (in place of Fluent Bit's in_forward), and prints records sent /
received, windows, anomalous windows, unscored records, the top anomalous windows,
and with labels window-level precision / recall / F1. The sidecar's output
(output.forward host / port, plain TCP) must point at --listen.

  --tag TAG             tag of the records, routing them to a source of the sidecar (e.g. app.hdfs)
  --sidecar HOST:PORT   the sidecar's Forward input (default ${DEFAULTS.sidecar})
  --listen HOST:PORT    where re-emitted records are received: the sidecar's output.forward
                        (default ${DEFAULTS.listen}; port 0 picks a free one)
  --admin URL           the sidecar's admin HTTP, for POST /v1/flush once every line is in
                        (default ${DEFAULTS.admin})
  --token TOKEN         admin bearer token (default: $FLUENT_ANOMALY_ADMIN_TOKEN)
  --wait DURATION       give up once nothing came back for this long (default ${DEFAULTS.wait};
                        a bare number is seconds)
  --key NAME            record field holding the line (default ${DEFAULTS.key})
  --rate N              lines per second (default: as fast as the sidecar reads)
  --batch N             lines per Forward message (default ${DEFAULTS.batch}; with --rate, at most rate/10)
  --limit N             send only the first N lines of FILE
  --max-unacked N       lines sent and not yet acked at most (default ${DEFAULTS.maxUnacked}); a sidecar
                        that holds them all in open windows for ${STALL_MS / 1000} s is flushed (sessions cut early)
  --labels FILE         CSV "key,label" (e.g. HDFS anomaly_label.csv) or "line,label" (1-based)
  --label-format F      key: a line is anomalous if a key in it (--key-pattern) is labelled so
                        line: by line number; inline: the first token of each line, "-" = normal
                        (Loghub BGL / Thunderbird; needs no --labels). Default: from the CSV header
  --key-pattern RE      session keys in a line, for --label-format key (default ${DEFAULTS.keyPattern})
  --field NAME          the sidecar's enrich.field, nested or flat (default ${DEFAULTS.field})
  --top N               anomalous windows listed (default ${DEFAULTS.top})
  --json                print the summary as JSON
  -h, --help            this text

Each record carries the line, replay_seq (its line number) and replay_run (the
run's id). A window is labelled anomalous if any record it owns is; predicted
anomalous if its is_anomaly is true. Empty lines are skipped (line numbers stay
the file's).
Exit codes: 0 ok, 64 usage, 65 bad labels file, 66 FILE or labels file missing,
69 sidecar unreachable, --listen unavailable, or records that did not come back.
`

type ReplayErrorCode = Extract<ErrorCode, `REPLAY_${string}`>
const EXIT: Record<ReplayErrorCode, number> = { REPLAY_USAGE: 64, REPLAY_LABELS: 65, REPLAY_INPUT: 66, REPLAY_UNAVAILABLE: 69 }

export class ReplayError extends Error {
  constructor (readonly code: ReplayErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts)
    this.name = 'ReplayError'
  }

  get exitCode (): number { return EXIT[this.code] }
}

const usage = (msg: string): never => { throw new ReplayError('REPLAY_USAGE', msg) }

// ---- options ----

export interface HostPort { host: string, port: number }
export type LabelFormat = 'key' | 'line' | 'inline'

export interface ReplayOptions {
  file: string
  tag: string
  sidecar: HostPort
  listen: HostPort
  admin: string
  token: string | undefined
  waitMs: number
  key: string
  rate: number | undefined
  batch: number
  limit: number | undefined
  maxUnacked: number
  labels: string | undefined
  labelFormat: LabelFormat | undefined
  keyPattern: RegExp
  field: string
  top: number
  json: boolean
}

export function parseHostPort (name: string, v: string, minPort: number): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v)
  const port = Number(m?.[3])
  if (m === null || !(port >= minPort && port <= 65535)) usage(`--${name} must be HOST:PORT with a port in ${minPort}..65535, got ${JSON.stringify(v)}`)
  const host = (m as RegExpExecArray)[1] ?? (m as RegExpExecArray)[2]
  return { host: host === '' ? '127.0.0.1' : host, port }
}

function int (name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`)
  return n
}

export function parseReplayArgs (argv: string[], env: NodeJS.ProcessEnv = process.env): ReplayOptions | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        tag: { type: 'string' }, sidecar: { type: 'string' }, listen: { type: 'string' }, admin: { type: 'string' },
        token: { type: 'string' }, wait: { type: 'string' }, key: { type: 'string' }, rate: { type: 'string' },
        batch: { type: 'string' }, limit: { type: 'string' }, 'max-unacked': { type: 'string' }, labels: { type: 'string' },
        'label-format': { type: 'string' }, 'key-pattern': { type: 'string' }, field: { type: 'string' }, top: { type: 'string' },
        json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    return usage((err as Error).message)
  }
  const { values: v, positionals } = parsed
  if (v.help === true) return 'help'
  if (positionals.length !== 1) usage(positionals.length === 0 ? 'FILE (the log file to replay) is required' : `one FILE only, got ${positionals.length}: ${positionals.join(' ')}`)
  if (v.tag === undefined || v.tag.trim() === '') usage('--tag is required: the tag that routes the lines to a source of the sidecar (e.g. app.hdfs)')
  let admin: URL | undefined
  try { admin = new URL(v.admin ?? DEFAULTS.admin) } catch { /* below */ }
  if (admin === undefined || (admin.protocol !== 'http:' && admin.protocol !== 'https:')) usage(`--admin must be an http(s) URL, got ${JSON.stringify(v.admin)}`)
  const waitText = v.wait ?? DEFAULTS.wait
  const wait = duration().safeParse(/^\d+(\.\d+)?$/.test(waitText) ? `${waitText}s` : waitText)
  if (!wait.success || wait.data <= 0) usage(`--wait must be a duration such as 60s, 5m or 500ms, got ${JSON.stringify(waitText)}`)
  let rate: number | undefined
  if (v.rate !== undefined) {
    rate = Number(v.rate)
    if (!(rate > 0 && Number.isFinite(rate))) usage(`--rate must be a number of lines per second > 0, got ${JSON.stringify(v.rate)}`)
  }
  const lf = v['label-format']
  if (lf !== undefined && lf !== 'key' && lf !== 'line' && lf !== 'inline') usage(`--label-format must be key, line or inline, got ${JSON.stringify(lf)}`)
  if (lf === 'inline' && v.labels !== undefined) usage('--label-format inline reads labels from the log lines themselves: drop --labels')
  if ((lf === 'key' || lf === 'line') && v.labels === undefined) usage(`--label-format ${lf} needs --labels FILE`)
  if (v['key-pattern'] !== undefined && lf !== undefined && lf !== 'key') usage('--key-pattern applies to --label-format key only')
  let keyPattern: RegExp
  try { keyPattern = new RegExp(v['key-pattern'] ?? DEFAULTS.keyPattern, 'g') } catch (err) { return usage(`--key-pattern: ${(err as Error).message}`) }
  if (v.key !== undefined && v.key === '') usage('--key must not be empty')
  if (v.field !== undefined && v.field === '') usage('--field must not be empty')
  return {
    file: positionals[0],
    tag: v.tag as string,
    sidecar: parseHostPort('sidecar', v.sidecar ?? DEFAULTS.sidecar, 1),
    listen: parseHostPort('listen', v.listen ?? DEFAULTS.listen, 0),
    admin: (admin as URL).href.replace(/\/$/, ''),
    token: v.token ?? (env.FLUENT_ANOMALY_ADMIN_TOKEN || undefined),
    waitMs: (wait as { data: number }).data,
    key: v.key ?? DEFAULTS.key,
    rate,
    batch: int('batch', v.batch) ?? DEFAULTS.batch,
    limit: int('limit', v.limit),
    maxUnacked: int('max-unacked', v['max-unacked']) ?? DEFAULTS.maxUnacked,
    labels: v.labels,
    labelFormat: lf as LabelFormat | undefined,
    keyPattern,
    field: v.field ?? DEFAULTS.field,
    top: int('top', v.top, 0) ?? DEFAULTS.top,
    json: v.json === true,
  }
}

// ---- labels: line -> 0 | 1, decided when the line is sent ----

type Labeler = (line: string, lineNo: number) => 0 | 1

async function loadLabeler (o: ReplayOptions): Promise<{ format: LabelFormat, label: Labeler } | undefined> {
  if (o.labelFormat === 'inline') return { format: 'inline', label: line => (/^\S*/.exec(line)?.[0] === '-' ? 0 : 1) }
  if (o.labels === undefined) return undefined
  if (!existsSync(o.labels)) throw new ReplayError('REPLAY_INPUT', `labels file not found: ${o.labels}`)
  let table: LabelTable
  try {
    table = await readLabelFile(o.labels)
  } catch (err) {
    if (err instanceof PrepareError) throw new ReplayError('REPLAY_LABELS', err.message, { cause: err })
    throw err
  }
  const format = o.labelFormat ?? table.by
  if (format !== table.by) {
    throw new ReplayError('REPLAY_LABELS', `${o.labels} is labelled by ${table.by} (its header), not by ${format}: ${table.by === 'line' ? 'a "line" header means line numbers' : 'a "line,label" file needs the header "line"'}`)
  }
  const labels = table.labels
  if (format === 'line') return { format, label: (_, n) => labels.get(String(n)) ?? 0 }
  const re = o.keyPattern
  return {
    format,
    label: line => {
      for (const m of line.matchAll(re)) if (labels.get(m[0]) === 1) return 1
      return 0
    },
  }
}

// ---- the receiving end: our own Forward server, a sink that settles at once ----

/**
 * Stands in for Fluent Bit's in_forward. Bind it before the sidecar needs it
 * (`ReplayReceiver.listen`), or let runReplay bind --listen.
 */
export class ReplayReceiver implements Sink {
  private readonly listeners = new Set<(e: LogEvent) => void>()
  private server: ForwardServer | undefined
  private bound: HostPort = { host: '', port: 0 }

  static async listen (at: HostPort): Promise<ReplayReceiver> {
    const r = new ReplayReceiver()
    const cfg = parseConfig({ input: { forward: { listen: at.host, port: at.port } } })
    const server = new ForwardServer(cfg.input.forward, new Pipeline([], r, { maxPending: Number.MAX_SAFE_INTEGER }), quietTelemetry())
    try {
      const addr = await server.listen()
      r.bound = { host: addr.address, port: addr.port }
    } catch (err) {
      throw new ReplayError('REPLAY_UNAVAILABLE', `cannot listen on ${at.host}:${at.port}: ${(err as Error).message} (is Fluent Bit's in_forward still on it? stop it, or pass --listen)`, { cause: err })
    }
    r.server = server
    return r
  }

  /** The bound address (the port picked when --listen asked for port 0). */
  get address (): HostPort { return this.bound }
  get pending (): number { return 0 }
  /** Call `f` with every event received from now on; returns the unsubscribe. Events are settled (acked) after the listeners ran. */
  subscribe (f: (e: LogEvent) => void): () => void {
    this.listeners.add(f)
    return () => { this.listeners.delete(f) }
  }

  write (events: LogEvent[]): void {
    for (const e of events) {
      for (const f of this.listeners) f(e)
      e.receipt.settle(1)
    }
  }

  async close (): Promise<void> { await this.server?.close(0) }
}

// ---- what came back ----

interface WindowStat { score: number, isAnomaly: boolean, size: number, topLine: unknown, records: number, label: 0 | 1 }

/** A growable byte per line number. */
class LineBytes {
  a = new Uint8Array(1024)
  get (i: number): number { return i < this.a.length ? this.a[i] : 0 }
  set (i: number, v: number): void {
    if (i >= this.a.length) { const b = new Uint8Array(Math.max(i + 1, this.a.length * 2)); b.set(this.a); this.a = b }
    this.a[i] = v
  }
}

const SENT = 1
const LABEL_ANOMALOUS = 2

class Tally {
  readonly line = new LineBytes() // SENT | LABEL_ANOMALOUS, by line number
  readonly seen = new LineBytes() // times received, saturating at 255
  readonly windows = new Map<string, WindowStat>()
  received = 0
  duplicates = 0
  unscored = 0
  /** window_id of each summary event; ours are those whose window our records came back in. */
  readonly summaryWindows = new Set<string>()
  other = 0
  /** Everything that came back, progress for the waits. */
  events = 0

  constructor (private readonly field: string, private readonly run: string) {}

  take (e: LogEvent): void {
    this.events++
    const r = e.record
    if (e.tag.endsWith('anomaly.summary')) { this.summaryWindows.add(String(r.window_id)); return }
    const seq = r.replay_seq
    if (r.replay_run !== this.run) { this.other++; return }
    if (r.replay_barrier === true) return
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1 || (this.line.get(seq) & SENT) === 0) { this.other++; return }
    const n = this.seen.get(seq)
    this.seen.set(seq, Math.min(255, n + 1))
    if (n > 0) { this.duplicates++; return }
    this.received++
    const a = anomalyOf(r, this.field)
    if (a === undefined) { this.unscored++; return }
    const id = String(a.window_id)
    let w = this.windows.get(id)
    if (w === undefined) {
      w = { score: Number(a.score), isAnomaly: a.is_anomaly === true, size: Number(a.window_size), topLine: a.top_line, records: 0, label: 0 }
      this.windows.set(id, w)
    }
    w.records++
    if ((this.line.get(seq) & LABEL_ANOMALOUS) !== 0) w.label = 1
  }
}

/** The anomaly fields, nested (`anomaly: {...}`) or flat (`"anomaly.score": ...`); undefined when the record was not scored. */
function anomalyOf (r: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  let a = r[field] as Record<string, unknown> | undefined
  if (a === null || typeof a !== 'object' || a instanceof Uint8Array) {
    a = undefined
    const prefix = `${field}.`
    for (const k of Object.keys(r)) if (k.startsWith(prefix)) (a ??= {})[k.slice(prefix.length)] = r[k]
  }
  return a !== undefined && typeof a.score === 'number' && a.window_id !== undefined ? a : undefined
}

// ---- the summary ----

export interface ReplaySummary {
  file: string
  tag: string
  sidecar: string
  listen: string
  lines_read: number
  skipped_empty: number
  sent: number
  received: number
  missing: number
  /** First missing line numbers (at most 20). */
  missing_lines: number[]
  duplicates: number
  unscored: number
  summaries: number
  /** Events not of this run: someone else's traffic through the same sidecar, an earlier run's stragglers. */
  other: number
  windows: number
  anomalous_windows: number
  flush: { ok: true, windows: number, records: number } | { ok: false, error: string }
  stall_flushes: number
  labels?: {
    format: LabelFormat, anomalous_lines: number, windows_labelled_anomalous: number,
    tp: number, fp: number, fn: number, tn: number, precision: number, recall: number, f1: number
  }
  top: Array<{ window_id: string, score: number, size: number, records: number, top_line: unknown, label?: 0 | 1 }>
  elapsed_ms: number
}

function labelMetrics (t: Tally, format: LabelFormat, anomalousLines: number): NonNullable<ReplaySummary['labels']> {
  let tp = 0; let fp = 0; let fn = 0; let tn = 0; let positives = 0
  for (const w of t.windows.values()) {
    positives += w.label
    if (w.isAnomaly) { if (w.label === 1) tp++; else fp++ } else if (w.label === 1) fn++; else tn++
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
  const f1 = precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall)
  return { format, anomalous_lines: anomalousLines, windows_labelled_anomalous: positives, tp, fp, fn, tn, precision, recall, f1 }
}

function summarize (o: ReplayOptions, t: Tally, run: {
  listen: HostPort, linesRead: number, skipped: number, sent: number, flush: ReplaySummary['flush'],
  stallFlushes: number, t0: number, labels: ReplaySummary['labels']
}): ReplaySummary {
  const missingLines: number[] = []
  let missing = 0
  for (let i = 1; i <= run.linesRead; i++) {
    if ((t.line.get(i) & SENT) !== 0 && t.seen.get(i) === 0) { missing++; if (missingLines.length < 20) missingLines.push(i) }
  }
  const windows = [...t.windows]
  let summaries = 0
  for (const id of t.summaryWindows) if (t.windows.has(id)) summaries++
  const anomalous = windows.filter(([, w]) => w.isAnomaly).sort((a, b) => b[1].score - a[1].score)
  return {
    file: o.file,
    tag: o.tag,
    sidecar: `${o.sidecar.host}:${o.sidecar.port}`,
    listen: `${run.listen.host}:${run.listen.port}`,
    lines_read: run.linesRead,
    skipped_empty: run.skipped,
    sent: run.sent,
    received: t.received,
    missing,
    missing_lines: missingLines,
    duplicates: t.duplicates,
    unscored: t.unscored,
    summaries,
    other: t.other + t.summaryWindows.size - summaries,
    windows: windows.length,
    anomalous_windows: anomalous.length,
    flush: run.flush,
    stall_flushes: run.stallFlushes,
    labels: run.labels,
    top: anomalous.slice(0, o.top).map(([id, w]) => ({
      window_id: id, score: w.score, size: w.size, records: w.records, top_line: w.topLine,
      ...(run.labels === undefined ? {} : { label: w.label }),
    })),
    elapsed_ms: Date.now() - run.t0,
  }
}

// ---- admin flush ----

async function flushSidecar (o: ReplayOptions): Promise<{ windows: number, records: number }> {
  const headers: Record<string, string> = {}
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
  const res = await request(`${o.admin}/v1/flush`, { method: 'POST', headers, headersTimeout: o.waitMs, bodyTimeout: o.waitMs })
  const text = await res.body.text()
  if (res.statusCode !== 200) {
    let msg = text.trim()
    try { msg = String((JSON.parse(text) as { error?: unknown }).error ?? msg) } catch { /* not JSON */ }
    throw new Error(`HTTP ${res.statusCode}${msg === '' ? '' : `: ${msg}`}${res.statusCode === 401 ? ' (pass --token or set FLUENT_ANOMALY_ADMIN_TOKEN)' : ''}`)
  }
  const body = JSON.parse(text) as { windows?: unknown, records?: unknown }
  return { windows: Number(body.windows ?? 0), records: Number(body.records ?? 0) }
}

// ---- the run ----

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Resolves once `count` has not moved for `quietMs`, or after `maxMs`. */
async function quiet (count: () => number, quietMs: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs
  let last = count()
  let at = Date.now()
  while (Date.now() < end && Date.now() - at < quietMs) {
    await sleep(20)
    if (count() !== last) { last = count(); at = Date.now() }
  }
}

function reachable (at: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: at.host, port: at.port })
    const fail = (msg: string): void => { sock.destroy(); reject(new ReplayError('REPLAY_UNAVAILABLE', `cannot reach the sidecar at ${at.host}:${at.port}: ${msg} (is it running? see --sidecar)`)) }
    sock.setTimeout(CONNECT_TIMEOUT_MS, () => fail(`no connection within ${CONNECT_TIMEOUT_MS} ms`))
    sock.once('error', err => fail(err.message))
    sock.once('connect', () => { sock.end(); resolve() })
  })
}

export interface ReplayDeps {
  /** A receiver already listening (its port is the sidecar's output); default: bind --listen. */
  receiver?: ReplayReceiver
  warn?: (msg: string) => void
}

export async function replay (o: ReplayOptions, deps: ReplayDeps = {}): Promise<ReplaySummary> {
  const warn = deps.warn ?? (() => {})
  const t0 = Date.now()
  if (!existsSync(o.file) || !statSync(o.file).isFile()) throw new ReplayError('REPLAY_INPUT', `log file not found: ${o.file}`)
  const labeler = await loadLabeler(o)
  const receiver = deps.receiver ?? await ReplayReceiver.listen(o.listen)
  const run = randomBytes(8).toString('hex')
  const tally = new Tally(o.field, run)
  const unsubscribe = receiver.subscribe(e => tally.take(e))
  let client: ForwardClient | undefined
  try {
    await reachable(o.sidecar)
    const batch = o.rate === undefined ? o.batch : Math.max(1, Math.min(o.batch, Math.floor(o.rate / 10)))
    client = new ForwardClient(parseConfig({
      output: {
        forward: {
          host: o.sidecar.host, port: o.sidecar.port, tag_prefix: '', retain_metadata: false,
          max_chunk_records: batch, max_inflight_chunks: o.maxUnacked + 1, // --max-unacked bounds them, in lines
          ack_timeout: 24 * 3_600_000, retry_initial: 200, retry_max: 5000,
        },
      },
    }).output.forward, quietTelemetry())
    const c = client
    let acked = 0
    let sent = 0
    let stallFlushes = 0
    const progress = (): number => acked + tally.events
    /**
     * Wait for `done`, giving up once nothing moved for --wait; `stallFlush`:
     * flush once nothing moved for STALL_MS (again after each move).
     */
    const settle = async (done: () => boolean, stallFlush: boolean): Promise<boolean> => {
      let last = progress()
      let at = Date.now()
      let flushed = false
      while (!done()) {
        await sleep(20)
        const p = progress()
        if (p !== last) { last = p; at = Date.now(); flushed = false; continue }
        const idle = Date.now() - at
        if (idle >= o.waitMs) return false
        if (stallFlush && !flushed && idle >= STALL_MS) {
          flushed = true
          stallFlushes++
          await flushSidecar(o).catch((err: unknown) => warn(`flush while the sidecar held ${sent - acked} lines failed: ${(err as Error).message}`))
        }
      }
      return true
    }
    const send = (records: Array<Record<string, unknown>>): void => {
      const receipt = new Receipt(records.length, n => { acked += n })
      c.write(records.map(record => ({ tag: o.tag, time: EventTime.now(), record, receipt })))
      sent += records.length
    }
    let linesRead = 0
    let skipped = 0
    let anomalousLines = 0
    let pending: Array<Record<string, unknown>> = []
    const tStart = Date.now()
    const flushPending = async (): Promise<void> => {
      if (o.rate !== undefined) {
        const due = tStart + (sent / o.rate) * 1000
        if (due > Date.now()) await sleep(due - Date.now())
      }
      if (sent + pending.length - acked > o.maxUnacked) {
        const ok = await settle(() => sent + pending.length - acked <= o.maxUnacked, true)
        if (!ok) throw new ReplayError('REPLAY_UNAVAILABLE', `the sidecar acknowledged nothing for ${o.waitMs} ms (${sent - acked} lines unacked); is it still running and is its output pointed at ${receiver.address.host}:${receiver.address.port}?`)
      }
      send(pending)
      pending = []
    }
    reading: for await (const lines of readLines(o.file)) {
      for (const line of lines) {
        if (o.limit !== undefined && linesRead >= o.limit) break reading
        const n = ++linesRead
        if (line === '') { skipped++; continue }
        let flags = SENT
        if (labeler?.label(line, n) === 1) { flags |= LABEL_ANOMALOUS; anomalousLines++ }
        tally.line.set(n, flags)
        pending.push({ [o.key]: line, replay_seq: n, replay_run: run })
        if (pending.length >= batch) await flushPending()
      }
    }
    if (pending.length > 0) await flushPending()
    // The barrier: acked once the sidecar has read every line before it. It
    // needs a chunk of its own (a chunk is acked only when all its records
    // are): with flush_interval 0 the client seals the open chunk at the end
    // of this event-loop turn, so write the barrier in the next one.
    await new Promise(resolve => setImmediate(resolve))
    const barrier = new Receipt(1)
    c.write([{ tag: o.tag, time: EventTime.now(), record: { replay_run: run, replay_barrier: true }, receipt: barrier }])
    if (!await settle(() => barrier.done, true)) {
      throw new ReplayError('REPLAY_UNAVAILABLE', `the sidecar did not acknowledge the last lines within ${o.waitMs} ms (${sent - acked} of ${sent} unacked); is its output pointed at ${receiver.address.host}:${receiver.address.port}?`)
    }
    let flush: ReplaySummary['flush']
    try {
      flush = { ok: true, ...await flushSidecar(o) }
    } catch (err) {
      flush = { ok: false, error: (err as Error).message }
      warn(`POST ${o.admin}/v1/flush failed (${flush.error}); waiting up to ${o.waitMs} ms for windows to close on their own`)
    }
    await settle(() => acked === sent && tally.received === sent, false)
    // Summary events travel in chunks of their own, tied to none of our acks: let them land.
    if (tally.received === sent) await quiet(() => tally.events, QUIET_MS, 10 * QUIET_MS)
    return summarize(o, tally, {
      listen: receiver.address, linesRead, skipped, sent, flush, stallFlushes, t0,
      labels: labeler === undefined ? undefined : labelMetrics(tally, labeler.format, anomalousLines),
    })
  } finally {
    await client?.close(0)
    unsubscribe()
    if (deps.receiver === undefined) await receiver.close()
  }
}

// ---- output ----

const f3 = (x: number): string => x.toFixed(3)

export function formatSummary (s: ReplaySummary): string {
  const out: string[] = []
  out.push(`replayed ${s.file} (tag ${s.tag}) through ${s.sidecar}, received on ${s.listen}, in ${(s.elapsed_ms / 1000).toFixed(1)} s`)
  out.push(`records   ${s.sent} sent, ${s.received} received back, ${s.missing} missing, ${s.duplicates} duplicates, ${s.unscored} unscored` +
    (s.skipped_empty > 0 ? `, ${s.skipped_empty} empty lines skipped` : '') + (s.other > 0 ? `, ${s.other} other events` : ''))
  out.push(`windows   ${s.windows}, ${s.anomalous_windows} anomalous (${s.summaries} summary events)`)
  out.push(s.flush.ok ? `flush     ${s.flush.windows} windows, ${s.flush.records} records closed at the end` : `flush     failed: ${s.flush.error}`)
  if (s.stall_flushes > 0) out.push(`          and ${s.stall_flushes} flushes while the sidecar held --max-unacked lines (sessions cut early)`)
  if (s.labels !== undefined) {
    const l = s.labels
    out.push(`labels    ${l.format}: ${l.anomalous_lines} anomalous lines, ${l.windows_labelled_anomalous} of ${s.windows} windows labelled anomalous`)
    out.push(`          precision ${f3(l.precision)}  recall ${f3(l.recall)}  F1 ${f3(l.f1)}  (tp ${l.tp}, fp ${l.fp}, fn ${l.fn}, tn ${l.tn})`)
  }
  if (s.top.length > 0) {
    out.push(`top ${s.top.length} anomalous windows`)
    out.push(`     score   size  ${s.labels === undefined ? '' : 'label  '}window / top line`)
    for (const w of s.top) {
      out.push(`  ${w.score.toFixed(4).padStart(8)}  ${String(w.size).padStart(5)}  ${w.label === undefined ? '' : `${(w.label === 1 ? 'anom' : 'norm').padEnd(5)}  `}${w.window_id}`)
      out.push(`${' '.repeat(19 + (w.label === undefined ? 0 : 7))}${String(w.top_line ?? '')}`)
    }
  }
  if (s.windows === 0 && s.received > 0) out.push(`no record was scored: does --tag ${s.tag} match a source of the sidecar (sources[].match), and does --key name its message_key?`)
  return out.join('\n') + '\n'
}

export interface ReplayIO {
  stdout?: { write: (s: string) => unknown }
  stderr?: { write: (s: string) => unknown }
  /** A receiver already listening (tests: the sidecar's output is pointed at it before the run). */
  receiver?: ReplayReceiver
  env?: NodeJS.ProcessEnv
}

export async function runReplay (argv: string[], io: ReplayIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  try {
    const opts = parseReplayArgs(argv, io.env)
    if (opts === 'help') { stdout.write(REPLAY_USAGE); return 0 }
    const s = await replay(opts, { receiver: io.receiver, warn: msg => stderr.write(`fluent-anomaly replay: ${msg}\n`) })
    stdout.write(opts.json ? JSON.stringify(s, null, 2) + '\n' : formatSummary(s))
    if (s.missing > 0) {
      stderr.write(`fluent-anomaly replay: ${s.missing} of ${s.sent} records did not come back within --wait (${opts.waitMs} ms without progress); first missing lines: ${s.missing_lines.join(', ')}\n`)
      return EXIT.REPLAY_UNAVAILABLE
    }
    return 0
  } catch (err) {
    if (err instanceof ReplayError) {
      stderr.write(`fluent-anomaly replay: [${err.code}] ${err.message}\n`)
      if (err.code === 'REPLAY_USAGE') stderr.write('run "fluent-anomaly replay --help" for the options\n')
      return err.exitCode
    }
    throw err
  }
}
