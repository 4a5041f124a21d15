/**
 * Admin HTTP (127.0.0.1:24231 by default): health, metrics, adapters.
 *
 *   GET  /healthz                      200 while the process runs (liveness)
 *   GET  /readyz                       200 when started, the model (if scoring) loaded and the downstream reachable; else 503 {"ready": false, "reason": ...}
 *   GET  /metrics                      Prometheus text format (prom-client; names and HELP in plugin/metrics/catalog.ts)
 *   GET  /v1/adapters                  live adapter per source (version, threshold, loaded at)
 *   POST /v1/adapters/{source}/reload  re-read the source's adapter files and swap (token if configured)
 *   PUT  /v1/adapters/{source}         upload {"metadata": {...}, "safetensors": "<base64>"} (token required)
 *   POST /v1/flush                     score every open window now, answer once their records are re-emitted (token if configured)
 *
 * Every swap goes through the registry, the same code that loads at start; a
 * refused adapter answers 422 with its error code and the old one stays live.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ModelRegistry } from '../../models/registry.js'
import { readBody } from '../read-body.js'
import { sameSecret } from '../secret.js'
import type { SidecarMetrics } from '../metrics/index.js'
import type { ReadyState } from '../metrics/readiness.js'

export interface AdminOptions {
  listen: string
  port: number
  /** Bearer token for mutating endpoints; without one, uploads are refused. */
  token: string | undefined
  maxUpload: number
}

export interface AdminDeps {
  metrics: SidecarMetrics
  registry: () => ModelRegistry | undefined
  ready: () => ReadyState | Promise<ReadyState>
  /** Close and score every open window; undefined when the sidecar does not score. */
  flush?: () => Promise<{ windows: number, records: number }>
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export class AdminServer {
  private server: http.Server | undefined

  constructor (private readonly opts: AdminOptions, private readonly deps: AdminDeps) {}

  private authorized (req: http.IncomingMessage): boolean {
    const want = this.opts.token
    if (want === undefined) return false
    return sameSecret(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '', want)
  }

  private async handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const path = url.pathname
    if (req.method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' })
    if (req.method === 'GET' && path === '/readyz') {
      const r = await this.deps.ready()
      return json(res, r.ready ? 200 : 503, r.ready ? { ready: true, ...r.detail } : { ready: false, reason: r.reason, ...r.detail })
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = await this.deps.metrics.render()
      res.writeHead(200, { 'content-type': this.deps.metrics.contentType, 'content-length': Buffer.byteLength(text) })
      res.end(text)
      return
    }
    const registry = this.deps.registry()
    if (req.method === 'GET' && path === '/v1/adapters') {
      if (registry === undefined) return json(res, 200, { adapters: {} })
      return json(res, 200, {
        model: registry.name,
        adapters: Object.fromEntries(registry.sources.map(s => {
          const l = registry.current(s)
          return [s, l === undefined ? null : { version: l.version, threshold: l.adapter.threshold, created: l.adapter.meta.created, loaded_at: l.loadedAt.toISOString() }]
        })),
      })
    }
    if (path === '/v1/flush') {
      if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' })
      if (this.opts.token !== undefined && !this.authorized(req)) return json(res, 401, { error: 'missing or wrong bearer token' })
      const r = await this.deps.flush?.() ?? { windows: 0, records: 0 }
      return json(res, 200, r)
    }
    const m = /^\/v1\/adapters\/([a-z0-9][a-z0-9_-]{0,63})(\/reload)?$/.exec(path)
    if (m === null) return json(res, 404, { error: 'not found' })
    const source = m[1]
    const isReload = m[2] !== undefined
    if (!((isReload && req.method === 'POST') || (!isReload && req.method === 'PUT'))) return json(res, 405, { error: 'method not allowed' })
    if (this.opts.token !== undefined || !isReload) {
      if (this.opts.token === undefined) return json(res, 403, { error: 'uploads are disabled: set admin.token' })
      if (!this.authorized(req)) return json(res, 401, { error: 'missing or wrong bearer token' })
    }
    if (registry === undefined) return json(res, 409, { error: 'no model bundle configured' })
    if (!registry.sources.includes(source)) return json(res, 404, { error: `no source "${source}" in this sidecar (live: ${registry.sources.join(', ')})` })
    try {
      let live
      if (isReload) {
        live = await registry.reload(source)
      } else {
        const max = this.opts.maxUpload
        const raw = await readBody(req, max, () => Object.assign(new Error(`upload larger than admin.max_upload (${max} bytes)`), { status: 413 }))
        let parsed: { metadata?: unknown, safetensors?: unknown }
        try { parsed = JSON.parse(raw.toString('utf8')) } catch { return json(res, 400, { error: 'body must be JSON: {"metadata": {...}, "safetensors": "<base64>"}' }) }
        if (typeof parsed.safetensors !== 'string' || parsed.metadata === null || typeof parsed.metadata !== 'object') {
          return json(res, 400, { error: 'body must be JSON: {"metadata": {...}, "safetensors": "<base64>"}' })
        }
        live = await registry.install(source, Buffer.from(parsed.safetensors, 'base64'), Buffer.from(JSON.stringify(parsed.metadata)))
      }
      return json(res, 200, { source, version: live.version, threshold: live.adapter.threshold })
    } catch (err) {
      const e = err as Error & { code?: string, status?: number }
      return json(res, e.status ?? 422, { error: e.message, code: e.code })
    }
  }

  async listen (): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch(err => { if (!res.headersSent) json(res, 500, { error: (err as Error).message }) })
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.listen, () => { server.off('error', reject); resolve() })
    })
    return server.address() as AddressInfo
  }

  async close (): Promise<void> {
    const s = this.server
    this.server = undefined
    this.deps.metrics.close()
    if (s === undefined) return
    s.closeAllConnections()
    await new Promise<void>(resolve => s.close(() => resolve()))
  }
}
