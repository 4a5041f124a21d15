/**
 * Raw log line -> { content, time, label } per log format, and how each format
 * is windowed. Header layouts follow loghub (Zhu et al., ISSRE 2023):
 *
 *   hdfs         <Date> <Time> <Pid> <Level> <Component>: <Content>
 *                081109 203530 147 INFO dfs.DataNode$DataXceiver: Receiving block blk_43...
 *                time: yymmdd HHMMSS, read as UTC (the logs carry no zone)
 *                windows: session per block id (blk_-?\d+), a line naming two blocks is in both
 *   bgl          <Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>
 *                - 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction ...
 *                time: <Timestamp> (epoch s) + the microseconds of <Time>
 *                also read: the `log,category,label` CSV of bgl_random_lines_2k
 *                (same line without <Label> <Timestamp>; time from <Time> as UTC)
 *   thunderbird  <Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>
 *                (a line without "component:" keeps the rest after <Location>; time: <Timestamp>)
 *                bgl / thunderbird: first column `-` = normal, anything else (an
 *                alert tag) = anomalous, stripped before parsing; sliding windows.
 *   generic      --log-format '<Date> <Time> <Level>: <Content>' (loghub style,
 *                plugin/mining/log-format.ts); fields Content, optional Label
 *                (first-column style), time from Timestamp or Date + Time
 *                (--time-format 'yy/MM/dd HH:mm:ss', else epoch s, epoch ms, or
 *                anything Date.parse reads); without a
 *                format the whole line is the content. No time: the line number
 *                is used (seconds), so the chronological split follows file order.
 *                Without --log-format, the logFormat of the --preset is used if it has one.
 *                Session windows when --session-key REGEX is given, else sliding.
 *
 * A line the header regex does not match keeps the whole line as content and
 * the previous line's time, and is counted (`header_mismatch` in meta.json).
 */
import { compileLogFormat } from '../mining/log-format.js'

export type WindowMode = 'session' | 'sliding'

export interface ParsedLine {
  content: string
  /** Event time, epoch seconds; NaN when the line has none. */
  time: number
  /** From the line itself (first column), when the format carries labels. */
  label?: 0 | 1
}

export interface LogFormat {
  name: string
  mode: WindowMode
  /** Session key pattern (session mode). */
  sessionKey?: RegExp
  /** Whether lines carry their own label. */
  lineLabels: boolean
  /** null: the header regex did not match. */
  parse (line: string): ParsedLine | null
  /**
   * `parse(line)?.content ?? null`, without reading the time and the label:
   * the sidecar needs only the content, once per record. Formats without it
   * are read with `parse`.
   */
  content?: (line: string) => string | null
  /** A line that is not a log line at all (a CSV header row): skipped, not counted. */
  skip?: (line: string) => boolean
}

export const FORMAT_NAMES = ['hdfs', 'bgl', 'thunderbird', 'generic'] as const
export type FormatName = typeof FORMAT_NAMES[number]

/** Drain preset (config/drain-presets.yaml, names match case-insensitively) used when --preset is not given. */
export const DEFAULT_PRESETS: Readonly<Record<FormatName, string>> = { hdfs: 'HDFS', bgl: 'BGL', thunderbird: 'Thunderbird', generic: 'default' }

const HDFS_RE = /^(\d{6})\s+(\d{6})\s+(\d+)\s+(\S+)\s+(.*?):\s+(.*)$/
// HDFS_RE with only the content captured: it matches exactly the same lines, the same way
const HDFS_CONTENT_RE = /^\d{6}\s+\d{6}\s+\d+\s+\S+\s+.*?:\s+(.*)$/
const hdfsDayCache = { key: '', ms: 0 }

function hdfsTime (date: string, time: string): number {
  if (date !== hdfsDayCache.key) {
    const y = 2000 + Number(date.slice(0, 2))
    hdfsDayCache.key = date
    hdfsDayCache.ms = Date.UTC(y, Number(date.slice(2, 4)) - 1, Number(date.slice(4, 6)))
  }
  const s = Number(time.slice(0, 2)) * 3600 + Number(time.slice(2, 4)) * 60 + Number(time.slice(4, 6))
  return hdfsDayCache.ms / 1000 + s
}

