/**
 * Test helpers: a sidecar on port 0 wired to a downstream on port 0, and
 * collectors for what the downstream received. Real sockets throughout.
 */
import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry, type Telemetry } from '../../plugin/events.js'
import { createSidecar, type Sidecar } from '../../plugin/index.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { encodeAck, readClientFrame, type ClientFrame } from '../../plugin/forward/protocol.js'
import { ForwardServer } from '../../plugin/forward/server.js'
import { Pipeline } from '../../plugin/pipeline/pipeline.js'
import type { LogEvent, Sink } from '../../plugin/pipeline/stage.js'

/** A sink that keeps every event and settles it at once: the downstream end of a test. */
export class CollectingSink implements Sink {
  readonly events: LogEvent[] = []
  private waiters: Array<{ n: number, resolve: () => void }> = []
  get pending (): number { return 0 }
  write (events: LogEvent[]): void {
    for (const e of events) { this.events.push(e); e.receipt.settle(1) }
    this.waiters = this.waiters.filter(w => { if (this.events.length >= w.n) { w.resolve(); return false } return true })
  }
  async close (): Promise<void> {}
  /** Resolves when at least `n` events arrived. */
  waitFor (n: number, timeoutMs = 15_000): Promise<void> {
    if (this.events.length >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.events.length} of ${n} events arrived within ${timeoutMs} ms`)), timeoutMs)
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }
}

/** A Forward receiver built from our own server plus a collecting sink (stands in for Fluent Bit in_forward). */
export async function startReceiver (input: Record<string, unknown> = {}, telemetry: Telemetry = quietTelemetry(), hooks: ConstructorParameters<typeof ForwardServer>[3] = {}): Promise<{ sink: CollectingSink, server: ForwardServer, port: number, close: () => Promise<void> }> {
  const cfg = parseConfig({ input: { forward: { port: 0, ...input } } })
  const sink = new CollectingSink()
  const pipeline = new Pipeline([], sink, { maxPending: 1_000_000 })
  const server = new ForwardServer(cfg.input.forward, pipeline, telemetry, hooks)
  const addr = await server.listen()
  return { sink, server, port: addr.port, close: () => server.close(0) }
}

export interface TestSidecar { sidecar: Sidecar, port: number, telemetry: Telemetry, stop: () => Promise<void> }

export async function startSidecar (downstreamPort: number, overrides: { input?: Record<string, unknown>, output?: Record<string, unknown>, limits?: Record<string, unknown> } = {}, telemetry: Telemetry = quietTelemetry()): Promise<TestSidecar> {
  const config = parseConfig({
    input: { forward: { port: 0, ...overrides.input } },
    output: { forward: { port: downstreamPort, retry_initial: 50, retry_max: 500, ...overrides.output } },
    limits: { shutdown_grace: 2000, ...overrides.limits },
    admin: { port: 0 },
  })
  const sidecar = createSidecar(config, { telemetry })
  const { forward } = await sidecar.start()
  return { sidecar, port: (forward as AddressInfo).port, telemetry, stop: () => sidecar.stop() }
}

export { once }

/**
 * A bare Forward downstream over a real socket, for tests that decide when
 * (or whether) a chunk is acked: each events frame goes to `onChunk` with the
 * function that writes its ack.
 */
export async function rawDownstream (onChunk: (frame: Extract<ClientFrame, { kind: 'events' }>, ack: () => void) => void): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(sock => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    const d = new FrameDecoder(1 << 24)
    sock.on('data', data => {
      d.push(data)
      for (let r = d.next(); r.kind === 'frame'; r = d.next()) {
        const f = readClientFrame(r.bytes)
        if (f.kind === 'events') onChunk(f, () => { sock.write(encodeAck(f.options.chunk as string)) })
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => { for (const s of sockets) s.destroy(); return new Promise(resolve => server.close(() => resolve())) },
  }
}
