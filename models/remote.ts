/**
 * Remote adapter source: poll a URL for one source's adapter and install it
 * into the running registry through `install`, the same validated path as the
 * admin PUT upload. The URL serves that upload body (plugin/admin/http.ts),
 * so an engineer can PUT a document or publish it on any static server or
 * object store.
 *
 *   every intervalMs ─GET url, If-None-Match: last ETag─▶ 304 ─────────────────────▶ 'not_modified'
 *                                   │ 2xx, at most maxBytes
 *                                   ▼
 *            sha256(body) == the last body handled? ──yes────────────────────────▶ 'unchanged'
 *                                   │ no
 *                                   ▼
 *   {"metadata": {...}, "safetensors": "<base64>"} ─registry.install(source)─▶ 'updated'
 *                                   └─ not that shape, or a ModelError ─────────────▶ 'failed'
 *
 * A body is handled once, whatever the outcome: its ETag and sha256 are
 * remembered, so a broken publish is reported once and not retried until the
 * remote content changes. Fetch errors (network, timeout, non-2xx, too large)
 * remember nothing and are retried next interval. Every failure keeps the old
 * adapter live. `pollOnce()` resolves to the outcome and never rejects on
 * fetch or install errors (a listener that throws propagates, as with any
 * EventEmitter).
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { request, type Dispatcher } from 'undici'
import { ModelError, isModelError } from './errors.js'
import type { LiveAdapter } from './registry.js'

/** What the poller needs of a ModelRegistry. */
export interface AdapterInstaller {
  install (source: string, tensors: Uint8Array, metadata: Uint8Array): Promise<LiveAdapter>
}

export interface RemoteAdapterOptions {
  /** The source whose adapter the URL serves. */
  source: string
  /** An http: or https: URL serving {"metadata": {...}, "safetensors": "<base64>"}. */
  url: string | URL
  /** Time between the end of one poll and the start of the next (default 60 s). */
  intervalMs?: number
  /** Longest wait for the response headers, and between body chunks (default 10 s). */
  timeoutMs?: number
  /** Largest document accepted (default 64 MiB, as admin.max_upload). */
  maxBytes?: number
  /** Sent with every request, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>
  /** undici dispatcher (proxy, TLS options, redirects); the global one by default. */
  dispatcher?: Dispatcher
}

export const REMOTE_DEFAULTS = { intervalMs: 60_000, timeoutMs: 10_000, maxBytes: 64 * 1024 * 1024 } as const

export type PollResult = 'updated' | 'not_modified' | 'unchanged' | 'failed'

export interface RemoteAdapterEvents {
  updated: [source: string, live: LiveAdapter]
  /** Nothing to install: a 304, or the same bytes as the body last handled. */
  unchanged: [source: string]
  /** Code ADAPTER_REMOTE_* or the registry's refusal (ADAPTER_ENCODER_MISMATCH, …). */
  failed: [source: string, err: ModelError]
}

type Fetched = 'not_modified' | { body: Buffer, etag: string | undefined }

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const MAX_TIMER_MS = 2 ** 31 - 1 // larger delays fire at once (Node clamps them to 1 ms)
const DOC_SHAPE = '{"metadata": {...}, "safetensors": "<base64>"}'

function configError (message: string): ModelError {
  return new ModelError('ADAPTER_REMOTE_CONFIG', message, { recoverable: false })
}

function positive (name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_TIMER_MS) throw configError(`remote adapter ${name} must be a whole number from 1 to ${MAX_TIMER_MS}, got ${value}`)
  return value
}

/** Parse the admin upload document into the two files `install` takes. */
function parseDocument (body: Buffer, where: string): { tensors: Buffer, metadata: Buffer } {
  let doc: { metadata?: unknown, safetensors?: unknown }
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new ModelError('ADAPTER_REMOTE_INVALID', `${where} is not JSON (${(err as Error).message}); it must serve ${DOC_SHAPE}`, { cause: err })
  }
  if (doc === null || typeof doc !== 'object' || typeof doc.safetensors !== 'string' ||
      doc.metadata === null || typeof doc.metadata !== 'object' || Array.isArray(doc.metadata)) {
    throw new ModelError('ADAPTER_REMOTE_INVALID', `${where} serves JSON of another shape; it must serve ${DOC_SHAPE}`)
  }
  return { tensors: Buffer.from(doc.safetensors, 'base64'), metadata: Buffer.from(JSON.stringify(doc.metadata)) }
}

