/**
 * Splits a TCP byte stream into msgpack frames, with a cap.
 * Three outcomes (Vector `DecodeError::can_continue`, STYLE.md habit 4):
 * a frame, need more bytes, or an error that is fatal for the connection
 * (malformed msgpack or a frame over the cap: the stream can no longer be
 * resynchronised). Errors about a well-formed frame's *meaning* are
 * recoverable and are raised by the caller after `readClientFrame`.
 */
import { FluentAnomalyError } from '../errors.js'
import { FrameScanner } from './msgpack-frame.js'

export type DecodeOutcome =
  | { kind: 'frame', bytes: Buffer }
  | { kind: 'need-more' }
  | { kind: 'error', error: FluentAnomalyError }

export class FrameDecoder {
  private buf: Buffer
  private start = 0
  private end = 0
  private readonly scanner: FrameScanner
  private failed: FluentAnomalyError | undefined

  constructor (private readonly maxFrame: number, initialCapacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.min(initialCapacity, maxFrame + 1))
    this.scanner = new FrameScanner(maxFrame)
  }

  /** Bytes held, waiting for the rest of a frame. Bounded by max frame size. */
  get buffered (): number { return this.end - this.start }

  push (chunk: Uint8Array): void {
    if (this.failed !== undefined) return
    const need = this.end + chunk.length
    if (need > this.buf.length) {
      const live = this.end - this.start
      const want = live + chunk.length
      if (want <= this.buf.length && this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end) // compact in place
      } else {
        let cap = this.buf.length * 2
        while (cap < want) cap *= 2
        const next = Buffer.allocUnsafe(cap)
        this.buf.copy(next, 0, this.start, this.end)
        this.buf = next
      }
      this.start = 0
      this.end = live
    }
    this.buf.set(chunk, this.end)
    this.end += chunk.length
  }

  next (): DecodeOutcome {
    if (this.failed !== undefined) return { kind: 'error', error: this.failed }
    const len = this.end - this.start
    if (len === 0) return { kind: 'need-more' }
    const step = this.scanner.scan(this.buf, this.start, len)
    switch (step.kind) {
      case 'done': {
        const bytes = Buffer.from(this.buf.subarray(this.start, this.start + step.end)) // copy: buf is reused
        this.start += step.end
        if (this.start === this.end) { this.start = 0; this.end = 0 }
        this.scanner.reset()
        return { kind: 'frame', bytes }
      }
      case 'need-more':
        if (len > this.maxFrame) return this.fail(new FluentAnomalyError('FWD_FRAME_TOO_LARGE', `frame larger than max_frame_size (${this.maxFrame} bytes): ${len} bytes buffered and not complete`))
        return { kind: 'need-more' }
      case 'too-large':
        return this.fail(new FluentAnomalyError('FWD_FRAME_TOO_LARGE', `frame declares at least ${step.declared} bytes, over max_frame_size (${this.maxFrame} bytes)`))
      case 'malformed':
        return this.fail(new FluentAnomalyError('FWD_MALFORMED', `invalid msgpack type byte 0x${step.byte.toString(16)} at offset ${step.at} of a frame`))
    }
  }

  private fail (error: FluentAnomalyError): DecodeOutcome {
    this.failed = error
    this.buf = Buffer.alloc(0) // release the memory now; the connection is closing
    this.start = 0
    this.end = 0
    return { kind: 'error', error }
  }
}
