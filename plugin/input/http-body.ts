/**
 * What an HTTP request body becomes: Forward entries, in body order. Pure:
 * no I/O, the arrival time is an argument.
 *
 *   bytes ─▶ (gunzip / inflate, capped: http.ts) ─▶ UTF-8 text ─▶ records ─▶ [time, record] entries
 *
 * Shapes, whatever the Content-Type says (senders get it wrong; Vector's http
 * sink sends a JSON array as application/json, or NDJSON as
 * application/x-ndjson with `framing.method: newline_delimited`):
 * - one JSON object;
 * - a JSON array of objects;
 * - NDJSON: one object per line, blank lines skipped, CRLF accepted.
 * The Content-Type only picks which reading is tried first. One bad record
 * fails the whole body: a request is taken whole or not at all.
 */
import { FluentAnomalyError } from '../errors.js'
import { EventTime } from '../forward/event-time.js'
import { isRecord, MAX_RECORD_DEPTH, toEntry, type Entry, type FluentRecordBody, type Time } from '../forward/protocol.js'

export type BodyShape = 'json' | 'ndjson'

/** Media types read as one JSON document first, or as NDJSON first (parameters such as charset ignored). */
const MEDIA: Record<string, BodyShape> = {
  'application/json': 'json',
  'text/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'application/jsonlines': 'ndjson',
  'application/jsonl': 'ndjson',
  'text/plain': 'ndjson',
}

/** The reading a Content-Type asks for; 'json' when absent; undefined when it is not JSON at all. */
export function bodyShape (contentType: string | undefined): BodyShape | undefined {
  if (contentType === undefined || contentType.trim() === '') return 'json'
  return MEDIA[contentType.split(';')[0].trim().toLowerCase()]
}

const bad = (message: string): FluentAnomalyError => new FluentAnomalyError('HTTP_BAD_JSON', message, { recoverable: true })

const kind = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v

/** A parsed value as a record, or why not. */
function record (v: unknown, where: string): FluentRecordBody {
  if (!isRecord(v)) throw bad(`${where} is a JSON ${kind(v)}, not an object`)
  // toEntry applies the Forward input's depth limit (deeper records overflow the encoder's stack).
  if (toEntry([0, v]) === undefined) throw bad(`${where} nests deeper than ${MAX_RECORD_DEPTH} levels`)
  return v
}

function whole (text: string): FluentRecordBody[] {
  const v = JSON.parse(text) as unknown
  if (Array.isArray(v)) return v.map((x, i) => record(x, `element ${i} of the array`))
  return [record(v, 'the body')]
}

function lines (text: string): FluentRecordBody[] {
  const out: FluentRecordBody[] = []
  let start = 0
  for (let n = 1; start <= text.length; n++) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const line = text.slice(start, end).trim() // also drops the \r of CRLF
    start = end + 1
    if (line === '') continue
    let v: unknown
    try { v = JSON.parse(line) } catch (e) { throw bad(`line ${n}: ${(e as Error).message}`) }
    out.push(record(v, `line ${n}`))
  }
  return out
}

const isSyntax = (e: unknown): e is SyntaxError => e instanceof SyntaxError

/** Records of a body, in order. Throws HTTP_BAD_JSON (recoverable: only this request is refused). */
export function parseRecords (text: string, prefer: BodyShape): FluentRecordBody[] {
  const head = text.trimStart()
  if (head === '') throw bad('empty body: send a JSON object, a JSON array of objects, or NDJSON (one object per line)')
  if (head[0] === '[') {
    try { return whole(text) } catch (e) { throw isSyntax(e) ? bad(`not valid JSON: ${e.message}`) : e }
  }
  if (prefer === 'ndjson') {
    try { return lines(text) } catch (e) {
      // A pretty-printed object sent as NDJSON spans lines: accept it whole.
      try { return whole(text) } catch { throw e }
    }
  }
  try { return whole(text) } catch (e) {
    if (!isSyntax(e)) throw e
    // Several documents sent as application/json: read them as NDJSON; if
    // that fails too, the NDJSON error names the line, unless there is only one.
    if (!/\n\s*\S/.test(text.trim())) throw bad(`not valid JSON: ${e.message}`)
    return lines(text)
  }
}

// RFC 3339 date-time (section 5.6), the form Vector's json codec writes timestamps in;
// digits past the ninth of the fraction are cut (EventTime holds nanoseconds).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/** An RFC 3339 timestamp as EventTime (nanoseconds kept); undefined when it is not one or is before 1970. */
export function parseRfc3339 (s: string): EventTime | undefined {
  const m = RFC3339.exec(s)
  if (m === null) return undefined
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number)
  const utc = Date.UTC(y, mo - 1, d, h, mi, sec)
  const check = new Date(utc)
  // Date.UTC rolls 2024-02-30 over into March: refuse instead
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return undefined
  const offset = m[8] !== undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) * 60
  const epoch = utc / 1000 - offset
  if (epoch < 0 || epoch > 0xffffffff) return undefined
  const nsec = m[7] === undefined ? 0 : Number(m[7].slice(0, 9).padEnd(9, '0'))
  return new EventTime(epoch, nsec)
}

/** The event time a record carries in `key` (RFC 3339 or epoch seconds), else `received`. */
export function recordTime (rec: FluentRecordBody, key: string | null, received: EventTime): Time {
  if (key === null) return received
  const v = rec[key]
  if (typeof v === 'string') return parseRfc3339(v) ?? received
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 0xffffffff) return Number.isInteger(v) ? v : EventTime.fromFloat(v)
  return received
}

/** A body's records as Forward entries grouped by tag (body order kept within each tag). */
export function toEntries (records: FluentRecordBody[], opts: { tag: string, tagKey?: string, timeKey: string | null, received: EventTime }): Map<string, Entry[]> {
  const byTag = new Map<string, Entry[]>()
  for (const rec of records) {
    const t = opts.tagKey === undefined ? undefined : rec[opts.tagKey]
    const tag = typeof t === 'string' && t !== '' ? t : opts.tag
    let list = byTag.get(tag)
    if (list === undefined) { list = []; byTag.set(tag, list) }
    list.push({ time: recordTime(rec, opts.timeKey, opts.received), record: rec })
  }
  return byTag
}
