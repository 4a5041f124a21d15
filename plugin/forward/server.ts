/**
 * Forward input: a TCP (or TLS) server speaking Forward protocol v1 as real
 * Fluent Bit and Fluentd send it. One Connection per socket:
 *
 *   bytes ─▶ FrameDecoder ─▶ readClientFrame ─▶ (PING → PONG) | (entries → pipeline.submit)
 *                                                                  └─ receipt done ─▶ {"ack": chunk}
 *
 * Every reply (HELO, PONG, ack) is one `write` of one complete msgpack object:
 * Fluent Bit out_forward treats a partial read of any of them as an error.
 */
import net from 'node:net'
import tls from 'node:tls'
import { readFileSync } from 'node:fs'
import { gunzip } from 'node:zlib'
import { promisify } from 'node:util'
import type { ForwardInputConfig } from '../../config/schema.js'
import { FluentAnomalyError } from '../errors.js'
import { events, type Telemetry } from '../events.js'
import type { Pipeline } from '../pipeline/pipeline.js'
import { FrameDecoder } from './decoder.js'
import { createHelo, verifyPing, type HeloState, type ServerSecurity } from './handshake.js'
import { encodeAck, readClientFrame, unpackEntries, type Entry, type ForwardOptions, type Mode } from './protocol.js'

const gunzipAsync = promisify(gunzip)

export class ForwardServer {
  private server: net.Server | undefined
  readonly connections = new Set<Connection>()
  private paused = false

  /**
   * `hooks.helo` replaces the random HELO (nonce, auth salt): only the
   * capture-replay tests use it, to answer a recorded PING.
   */
  constructor (readonly opts: ForwardInputConfig, readonly pipeline: Pipeline, readonly telemetry: Telemetry, readonly hooks: { helo?: () => HeloState } = {}) {
    telemetry.counters.gauge('forward_connections_open', () => this.connections.size)
    pipeline.on('full', (pending: number, reason?: string) => { this.paused = true; events.backpressure(telemetry, true, pending, reason) })
    pipeline.on('drain', () => {
      this.paused = false
      events.backpressure(telemetry, false, pipeline.pending)
      for (const c of this.connections) c.resume('backpressure')
    })
  }

  get security (): ServerSecurity | undefined {
    const s = this.opts.security
    return s === undefined ? undefined : { sharedKey: s.shared_key, selfHostname: s.self_hostname, users: s.users }
  }

  /** True while the pipeline is over max_pending_records. */
  get backpressured (): boolean { return this.paused }

