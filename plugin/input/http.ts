/**
 * HTTP input: for senders that have no Forward output, above all Vector's
 * `http` sink (vectordotdev/vector#534). Same promise as the Forward input:
 * the answer is 200 only once every record of the request is durable
 * (acknowledged downstream, or appended to the disk buffer when it is on).
 *
 *   POST /<tag> ─▶ checks (auth, size, pipeline full?) ─▶ body (gunzip, capped) ─▶ records
 *        ▲                                                                          │
 *        │ 200 {"records": n}                    Pipeline.submit(tag, entries) ◀────┘
 *        └──────────── every acknowledgement resolved ◀──┘   (503 after ack_timeout)
 *
 * Status codes, and what a sender does with them (Vector retries 408, 429
 * and 5xx, and drops a batch on any other 4xx):
 *   200 durable · 400 bad JSON / bad tag / bad gzip · 401 token · 405 method
 *   413 too large · 415 encoding or media type · 429 pipeline full (Retry-After)
 *   503 not durable within ack_timeout, or stopping (Retry-After).
 * A 503 after the records were taken means they may arrive twice when the
 * sender retries: at-least-once, as with a Forward chunk whose ack is lost.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { gunzip, inflate } from 'node:zlib'
import type { HttpInputConfig } from '../../config/schema.js'
import { FluentAnomalyError, type ErrorCode } from '../errors.js'
import { events, type Telemetry } from '../events.js'
import { EventTime } from '../forward/event-time.js'
import { readBody } from '../read-body.js'
import { sameSecret } from '../secret.js'
import type { Acknowledgement, Pipeline } from '../pipeline/pipeline.js'
import { bodyShape, parseRecords, toEntries } from './http-body.js'

const gunzipAsync = promisify(gunzip)
const inflateAsync = promisify(inflate)
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A path segment usable as a tag (Fluent Bit in_http takes the tag from the path). */
const TAG = /^[A-Za-z0-9_.-]{1,256}$/

/** A request that ends in an error status, with the stable code sent in the body. */
class Refusal extends FluentAnomalyError {
  constructor (readonly status: number, code: ErrorCode, message: string, readonly close = false) {
    super(code, message, { recoverable: true })
  }
}

async function decompress (body: Buffer, encoding: string, max: number): Promise<Buffer> {
  if (encoding === '' || encoding === 'identity') {
    return body
  }
  try {
    return encoding === 'deflate' ? await inflateAsync(body, { maxOutputLength: max }) : await gunzipAsync(body, { maxOutputLength: max })
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new Refusal(413, 'HTTP_DECOMPRESSED_TOO_LARGE', `body inflates past input.http.max_decompressed_size (${max} bytes)`)
    }
    throw new Refusal(400, 'HTTP_BAD_ENCODING', `Content-Encoding ${encoding} but the body does not decompress: ${err.message}`)
  }
}

export class HttpInput {
  private server: http.Server | undefined
  private closing = false
  /** Requests taken and waiting for their acknowledgements; `stop` answers them 503 when the grace ends. */
  private readonly waiting = new Set<(outcome: 'shutdown') => void>()
  private active = 0

  constructor (readonly opts: HttpInputConfig, readonly pipeline: Pipeline, readonly telemetry: Telemetry) {
    telemetry.counters.gauge('http_requests_in_flight', () => this.active)
  }

