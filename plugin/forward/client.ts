/**
 * Forward output: re-emits events to a downstream Forward receiver (Fluent Bit
 * or Fluentd in_forward) as PackedForward chunks, each with a `chunk` id and
 * an ack required. A chunk counts as delivered only when its ack arrives; on
 * ack timeout or disconnect it is resent, with the same chunk id, on a new
 * connection after an exponential backoff with jitter. Events are settled
 * (Receipt.settle) only on ack, which is what lets the input ack upstream.
 *
 * Why not @fluent-org/logger's FluentClient (we use it as a test peer): it
 * cannot send Fluent Bit's `[[time, metadata], record]` entries, so metadata
 * would be lost; it chooses its own chunk ids and batching, so an ack cannot be
 * tied back to the upstream chunks whose events the chunk carries; and it keeps
 * its own unbounded queue, outside our backpressure accounting.
 *
 *   write(events) ─▶ open chunk per output tag ─(size | count | flush_interval)─▶ queue
 *   queue ─▶ socket (≤ max_inflight_chunks awaiting ack) ─ack─▶ receipts settle
 *                        └─ timeout / close ─▶ back to the front of the queue, reconnect
 */
import net from 'node:net'
import tls from 'node:tls'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gzip } from 'node:zlib'
import { promisify } from 'node:util'
import type { ForwardOutputConfig } from '../../config/schema.js'
import type { ErrorCode } from '../errors.js'
import { events as ev, type Telemetry } from '../events.js'
import type { Receipt } from '../pipeline/receipt.js'
import type { LogEvent, Sink } from '../pipeline/stage.js'
import { decode, encode } from './codec.js'
import { FrameDecoder } from './decoder.js'
import { packEntries } from './pack-entries.js'
import { checkPong, createPing, type ClientSecurity } from './handshake.js'
import { readHelo } from './protocol.js'

const gzipAsync = promisify(gzip)

interface OpenChunk { tag: string, events: LogEvent[], records: number, receipts: Array<[Receipt, number]> }
interface SealedChunk { id: string, tag: string, frame: Buffer, records: number, receipts: Array<[Receipt, number]>, attempts: number, timer?: NodeJS.Timeout }

type State = 'idle' | 'connecting' | 'handshake' | 'ready' | 'backoff' | 'closed'

/** Tag rewrite so re-emitted records never match the sidecar's own input rules. */
export function tagRewriter (o: Pick<ForwardOutputConfig, 'tag_prefix' | 'tag_template'>): (tag: string) => string {
  if (o.tag_template !== undefined) {
    const tpl = o.tag_template
    return tag => tpl.replaceAll('{tag}', tag)
  }
  const prefix = o.tag_prefix
  return tag => prefix + tag
}

export class ForwardClient implements Sink {
  private readonly rewrite: (tag: string) => string
  private readonly open = new Map<string, OpenChunk>()
  private flushTimer: NodeJS.Timeout | undefined
  private flushImmediate: NodeJS.Immediate | undefined
  private readonly queue: SealedChunk[] = []
  private readonly inflight = new Map<string, SealedChunk>()
  private sealing = 0
  private socket: net.Socket | undefined
  private state: State = 'idle'
  private delay: number
  private retryTimer: NodeJS.Timeout | undefined
  private pendingEvents = 0
  private readonly waiters: Array<() => void> = []
  private readonly target: string
  /** Running mean of encoded entry size, to seal chunks near max_chunk_size without encoding twice. */
  private entryBytes = 256

  constructor (private readonly opts: ForwardOutputConfig, private readonly telemetry: Telemetry) {
    this.rewrite = tagRewriter(opts)
    this.delay = opts.retry_initial
    this.target = `${opts.host}:${opts.port}`
    telemetry.counters.gauge('output_pending_records', () => this.pendingEvents)
    telemetry.counters.gauge('output_queued_chunks', () => this.queue.length)
    telemetry.counters.gauge('output_inflight_chunks', () => this.inflight.size)
  }

  get pending (): number { return this.pendingEvents }
  get connected (): boolean { return this.state === 'ready' }

  async start (): Promise<void> { /* connects lazily, on the first chunk */ }