  async listen (): Promise<net.AddressInfo> {
    const onSocket = (socket: net.Socket): void => this.accept(socket)
    const t = this.opts.tls
    if (t.enabled) {
      this.server = tls.createServer({
        cert: readFileSync(t.cert_file as string),
        key: readFileSync(t.key_file as string),
        ca: t.ca_file === undefined ? undefined : readFileSync(t.ca_file),
        requestCert: t.verify_client,
        rejectUnauthorized: t.verify_client,
      }, onSocket)
      this.server.on('tlsClientError', (err, socket) => {
        events.connectionError(this.telemetry, `${socket.remoteAddress}:${socket.remotePort}`, 'FWD_HANDSHAKE', `TLS: ${err.message}`)
      })
    } else {
      this.server = net.createServer(onSocket)
    }
    const server = this.server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port, this.opts.listen, () => { server.off('error', reject); resolve() })
    })
    return server.address() as net.AddressInfo
  }

  private accept (socket: net.Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`
    if (this.connections.size >= this.opts.max_connections) {
      events.connectionRefused(this.telemetry, remote, 'FWD_TOO_MANY_CONNECTIONS', `max_connections (${this.opts.max_connections}) reached`)
      socket.destroy()
      return
    }
    const conn = new Connection(socket, remote, this)
    this.connections.add(conn)
    socket.once('close', () => this.connections.delete(conn))
    events.connectionOpened(this.telemetry, remote)
  }

  /**
   * Stop accepting. Connections stay open until their pending acks are
   * written (or `graceMs` passes), so a sender waiting for an ack gets it.
   */
  async close (graceMs = 0): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>(resolve => server.close(() => resolve()))
    for (const c of this.connections) c.stopReading()
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline && [...this.connections].some(c => c.pendingAcks > 0)) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    for (const c of this.connections) c.destroy()
    await closed
  }
}

type PauseReason = 'backpressure' | 'inflate' | 'closing'

class Connection {
  private readonly decoder: FrameDecoder
  private helo: HeloState | undefined
  private readonly pauses = new Set<PauseReason>()
  private busy = false
  /** Armed while a frame is incomplete; reset by every completed frame (input.forward.frame_timeout). */
  private frameTimer: NodeJS.Timeout | undefined
  pendingAcks = 0

  constructor (private readonly socket: net.Socket, private readonly remote: string, private readonly server: ForwardServer) {
    const o = server.opts
    this.decoder = new FrameDecoder(o.max_frame_size)
    socket.setNoDelay(true)
    socket.on('data', chunk => this.onData(chunk))
    socket.on('close', () => clearTimeout(this.frameTimer))
    socket.on('error', err => {
      // Peers drop connections all the time (Fluentd heartbeats, retries): debug only.
      server.telemetry.log.debug({ remote, err: err.message }, 'forward socket error')
    })
    if (o.idle_timeout > 0) {
      socket.setTimeout(o.idle_timeout, () => {
        // Not idle if the peer waits for our ack, or if we stopped reading
        // (backpressure): closing then would throw away unread records.
        if (this.pendingAcks > 0 || this.pauses.size > 0) return
        events.connectionError(server.telemetry, remote, 'FWD_IDLE_TIMEOUT', `no data for ${o.idle_timeout} ms`)
        socket.destroy()
      })
    }
    const sec = server.security
    if (sec !== undefined) {
      this.helo = server.hooks.helo?.() ?? createHelo()
      socket.write(this.helo.frame)
    }
  }

  private onData (chunk: Buffer): void {
    this.decoder.push(chunk)
    void this.drain()
  }

  /** Process every complete frame; serialised so gzip inflation keeps order. */
  private async drain (): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      for (;;) {
        if (this.socket.destroyed) return
        const out = this.decoder.next()
        if (out.kind === 'need-more') { this.watchPartialFrame(); return }
        if (out.kind === 'error') { this.fail(out.error); return }
        clearTimeout(this.frameTimer)
        this.frameTimer = undefined
        await this.handleFrame(out.bytes)
      }
    } finally {
      this.busy = false
    }
  }

  /**
   * A sender that starts a frame must finish it within frame_timeout (a
   * slow-loris guard: idle_timeout alone is beaten by one byte a minute).
   * Not while we stopped reading (backpressure): then the delay is ours.
   */
  private watchPartialFrame (): void {
    const ms = this.server.opts.frame_timeout
    if (ms <= 0 || this.decoder.buffered === 0 || this.frameTimer !== undefined) return
    this.frameTimer = setTimeout(() => {
      this.frameTimer = undefined
      if (this.socket.destroyed || this.decoder.buffered === 0) return
      if (this.pauses.size > 0) { this.watchPartialFrame(); return }
      this.fail(new FluentAnomalyError('FWD_FRAME_TIMEOUT', `a frame was started and not finished within frame_timeout (${ms} ms; ${this.decoder.buffered} bytes of it received)`))
    }, ms)
    this.frameTimer.unref()
  }

  private async handleFrame (bytes: Buffer): Promise<void> {
    const { telemetry } = this.server
    let frame
    try {
      frame = readClientFrame(bytes)
    } catch (e) {
      this.fail(new FluentAnomalyError('FWD_MALFORMED', `undecodable msgpack: ${(e as Error).message}`, { cause: e }))
      return
    }
    if (this.helo !== undefined) {
      // Handshake pending: only PING is acceptable.
      if (frame.kind !== 'ping') {
        events.handshakeFailed(telemetry, this.remote, 'FWD_HANDSHAKE', `expected PING, got ${frame.kind}`)
        this.socket.destroy()
        return
      }
      const verdict = verifyPing(frame.elements, this.helo, this.server.security as ServerSecurity)
      if (!verdict.ok) {
        events.handshakeFailed(telemetry, this.remote, verdict.code, verdict.reason)
        if (verdict.pong !== undefined) this.socket.end(verdict.pong)
        else this.socket.destroy()
        return
      }
      this.helo = undefined
      this.socket.write(verdict.pong)
      events.handshakeOk(telemetry, this.remote, verdict.clientHostname)
      return
    }
    switch (frame.kind) {
      case 'nil': return
      case 'ping':
        events.frameSkipped(telemetry, this.remote, 'FWD_BAD_MESSAGE', 'PING received but no shared_key is configured')
        return
      case 'invalid':
        events.frameSkipped(telemetry, this.remote, 'FWD_BAD_MESSAGE', `not a Forward message: ${frame.reason}`)
        return
      case 'events':
        this.submit(frame.mode, frame.tag, frame.options, frame.entries, frame.rejected)
        return
      case 'compressed': {
        this.pause('inflate')
        let inflated: Buffer
        try {
          inflated = await gunzipAsync(frame.payload, { maxOutputLength: this.server.opts.max_decompressed_size })
        } catch (e) {
          const err = e as NodeJS.ErrnoException
          if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
            this.fail(new FluentAnomalyError('FWD_DECOMPRESSED_TOO_LARGE', `gzip payload inflates past max_decompressed_size (${this.server.opts.max_decompressed_size} bytes)`))
          } else {
            events.frameSkipped(telemetry, this.remote, 'FWD_BAD_GZIP', `cannot gunzip CompressedPackedForward payload: ${err.message}`)
          }
          this.resume('inflate')
          return
        }
        this.resume('inflate')
        let unpacked
        try {
          unpacked = unpackEntries(inflated)
        } catch (e) {
          events.frameSkipped(telemetry, this.remote, 'FWD_BAD_MESSAGE', `gzip payload is not msgpack entries: ${(e as Error).message}`)
          return
        }
        this.submit('compressed', frame.tag, frame.options, unpacked.entries, unpacked.rejected)
      }
    }
  }

  private submit (mode: Mode, tag: string, options: ForwardOptions, entries: Entry[], rejected: number): void {
    const { telemetry, pipeline } = this.server
    if (rejected > 0) events.recordsRejected(telemetry, this.remote, rejected)
    events.recordsReceived(telemetry, entries.length, mode)
    const receipt = pipeline.submit(tag, entries)
    const chunk = options.chunk
    if (chunk !== undefined) {
      this.pendingAcks++
      void receipt.whenDone().then(() => {
        this.pendingAcks--
        if (this.socket.destroyed || !this.socket.writable) return // sender will retry; duplicates, never loss
        this.socket.write(encodeAck(chunk))
        events.chunkAcked(telemetry)
      })
    }
    if (pipeline.full) this.pause('backpressure')
  }

  private pause (why: PauseReason): void {
    this.pauses.add(why)
    this.socket.pause()
  }

  resume (why: PauseReason): void {
    this.pauses.delete(why)
    if (this.pauses.size === 0 && !this.socket.destroyed) {
      if (why === 'inflate' && this.server.pipeline.full) { this.pause('backpressure'); return }
      this.socket.resume()
    }
  }

  stopReading (): void { this.pause('closing') }

  destroy (): void { this.socket.destroy() }

  private fail (error: FluentAnomalyError): void {
    events.connectionError(this.server.telemetry, this.remote, error.code, error.message)
    this.socket.destroy()
  }
}