  async listen (): Promise<AddressInfo> {
    const o = this.opts
    const server = http.createServer({ requestTimeout: o.read_timeout, headersTimeout: o.read_timeout, keepAliveTimeout: o.idle_timeout }, (req, res) => {
      this.active++
      res.once('close', () => { this.active-- })
      this.handle(req, res).catch((err: unknown) => this.fail(res, err))
    })
    server.maxConnections = o.max_connections
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(o.port, o.listen, () => { server.off('error', reject); resolve() })
    })
    return server.address() as AddressInfo
  }

  private authorized (req: http.IncomingMessage): boolean {
    const want = this.opts.token
    if (want === undefined) return true
    return sameSecret(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '', want)
  }

  private tagOf (url: string | undefined): string {
    const path = (url ?? '/').split('?')[0] // the raw path: no URL resolution of // or ..
    if (path === '/' || path === '') return this.opts.tag
    let tag: string
    try { tag = decodeURIComponent(path.slice(1)) } catch { tag = '' }
    if (!TAG.test(tag)) throw new Refusal(400, 'HTTP_BAD_TAG', `the path ${JSON.stringify(path)} is not a tag: use one segment of letters, digits, ".", "_", "-" (POST /app.hdfs)`)
    return tag
  }

  private async handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const o = this.opts
    if (this.closing) throw new Refusal(503, 'HTTP_SHUTTING_DOWN', 'the sidecar is stopping', true)
    if (req.method === 'GET' || req.method === 'HEAD') {
      // for a sender's health check (Vector healthcheck.uri): up and taking records
      this.reply(res, 200, { status: 'ok' })
      return
    }
    if (req.method !== 'POST') { res.setHeader('allow', 'POST, GET, HEAD'); this.reply(res, 405, { error: 'use POST' }); return }
    if (!this.authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer')
      throw new Refusal(401, 'HTTP_UNAUTHORIZED', 'missing or wrong bearer token')
    }
    const tag = this.tagOf(req.url)
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase()
    if (!['', 'identity', 'gzip', 'x-gzip', 'deflate'].includes(encoding)) {
      throw new Refusal(415, 'HTTP_BAD_ENCODING', `Content-Encoding ${encoding} is not supported: send gzip, deflate or none`)
    }
    const shape = bodyShape(req.headers['content-type'])
    if (shape === undefined) {
      throw new Refusal(415, 'HTTP_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${String(req.headers['content-type'])} is not JSON: send application/json (an object or an array of objects) or application/x-ndjson`)
    }
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > o.max_body_size) {
      throw new Refusal(413, 'HTTP_BODY_TOO_LARGE', `Content-Length ${declared} is over input.http.max_body_size (${o.max_body_size} bytes)`, true)
    }
    const pressure = this.pipeline.pressure()
    if (pressure !== undefined) throw new Refusal(429, 'HTTP_BACKPRESSURE', `the pipeline is full (${pressure}): retry later`)

    const received = EventTime.now()
    const raw = await readBody(req, o.max_body_size, () => new Refusal(413, 'HTTP_BODY_TOO_LARGE', `body larger than input.http.max_body_size (${o.max_body_size} bytes)`, true))
    this.telemetry.counters.inc('http_request_bytes_total', raw.length)
    const inflated = await decompress(raw, encoding, o.max_decompressed_size)
    let text: string
    try { text = utf8.decode(inflated) } catch { throw new Refusal(400, 'HTTP_BAD_ENCODING', 'the body is not UTF-8') }
    let byTag
    try {
      byTag = toEntries(parseRecords(text, shape), { tag, tagKey: o.tag_key, timeKey: o.time_key, received })
    } catch (e) {
      const err = e as FluentAnomalyError
      if (err.code !== 'HTTP_BAD_JSON') throw e
      throw new Refusal(400, 'HTTP_BAD_JSON', err.message)
    }

    // a body that finished arriving after the stop began is not taken: the pipeline is draining
    if (this.closing) throw new Refusal(503, 'HTTP_SHUTTING_DOWN', 'the sidecar is stopping; nothing of this request was taken', true)
    // Taken: from here on the records are the pipeline's, whatever the answer.
    const acks: Acknowledgement[] = []
    let n = 0
    for (const [t, entries] of byTag) {
      events.recordsReceived(this.telemetry, entries.length, 'http')
      acks.push(this.pipeline.submit(t, entries))
      n += entries.length
    }
    const outcome = await this.durable(acks)
    if (outcome === 'done') {
      this.reply(res, 200, { records: n })
    } else if (outcome === 'timeout') {
      throw new Refusal(503, 'HTTP_ACK_TIMEOUT', `${n} records taken but not durable within input.http.ack_timeout (${o.ack_timeout} ms); they are still delivered, and a retry may duplicate them`)
    } else {
      throw new Refusal(503, 'HTTP_SHUTTING_DOWN', `the sidecar stopped before ${n} records taken were durable; a retry may duplicate them`, true)
    }
  }

  /** Wait for every acknowledgement, at most ack_timeout (0: no limit), or until `close` gives up. */
  private async durable (acks: Acknowledgement[]): Promise<'done' | 'timeout' | 'shutdown'> {
    let timer: NodeJS.Timeout | undefined
    let stop: ((outcome: 'shutdown') => void) | undefined
    try {
      return await Promise.race([
        Promise.all(acks.map(a => a.whenDone())).then(() => 'done' as const),
        new Promise<'shutdown'>(resolve => { stop = resolve; this.waiting.add(resolve) }),
        ...(this.opts.ack_timeout > 0 ? [new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), this.opts.ack_timeout) })] : []),
      ])
    } finally {
      clearTimeout(timer)
      if (stop !== undefined) this.waiting.delete(stop)
    }
  }

  private fail (res: http.ServerResponse, err: unknown): void {
    if (!(err instanceof Refusal)) {
      // the client went away mid-body (nothing was taken), or a bug
      this.telemetry.log.debug({ err: (err as Error).message }, 'http request failed')
      if (!res.headersSent && res.writable) this.reply(res, 500, { error: (err as Error).message })
      else this.telemetry.counters.inc('http_requests_total', 1, { code: 'aborted' })
      return
    }
    const level = err.status === 429 ? 'debug' : 'warn' // one line per engagement is logged by the pipeline's 'full'
    this.telemetry.log[level]({ code: err.code, status: err.status }, err.message)
    if (err.status === 429 || err.status === 503) res.setHeader('retry-after', String(Math.max(1, Math.ceil(this.opts.retry_after / 1000))))
    if (err.close) res.setHeader('connection', 'close')
    this.reply(res, err.status, { error: err.message, code: err.code })
  }

  private reply (res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed || res.socket === null || res.socket.destroyed) {
      // the sender gave up before the answer (it retries: at-least-once)
      this.telemetry.counters.inc('http_requests_total', 1, { code: 'aborted' })
      return
    }
    if (this.closing) res.setHeader('connection', 'close')
    const text = JSON.stringify(body) + '\n'
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
    this.telemetry.counters.inc('http_requests_total', 1, { code: String(status) })
  }

  /**
   * Stop accepting; requests already taken get their answer when their
   * records are durable, within `graceMs`; then 503 (their senders retry).
   */
  async close (graceMs = 0): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    this.closing = true
    const closed = new Promise<void>(resolve => server.close(() => resolve()))
    server.closeIdleConnections()
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline && this.active > 0) await new Promise(resolve => setTimeout(resolve, 20))
    for (const give of [...this.waiting]) give('shutdown')
    // let those 503s be written (each closes its connection once sent) before cutting the rest
    const cut = Date.now() + 200
    while (Date.now() < cut && this.active > 0) await new Promise(resolve => setTimeout(resolve, 10))
    server.closeAllConnections()
    await closed
  }
}