const hdfs: LogFormat = {
  name: 'hdfs',
  mode: 'session',
  sessionKey: /blk_-?\d+/,
  lineLabels: false,
  parse (line) {
    const m = HDFS_RE.exec(line)
    if (m === null) return null
    return { content: m[6], time: hdfsTime(m[1], m[2]) }
  },
  content: line => HDFS_CONTENT_RE.exec(line)?.[1] ?? null,
}

const BGL_RE = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*)$/
const MICROS_RE = /\.(\d{1,6})$/
// BGL_RE and parse's check of <Date> (the lookahead) with only the content captured
const BGL_CONTENT_RE = /^\S+\s+\d+\s+(?=\d{4}\.)\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s?(.*)$/

const labelOf = (first: string): 0 | 1 => (first === '-' ? 0 : 1)

// The `log,category,label` CSV of bgl_random_lines_2k (BGL lines without the
// label and epoch columns, then the alert tag and 0/1): time from <Time>, as UTC.
const BGL_CSV_HEADER = 'log,category,label'
const BGL_CSV_RE = /^(\S+)\s+(\S+)\s+(\d{4})-(\d\d)-(\d\d)-(\d\d)\.(\d\d)\.(\d\d)(\.\d+)?\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s?(.*),([^,]*),([01])$/

const bgl: LogFormat = {
  name: 'bgl',
  mode: 'sliding',
  lineLabels: true,
  parse (line) {
    const m = BGL_RE.exec(line)
    if (m !== null && /^\d{4}\./.test(m[3])) {
      const micros = MICROS_RE.exec(m[5])
      const frac = micros === null ? 0 : Number(micros[1].padEnd(6, '0')) / 1e6
      return { content: m[10], time: Number(m[2]) + frac, label: labelOf(m[1]) }
    }
    const c = BGL_CSV_RE.exec(line)
    if (c === null) return null
    const time = Date.UTC(+c[3], +c[4] - 1, +c[5], +c[6], +c[7], +c[8]) / 1000 + Number(c[9] ?? 0)
    return { content: c[14], time, label: c[16] === '1' ? 1 : 0 }
  },
  content: line => BGL_CONTENT_RE.exec(line)?.[1] ?? bgl.parse(line)?.content ?? null,
  skip: line => line === BGL_CSV_HEADER,
}

// loghub's Thunderbird format (the Drain preset's): Content without "component[pid]:".
const TB_FORMAT = compileLogFormat('<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\\[<PID>\\])?: <Content>')
// A line without a "component:" part still loses its header (and its label column).
const TB_RE = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s?(.*)$/

const thunderbird: LogFormat = {
  name: 'thunderbird',
  mode: 'sliding',
  lineLabels: true,
  parse (line) {
    const g = TB_FORMAT.parse(line)
    if (g !== null && /^\d+$/.test(g.Timestamp)) return { content: g.Content, time: Number(g.Timestamp), label: labelOf(g.Label) }
    const m = TB_RE.exec(line)
    if (m === null) return null
    return { content: m[9], time: Number(m[2]), label: labelOf(m[1]) }
  },
}

export interface GenericFormatOptions {
  /**
   * Loghub-style header, e.g. `<Date> <Time> <Level> <Component>: <Content>`
   * (parsed by plugin/mining/log-format.ts). Fields used: Content (required),
   * Label (first-column style: `-`/0/normal = normal, else anomalous), time from
   * Timestamp, else Date + Time.
   */
  logFormat?: string
  /** Session key regex (capture group 1 if any, else the whole match). */
  sessionKey?: string
  /** Pattern of the time fields, e.g. `yy/MM/dd HH:mm:ss` (see compileTimeFormat); default: epoch or Date.parse. */
  timeFormat?: string
}

