/**
 * Reads ../shared/fixtures/forward-captures (real Fluent Bit 5.1.1 and Fluentd
 * 1.18 wire bytes). For each capture mode: its connections (client→server and
 * server→client bytes) and, from `<mode>.decoded.txt`, the entries each
 * connection carried, as the fixture's own decoder printed them.
 * FLUENT_ANOMALY_SHARED points elsewhere than ../shared when set.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SHARED = process.env.FLUENT_ANOMALY_SHARED ?? resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../shared')
export const CAPTURES = join(SHARED, 'fixtures', 'forward-captures')

export interface ExpectedEntry { time: string | number, metadata?: Record<string, unknown>, record: Record<string, unknown> }
export interface CaptureConn {
  name: string
  c2s: Buffer
  s2c?: Buffer
  tags: string[]
  entries: ExpectedEntry[]
  /** Per message: how many entries it holds (decoded.txt lists at most 3 inner entries of a packed one). */
  messages: Array<{ tag: string, total: number, listed: ExpectedEntry[] }>
  chunks: string[]
  /** decoded.txt cut some lines at 200 characters (keepalive): only these times are known. */
  truncated?: { tag: string, times: string[] }
}
export interface Capture { mode: string, senderOptions: string, conns: CaptureConn[] }

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

const timeOf = (t: Json): string | number => typeof t === 'number' ? t : String(t.EventTime)
const toEntry = (e: Json): ExpectedEntry => Array.isArray(e[0])
  ? { time: timeOf(e[0][0]), metadata: e[0][1], record: e[1] }
  : { time: timeOf(e[0]), record: e[1] }

export function listModes (): string[] {
  return [...new Set(readdirSync(CAPTURES).filter(f => f.endsWith('.decoded.txt')).map(f => f.replace('.decoded.txt', '')))].sort()
}

export function loadCapture (mode: string): Capture {
  const text = readFileSync(join(CAPTURES, `${mode}.decoded.txt`), 'utf8')
  const conns = new Map<string, CaptureConn>()
  let current: CaptureConn | undefined
  let direction: 'c2s' | 's2c' | undefined
  let senderOptions = ''
  for (const line of text.split('\n')) {
    const head = /^### mode=\S+\s+(.*)$/.exec(line)
    if (head !== null) { senderOptions = head[1]; continue }
    const file = /^--- (\S+)\.(conn\d+)\.(c2s|s2c)\.bin/.exec(line)
    if (file !== null) {
      const name = file[2]
      direction = file[3] as 'c2s' | 's2c'
      current = conns.get(name)
      if (current === undefined) {
        const base = join(CAPTURES, `${mode}.${name}`)
        current = {
          name,
          c2s: readFileSync(`${base}.c2s.bin`),
          s2c: existsSync(`${base}.s2c.bin`) ? readFileSync(`${base}.s2c.bin`) : undefined,
          tags: [],
          entries: [],
          messages: [],
          chunks: [],
        }
        conns.set(name, current)
      }
      continue
    }
    if (line.startsWith('--- receiver output')) { current = undefined; continue }
    if (current === undefined || direction !== 'c2s') continue
    const top = /^#\d+ (.*)$/.exec(line)
    if (top !== null) {
      let msg: Json[]
      try {
        msg = JSON.parse(top[1]) as Json[]
      } catch {
        const tag = (/^\["([^"]+)"/.exec(top[1]) as RegExpExecArray)[1]
        current.truncated ??= { tag, times: [] }
        for (const m of top[1].matchAll(/"EventTime":"(\d+\.\d+)"/g)) current.truncated.times.push(m[1])
        continue
      }
      if (msg[0] === 'PING') continue
      const tag = msg[0] as string
      const opts = msg[msg.length - 1]
      if (opts !== null && typeof opts === 'object' && !Array.isArray(opts) && typeof opts.chunk === 'string' && msg.length >= 3) current.chunks.push(opts.chunk)
      if (Array.isArray(msg[1])) { // Forward
        const listed = (msg[1] as Json[]).map(toEntry)
        current.messages.push({ tag, total: listed.length, listed })
        for (const e of listed) { current.entries.push(e); current.tags.push(tag) }
      } else if (msg[1] !== null && typeof msg[1] === 'object' && ('bin' in msg[1] || 'str' in msg[1])) {
        // Packed: the entries follow as "entry[i]" lines; remember the tag for them
        current.tags.push(`__packed__${tag}`)
        current.messages.push({ tag, total: -1, listed: [] })
      } else { // Message
        const e = toEntry([msg[1], msg[2]])
        current.messages.push({ tag, total: 1, listed: [e] })
        current.entries.push(e)
        current.tags.push(tag)
      }
      continue
    }
    const count = /^\s+(?:Compressed)?PackedForward(?:\(gzip\))?: (\d+) inner entries/.exec(line)
    if (count !== null) { current.messages[current.messages.length - 1].total = Number(count[1]); continue }
    const entry = /^\s+entry\[\d+\] (.*)$/.exec(line)
    if (entry !== null) {
      const marker = [...current.tags].reverse().find(t => t.startsWith('__packed__')) as string
      const e = toEntry(JSON.parse(entry[1]))
      current.entries.push(e)
      current.messages[current.messages.length - 1].listed.push(e)
      current.tags.push(marker.slice('__packed__'.length))
    }
  }
  for (const c of conns.values()) c.tags = c.tags.filter(t => !t.startsWith('__packed__'))
  const order = (n: string): number => Number(n.slice(4))
  return { mode, senderOptions, conns: [...conns.values()].sort((a, b) => order(a.name) - order(b.name)) }
}