  write (events: LogEvent[]): void {
    if (this.state === 'closed') throw new Error('ForwardClient.write after close')
    for (const e of events) {
      const tag = this.rewrite(e.tag)
      let chunk = this.open.get(tag)
      if (chunk === undefined) {
        chunk = { tag, events: [], records: 0, receipts: [] }
        this.open.set(tag, chunk)
      }
      chunk.events.push(e)
      chunk.records++
      const last = chunk.receipts[chunk.receipts.length - 1]
      if (last !== undefined && last[0] === e.receipt) last[1]++
      else chunk.receipts.push([e.receipt, 1])
      this.pendingEvents++
      if (chunk.records >= this.opts.max_chunk_records || chunk.records * this.entryBytes >= this.opts.max_chunk_size) this.seal(chunk)
    }
    if (this.open.size > 0 && this.flushTimer === undefined && this.flushImmediate === undefined) {
      if (this.opts.flush_interval === 0) this.flushImmediate = setImmediate(() => { this.flushImmediate = undefined; this.sealAll() })
      else this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.sealAll() }, this.opts.flush_interval)
    }
  }

  private sealAll (): void {
    for (const c of [...this.open.values()]) this.seal(c)
  }

  private seal (c: OpenChunk): void {
    this.open.delete(c.tag)
    const id = randomBytes(16).toString('base64')
    const payload = packEntries(c.events, this.opts.retain_metadata, c.records * this.entryBytes)
    this.entryBytes = 0.8 * this.entryBytes + 0.2 * (payload.length / c.records)
    const push = (body: Buffer, compressed: boolean): void => {
      const options: Record<string, unknown> = { chunk: id, size: c.records }
      if (compressed) options.compressed = 'gzip'
      this.queue.push({ id, tag: c.tag, frame: encode([c.tag, body, options]), records: c.records, receipts: c.receipts, attempts: 0 })
      this.pump()
    }
    if (this.opts.compress === 'gzip') {
      this.sealing++
      gzipAsync(payload).then(z => { this.sealing--; push(z, true) }, () => { this.sealing--; push(payload, false) })
    } else push(payload, false)
  }

  /** Send what the window allows; connect if needed. */
  private pump (): void {
    if (this.state === 'idle') { this.connect(); return }
    if (this.state !== 'ready') return
    const sock = this.socket as net.Socket
    while (this.inflight.size < this.opts.max_inflight_chunks && this.queue.length > 0) {
      const c = this.queue.shift() as SealedChunk
      this.inflight.set(c.id, c)
      ev.chunkSent(this.telemetry, c.records, c.attempts > 0)
      c.attempts++
      c.timer = setTimeout(() => this.reset('OUT_ACK_TIMEOUT', `no ack for chunk ${c.id} within ${this.opts.ack_timeout} ms`), this.opts.ack_timeout)
      sock.write(c.frame)
    }
    if (this.inflight.size === 0 && this.queue.length === 0 && this.open.size === 0 && this.sealing === 0) {
      for (const w of this.waiters.splice(0)) w()
    }
  }

  private connect (): void {
    this.state = 'connecting'
    const o = this.opts
    const decoder = new FrameDecoder(64 * 1024)
    let sock: net.Socket
    if (o.tls.enabled) {
      sock = tls.connect({
        host: o.host,
        port: o.port,
        servername: o.tls.servername ?? (net.isIP(o.host) === 0 ? o.host : undefined),
        ca: o.tls.ca_file === undefined ? undefined : readFileSync(o.tls.ca_file),
        cert: o.tls.cert_file === undefined ? undefined : readFileSync(o.tls.cert_file),
        key: o.tls.key_file === undefined ? undefined : readFileSync(o.tls.key_file),
        rejectUnauthorized: o.tls.verify,
      })
    } else {
      sock = net.connect({ host: o.host, port: o.port })
    }
    this.socket = sock
    sock.setNoDelay(true)
    const connectTimer = setTimeout(() => this.reset('OUT_CONNECT', `connect timeout after ${o.connect_timeout} ms`), o.connect_timeout)
    sock.once(o.tls.enabled ? 'secureConnect' : 'connect', () => {
      clearTimeout(connectTimer)
      if (this.socket !== sock) return
      if (o.security !== undefined) { this.state = 'handshake'; return }
      this.ready()
    })
    let ping: { salt: string, nonce: Uint8Array } | undefined
    sock.on('data', data => {
      if (this.socket !== sock) return
      decoder.push(data)
      for (;;) {
        const out = decoder.next()
        if (out.kind === 'need-more') return
        if (out.kind === 'error') { this.reset('OUT_PROTOCOL', out.error.message); return }
        if (this.state === 'handshake') {
          const sec = o.security as NonNullable<typeof o.security>
          const csec: ClientSecurity = { sharedKey: sec.shared_key, selfHostname: sec.self_hostname, username: sec.username, password: sec.password }
          if (ping === undefined) {
            const helo = readHelo(out.bytes)
            if (helo === undefined) { this.reset('OUT_HANDSHAKE', 'expected HELO from downstream'); return }
            const p = createPing(csec, helo.nonce, helo.auth)
            ping = { salt: p.salt, nonce: helo.nonce }
            sock.write(p.frame)
          } else {
            const verdict = checkPong(decode(out.bytes), csec, ping.salt, ping.nonce)
            if (!verdict.ok) { this.reset('OUT_HANDSHAKE', verdict.reason); return }
            this.ready()
          }
          continue
        }
        const msg = decode(out.bytes) as { ack?: unknown } | null
        const id = msg !== null && typeof msg === 'object' ? msg.ack : undefined
        if (typeof id !== 'string') { this.reset('OUT_PROTOCOL', 'downstream sent something other than an ack'); return }
        this.onAck(id)
      }
    })
    sock.on('error', err => { if (this.socket === sock) this.reset('OUT_CONNECT', err.message) })
    sock.on('close', () => {
      clearTimeout(connectTimer)
      if (this.socket === sock) this.reset('OUT_CONNECT', 'downstream closed the connection')
    })
  }

  private ready (): void {
    this.state = 'ready'
    ev.downstreamConnected(this.telemetry, this.target)
    this.pump()
  }

  private onAck (id: string): void {
    const c = this.inflight.get(id)
    if (c === undefined) return // ack of a chunk already resent on another connection
    clearTimeout(c.timer)
    this.inflight.delete(id)
    this.delay = this.opts.retry_initial
    this.pendingEvents -= c.records
    ev.chunkDelivered(this.telemetry, c.records)
    for (const [receipt, n] of c.receipts) receipt.settle(n)
    this.pump()
  }

  /** Drop the connection; unacked chunks go back to the front of the queue, in order. */
  private reset (code: ErrorCode, message: string): void {
    if (this.state === 'closed' || this.state === 'backoff') return
    const sock = this.socket
    this.socket = undefined
    sock?.destroy()
    const back = [...this.inflight.values()]
    for (const c of back) clearTimeout(c.timer)
    this.inflight.clear()
    this.queue.unshift(...back)
    const jitter = 0.5 + Math.random() / 2
    const wait = Math.round(this.delay * jitter)
    this.delay = Math.min(this.opts.retry_max, this.delay * 2)
    ev.downstreamError(this.telemetry, this.target, code, message, wait)
    this.state = 'backoff'
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      if (this.state !== 'backoff') return
      this.state = 'idle'
      if (this.queue.length > 0) this.pump()
    }, wait)
  }

  /** Resolves once nothing is open, queued or awaiting ack. */
  drained (): Promise<void> {
    if (this.inflight.size === 0 && this.queue.length === 0 && this.open.size === 0 && this.sealing === 0) return Promise.resolve()
    return new Promise(resolve => this.waiters.push(resolve))
  }

  async close (graceMs: number): Promise<void> {
    if (this.flushTimer !== undefined) { clearTimeout(this.flushTimer); this.flushTimer = undefined }
    if (this.flushImmediate !== undefined) { clearImmediate(this.flushImmediate); this.flushImmediate = undefined }
    this.sealAll()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.drained(), new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })])
    clearTimeout(timer)
    this.state = 'closed'
    clearTimeout(this.retryTimer)
    for (const c of this.inflight.values()) clearTimeout(c.timer)
    this.socket?.destroy()
    this.socket = undefined
  }
}