const NORMAL_LABELS = new Set(['-', '0', 'normal', 'false', ''])

/** Epoch seconds from epoch s / epoch ms / anything Date.parse reads; NaN otherwise. */
export function parseTimeValue (v: string): number {
  const s = v.trim()
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s)
    return n > 1e11 ? n / 1000 : n // epoch ms vs epoch s
  }
  const ms = Date.parse(s)
  return Number.isNaN(ms) ? NaN : ms / 1000
}

/**
 * A tiny strptime for log timestamps, read as UTC: yyyy yy MM dd HH mm ss, and
 * S.. for fraction digits (`ss,SSS` or `ss.SSSSSS`); a run of spaces matches
 * any whitespace; every other character must appear as is.
 * `compileTimeFormat('yy/MM/dd HH:mm:ss')('17/06/09 20:10:40')` = 1497039040.
 */
export function compileTimeFormat (pattern: string): (s: string) => number {
  const fields: string[] = []
  const src = pattern.replace(/yyyy|yy|MM|dd|HH|mm|ss|S+|\s+|[^ySMdHms\s]+|./g, tok => {
    if (/^(yyyy|yy|MM|dd|HH|mm|ss)$/.test(tok)) { fields.push(tok); return tok === 'yyyy' ? '(\\d{4})' : '(\\d{2})' }
    if (/^S+$/.test(tok)) { fields.push('S'); return '(\\d+)' }
    if (/^\s+$/.test(tok)) return '\\s+'
    return tok.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  })
  if (!fields.includes('yyyy') && !fields.includes('yy')) throw new RangeError(`time format ${JSON.stringify(pattern)} has no year (yyyy or yy)`)
  const re = new RegExp(`^${src}$`)
  return (s: string): number => {
    const m = re.exec(s.trim())
    if (m === null) return NaN
    const v: Record<string, string> = {}
    fields.forEach((f, i) => { v[f] = m[i + 1] })
    const year = v.yyyy !== undefined ? Number(v.yyyy) : 2000 + Number(v.yy)
    const ms = Date.UTC(year, Number(v.MM ?? 1) - 1, Number(v.dd ?? 1), Number(v.HH ?? 0), Number(v.mm ?? 0), Number(v.ss ?? 0))
    return ms / 1000 + (v.S !== undefined ? Number(`0.${v.S}`) : 0)
  }
}

export function genericFormat (opts: GenericFormatOptions = {}): LogFormat {
  const header = opts.logFormat !== undefined ? compileLogFormat(opts.logFormat) : undefined
  const readTime = opts.timeFormat !== undefined ? compileTimeFormat(opts.timeFormat) : parseTimeValue
  const fields = new Set(header?.fields ?? [])
  const hasLabel = fields.has('Label')
  return {
    name: 'generic',
    mode: opts.sessionKey !== undefined ? 'session' : 'sliding',
    sessionKey: opts.sessionKey !== undefined ? new RegExp(opts.sessionKey) : undefined,
    lineLabels: hasLabel,
    parse (line) {
      if (header === undefined) return { content: line, time: NaN }
      const g = header.parse(line)
      if (g === null) return null
      let time = NaN
      if (g.Timestamp !== undefined) time = readTime(g.Timestamp)
      if (Number.isNaN(time) && g.Date !== undefined) time = readTime(g.Time !== undefined ? `${g.Date} ${g.Time}` : g.Date)
      const out: ParsedLine = { content: g.Content ?? '', time }
      if (hasLabel) out.label = NORMAL_LABELS.has((g.Label ?? '').trim().toLowerCase()) ? 0 : 1
      return out
    },
  }
}

export function logFormat (name: FormatName, generic: GenericFormatOptions = {}): LogFormat {
  switch (name) {
    case 'hdfs': return hdfs
    case 'bgl': return bgl
    case 'thunderbird': return thunderbird
    case 'generic': return genericFormat(generic)
  }
}
