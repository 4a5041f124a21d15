/**
 * GET /readyz: ready once started and not stopping, with the model loaded
 * when the sidecar scores, and the downstream reachable; with the disk buffer
 * on, the buffer not full instead (the downstream's state is still reported).
 * The output connects lazily (on the first chunk), so while it is not
 * connected the check opens a TCP connection to output.forward host:port and
 * closes it at once; one probe at a time, its answer reused for
 * PROBE_REUSE_MS so a probe storm cannot become a connection storm.
 */
import net from 'node:net'
import type { ModelRegistry } from '../../models/registry.js'
import type { ScoringPool } from '../../worker-pool/pool.js'

export const PROBE_REUSE_MS = 1000

export interface ReadyState {
  ready: boolean
  /** Why not, for a person: every failed check, joined with "; ". */
  reason?: string
  detail: Record<string, unknown>
}

export interface ReadinessInputs {
  phase: () => 'starting' | 'started' | 'stopping'
  downstream: { connected: () => boolean, host: string, port: number, timeoutMs: number }
  scoring?: { pool: ScoringPool, registry: ModelRegistry }
  /**
   * The disk buffer, when on: while it has room, an unreachable downstream
   * does not make the sidecar unready (records are acked once on disk and
   * delivered when it returns), so a Fluent Bit restart downstream does not
   * take the application's pod out of service. A full buffer does.
   */
  buffer?: () => { full: boolean }
  /** More fields for the answer (pending records...). */
  detail?: () => Record<string, unknown>
}

/** Resolves with undefined once a TCP connection opens, else with the error's code. */
export function probeTcp (host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise(resolve => {
    const sock = net.connect({ host, port })
    const done = (err: string | undefined): void => { clearTimeout(timer); sock.destroy(); resolve(err) }
    const timer = setTimeout(() => done('ETIMEDOUT'), timeoutMs)
    sock.once('connect', () => done(undefined))
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message))
  })
}

function modelCheck (s: NonNullable<ReadinessInputs['scoring']>): { loaded: boolean, why?: string, ep: string | null } {
  const st = s.pool.stats()
  const ep = st.executionProvider.running
  if (ep === null || st.threadsAlive === 0) return { loaded: false, why: 'model not loaded: no scoring worker has its ONNX session', ep }
  const missing = s.registry.sources.filter(src => s.registry.current(src) === undefined)
  if (missing.length > 0) return { loaded: false, why: `model not loaded: no adapter for ${missing.join(', ')}`, ep }
  return { loaded: true, ep }
}

export function createReadiness (r: ReadinessInputs): () => Promise<ReadyState> {
  let probe: { at: number, result: Promise<string | undefined> } | undefined
  const reachable = (): Promise<string | undefined> => {
    const d = r.downstream
    if (d.connected()) return Promise.resolve(undefined)
    const now = Date.now()
    if (probe === undefined || now - probe.at > PROBE_REUSE_MS) probe = { at: now, result: probeTcp(d.host, d.port, Math.min(d.timeoutMs, 2000)) }
    return probe.result
  }
  return async () => {
    const reasons: string[] = []
    const phase = r.phase()
    if (phase !== 'started') reasons.push(phase)
    const detail: Record<string, unknown> = { scoring: r.scoring !== undefined }
    if (r.scoring !== undefined) {
      const m = modelCheck(r.scoring)
      detail.model_loaded = m.loaded
      detail.execution_provider = m.ep
      if (m.why !== undefined) reasons.push(m.why)
    }
    const d = r.downstream
    detail.downstream_connected = d.connected()
    const buffer = r.buffer?.()
    if (buffer !== undefined) {
      detail.buffer_full = buffer.full
      if (buffer.full) reasons.push('disk buffer full (buffer.max_size): the input is paused')
    }
    if (phase !== 'stopping') { // no probe while stopping: the answer is no anyway
      const unreachable = await reachable()
      detail.downstream_reachable = unreachable === undefined
      if (unreachable !== undefined) {
        if (buffer === undefined) reasons.push(`downstream ${d.host}:${d.port} not reachable (${unreachable})`)
        else detail.buffering = `downstream ${d.host}:${d.port} not reachable (${unreachable}): records are kept in the disk buffer until it is`
      }
    }
    Object.assign(detail, r.detail?.())
    return reasons.length === 0 ? { ready: true, detail } : { ready: false, reason: reasons.join('; '), detail }
  }
}