export class RemoteAdapterPoller extends EventEmitter<RemoteAdapterEvents> {
  readonly source: string
  readonly url: URL
  /** The URL as messages show it: no query string, which may hold a presigned token. */
  private readonly where: string
  private readonly intervalMs: number
  private readonly timeoutMs: number
  private readonly maxBytes: number
  /** ETag and sha256 of the last body handled (installed or refused). */
  private etag: string | undefined
  private sha: string | undefined
  private inFlight: Promise<PollResult> | undefined
  private controller: AbortController | undefined
  private running = false
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly registry: AdapterInstaller, private readonly opts: RemoteAdapterOptions) {
    super()
    // the name becomes a file name in the bundle (adapters/<source>.json): same rule as the admin PUT route
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(opts.source)) throw configError(`remote adapter source must be a source name like "hdfs" (a-z, 0-9, _ and -), got "${opts.source}"`)
    this.source = opts.source
    let url: URL
    try {
      url = new URL(opts.url)
    } catch {
      throw configError(`remote adapter URL for source "${opts.source}" is not a URL: ${String(opts.url)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError(`remote adapter URL must be http: or https:, got ${url.protocol} (source "${opts.source}")`)
    if (url.username !== '' || url.password !== '') throw configError(`remote adapter URL for source "${opts.source}" has credentials in it; pass them in headers (e.g. authorization) instead`)
    this.url = url
    this.where = `${url.origin}${url.pathname}${url.search === '' ? '' : '?…'}`
    this.intervalMs = positive('intervalMs', opts.intervalMs ?? REMOTE_DEFAULTS.intervalMs)
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs ?? REMOTE_DEFAULTS.timeoutMs)
    this.maxBytes = positive('maxBytes', opts.maxBytes ?? REMOTE_DEFAULTS.maxBytes)
  }

  /** Poll now and every intervalMs after each poll ends (never two at once). */
  start (): void {
    if (this.running) return
    this.running = true
    this.tick()
  }

  private tick (): void {
    void this.pollOnce().finally(() => {
      // a stop() + start() while a poll was settling attaches two of these: schedule once
      if (!this.running || this.timer !== undefined) return
      this.timer = setTimeout(() => { this.timer = undefined; this.tick() }, this.intervalMs).unref()
    })
  }

  /** Stop polling and abort a request in flight (not an install: that one finishes); resolves once nothing runs. */
  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    await this.inFlight?.catch(() => {})
  }

  /** One poll; a call while one runs shares it. */
  pollOnce (): Promise<PollResult> {
    this.inFlight ??= this.poll().finally(() => { this.inFlight = undefined })
    return this.inFlight
  }

  private async poll (): Promise<PollResult> {
    const controller = new AbortController()
    this.controller = controller
    let got: Fetched
    try {
      got = await this.fetch(controller.signal)
    } catch (err) {
      if (controller.signal.aborted) return 'failed' // stop(): ours, not the server's, so not reported
      return this.fail(isModelError(err) ? err : this.fetchError(err))
    } finally {
      this.controller = undefined
    }
    if (got === 'not_modified') {
      this.emit('unchanged', this.source)
      return 'not_modified'
    }
    const sha = sha256(got.body)
    if (sha === this.sha) {
      this.etag = got.etag // same bytes under a new ETag: ask with that one next time
      this.emit('unchanged', this.source)
      return 'unchanged'
    }
    try {
      const { tensors, metadata } = parseDocument(got.body, this.where)
      const live = await this.registry.install(this.source, tensors, metadata)
      this.remember(got.etag, sha)
      this.emit('updated', this.source, live)
      return 'updated'
    } catch (err) {
      // a refusal is a property of these bytes: report once, retry when they change
      if (isModelError(err)) {
        this.remember(got.etag, sha)
        return this.fail(err)
      }
      // e.g. the bundle folder is not writable: nothing wrong with the content, try again next time
      return this.fail(new ModelError('ADAPTER_REMOTE_FETCH', `fetched ${this.where} but could not install it for source "${this.source}": ${(err as Error).message}`, { cause: err }))
    }
  }

  private remember (etag: string | undefined, sha: string): void {
    this.etag = etag
    this.sha = sha
  }

  private fail (err: ModelError): 'failed' {
    this.emit('failed', this.source, err)
    return 'failed'
  }

  private async fetch (signal: AbortSignal): Promise<Fetched> {
    const headers: Record<string, string> = { ...this.opts.headers }
    if (this.etag !== undefined) headers['if-none-match'] = this.etag
    const res = await request(this.url, {
      method: 'GET',
      headers,
      signal,
      dispatcher: this.opts.dispatcher,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    })
    if (res.statusCode === 304) {
      await res.body.dump()
      return 'not_modified'
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump()
      throw new ModelError('ADAPTER_REMOTE_FETCH', `GET ${this.where} answered ${res.statusCode}; source "${this.source}" keeps its adapter`)
    }
    const tooLarge = (): ModelError => new ModelError('ADAPTER_REMOTE_FETCH',
      `GET ${this.where} answered more than ${this.maxBytes} bytes (maxBytes); source "${this.source}" keeps its adapter`)
    if (Number(res.headers['content-length']) > this.maxBytes) {
      res.body.destroy()
      throw tooLarge()
    }
    // no or wrong content-length (chunked): count as the bytes come
    const chunks: Buffer[] = []
    let n = 0
    for await (const chunk of res.body) {
      n += (chunk as Buffer).length
      if (n > this.maxBytes) {
        res.body.destroy()
        throw tooLarge()
      }
      chunks.push(chunk as Buffer)
    }
    const etag = res.headers.etag
    return { body: Buffer.concat(chunks), etag: typeof etag === 'string' ? etag : undefined }
  }

  private fetchError (err: unknown): ModelError {
    const e = err as Error & { code?: string }
    // a dual-stack connect failure is an AggregateError with an empty message and a code
    let why = e.message || String(e.code)
    if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') why = `no answer within ${this.timeoutMs} ms (${e.code})`
    else if (e.code !== undefined && !why.includes(e.code)) why += ` (${e.code})`
    return new ModelError('ADAPTER_REMOTE_FETCH', `GET ${this.where} failed: ${why}; source "${this.source}" keeps its adapter`, { cause: err })
  }
}
