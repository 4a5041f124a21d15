/**
 * The on-disk buffer: upstream chunks are appended to segment files before
 * they are acknowledged, so an ack means "on disk", not "delivered", and a
 * crash (kill -9 included) loses nothing: at the next start every record not
 * known delivered is replayed through the pipeline (windows are rebuilt the
 * same way), at least once.
 *
 *   append(tag, entries) ─encode─▶ frame ─queue─▶ writev (one per event-loop turn) ─fsync (policy)─▶ durable: ack upstream
 *                                   │
 *   each record settles downstream ─┴▶ consumed(segment, n) ─ every record of a sealed segment settled ─▶ delete the file
 *   a whole chunk delivered ─▶ delivered(segment, index) ─▶ its index appended to segment-N.fab.acks
 *
 *   start: recover() ─ old segments, frame by frame (CRC checked, a torn tail ends the segment),
 *                      minus the chunks listed in their .acks ─▶ replayed chunks
 *
 * Segment file: 8 bytes "FABUF001", then frames: u32 LE payload length,
 * u32 LE CRC-32 of the payload, payload = msgpack [tag, [[time, record, metadata?], ...]]
 * (codec.ts: EventTime stays ext type 0). A segment is sealed at
 * `segmentSize` bytes; a sealed segment is deleted once every record in it
 * settled downstream. The `.acks` file beside a segment lists (u32 LE) the
 * chunks of it that were wholly delivered; it is written without fsync, so
 * after a crash the chunks delivered in its last moments, and chunks only
 * partly delivered, are replayed again: duplicates are possible, loss is not
 * (`buffer_replayed_records_total` counts what was replayed).
 *
 * fsync policy: `always` (fsync before the ack: survives power loss, slowest),
 * `interval` (ack once written to the OS, fsync every `fsyncIntervalMs`:
 * survives a process crash, as Fluent Bit's `storage.sync normal`), `never`.
 * Hand-written: no npm package does append-only segments with per-record
 * consumption tracking and crash recovery in a few hundred lines.
 */
import { EventEmitter } from 'node:events'
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { appendFile, open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { decode, encode } from '../forward/codec.js'
import type { Entry } from '../forward/protocol.js'
import { ByteWriter } from '../forward/byte-writer.js'
import { WireEntry } from '../forward/wire-entry.js'
import { FluentAnomalyError } from '../errors.js'

export type FsyncPolicy = 'always' | 'interval' | 'never'

export interface DiskBufferOptions {
  dir: string
  /** Bytes on disk before `full` (the input stops reading). */
  maxSize: number
  /** A segment is sealed (and a new one started) past this many bytes. */
  segmentSize: number
  fsync: FsyncPolicy
  fsyncIntervalMs: number
}

export interface RecoveredChunk { segment: Segment, index: number, tag: string, entries: Entry[] }

export interface DiskBufferEvents {
  /** Bytes fell below the low-water mark (90 % of maxSize) after `full`. */
  drain: []
  /** A write or fsync failed: chunks wait for delivery instead of the disk (see Pipeline). */
  error: [err: FluentAnomalyError]
}

const MAGIC = Buffer.from('FABUF001')
const FRAME_HEADER = 8
const SEGMENT_RE = /^segment-(\d{12})\.fab$/

/** One segment file and how many of its records are still undelivered. */
export class Segment {
  records = 0
  settled = 0
  bytes = 0
  /** Chunks appended (the next chunk's index). */
  chunks = 0
  sealed = false
  constructor (readonly seq: number, readonly path: string) {}
  get acksPath (): string { return `${this.path}.acks` }
  get done (): boolean { return this.sealed && this.settled >= this.records }
}

interface PendingWrite { segment: Segment, bytes: Buffer, resolve: () => void, reject: (e: Error) => void }

/** Folders held by a buffer of this process (the LOCK file's pid cannot tell those apart). */
const openHere = new Set<string>()

export class DiskBuffer extends EventEmitter<DiskBufferEvents> {
  private readonly segments = new Map<number, Segment>()
  private active: Segment | undefined
  /** Open files of segments still being written (the active one, and a sealed one with writes in flight). */
  private readonly files = new Map<Segment, Promise<FileHandle>>()
  private queue: PendingWrite[] = []
  private writing: Promise<void> | undefined
  private scheduled = false
  private readonly dirty = new Set<Segment>()
  private fsyncTimer: NodeJS.Timeout | undefined
  /** Files `closeFile` is closing: the interval fsync leaves them alone. */
  private readonly closing = new Map<Segment, Promise<void>>()
  /** Interval fsyncs under way, per file: `closeFile` waits for its file's before closing it. */
  private readonly syncing = new Map<Segment, Promise<void>>()
  private nextSeq = 1
  private totalBytes = 0
  private wasFull = false
  private closed = false
  private readonly lockPath: string
  /** Delivered chunk indexes waiting to be appended to their segment's .acks file. */
  private readonly acks = new Map<Segment, number[]>()
  private acksScheduled = false
  private acksWriting: Promise<void> | undefined
  /** Counters the sidecar exposes as metrics. */
  readonly stats = { appendedRecords: 0, replayedRecords: 0, corruptFrames: 0, writeErrors: 0, deletedSegments: 0 }

  private constructor (readonly opts: DiskBufferOptions) {
    super()
    this.lockPath = join(opts.dir, 'LOCK')
  }

  /** Open (create) the buffer folder and take its lock: one sidecar per folder. */
  static open (opts: DiskBufferOptions): DiskBuffer {
    if (opts.segmentSize > opts.maxSize) throw new FluentAnomalyError('BUFFER_INVALID', `buffer.segment_size (${opts.segmentSize}) must not exceed buffer.max_size (${opts.maxSize})`, { recoverable: false })
    try {
      mkdirSync(opts.dir, { recursive: true })
    } catch (err) {
      throw new FluentAnomalyError('BUFFER_IO', `cannot create buffer.path ${opts.dir}: ${(err as Error).message}`, { cause: err, recoverable: false })
    }
    const b = new DiskBuffer(opts)
    b.lock()
    const files = readdirSync(opts.dir)
    for (const f of files) {
      // an .acks file whose segment was deleted (a crash between the two removals)
      if (f.endsWith('.fab.acks') && !files.includes(f.slice(0, -'.acks'.length))) rmSync(join(opts.dir, f), { force: true })
      const m = SEGMENT_RE.exec(f)
      if (m === null) continue
      const seq = Number(m[1])
      const s = new Segment(seq, join(opts.dir, f))
      s.sealed = true // a segment from before this start is never written again
      s.bytes = statSync(s.path).size
      b.segments.set(seq, s)
      b.totalBytes += s.bytes
      b.nextSeq = Math.max(b.nextSeq, seq + 1)
    }
    if (opts.fsync === 'interval') {
      b.fsyncTimer = setInterval(() => { void b.syncNow() }, opts.fsyncIntervalMs)
      b.fsyncTimer.unref()
    }
    return b
  }

  private lock (): void {
    if (openHere.has(this.lockPath)) throw new FluentAnomalyError('BUFFER_LOCKED', `buffer.path ${this.opts.dir} is already open in this process; give each sidecar its own buffer.path`, { recoverable: false })
    try {
      const fd = openSync(this.lockPath, 'wx')
      writeFileSync(fd, String(process.pid))
      closeSync(fd)
      openHere.add(this.lockPath)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new FluentAnomalyError('BUFFER_IO', `cannot lock ${this.lockPath}: ${(err as Error).message}`, { cause: err, recoverable: false })
    }
    const pid = Number(readFileSync(this.lockPath, 'utf8').trim())
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new FluentAnomalyError('BUFFER_LOCKED', `buffer.path ${this.opts.dir} is in use by process ${pid}; give each sidecar its own buffer.path`, { recoverable: false })
    }
    writeFileSync(this.lockPath, String(process.pid)) // stale lock of a crashed sidecar: take it over
    openHere.add(this.lockPath)
  }

  get bytes (): number { return this.totalBytes }
  get segmentCount (): number { return this.segments.size }
  /** At or above maxSize: stop accepting chunks until 'drain'. */
  get full (): boolean { return this.totalBytes >= this.opts.maxSize }

  /**
   * The chunks of the segments found at open, in order, each verified by its
   * CRC; a torn or corrupt frame ends its segment (counted). Their records
   * are then consumed like new ones: settle them with `consumed`.
   */
  * recover (): Generator<RecoveredChunk> {
    const old = [...this.segments.values()].filter(s => s !== this.active && s.records === 0).sort((a, b) => a.seq - b.seq)
    for (const s of old) {
      let data: Buffer
      try { data = readFileSync(s.path) } catch { this.stats.corruptFrames++; continue }
      const chunks: Array<{ index: number, tag: string, entries: Entry[] }> = []
      const delivered = readAcks(s.acksPath)
      let index = 0
      let off = MAGIC.length
      if (!data.subarray(0, MAGIC.length).equals(MAGIC)) {
        if (data.length > 0) this.stats.corruptFrames++
        off = data.length
      }
      while (off < data.length) {
        if (off + FRAME_HEADER > data.length) { this.stats.corruptFrames++; break } // a torn header
        const len = data.readUInt32LE(off)
        const end = off + FRAME_HEADER + len
        if (end > data.length) { this.stats.corruptFrames++; break } // a torn write at a crash
        const payload = data.subarray(off + FRAME_HEADER, end)
        const chunk = crc32(payload) === data.readUInt32LE(off + 4) ? decodeChunk(payload) : undefined
        if (chunk === undefined) { this.stats.corruptFrames++; break }
        if (!delivered.has(index)) chunks.push({ index, ...chunk })
        index++
        off = end
      }
      for (const c of chunks) s.records += c.entries.length
      this.maybeDelete(s) // nothing readable in it
      for (const c of chunks) {
        this.stats.replayedRecords += c.entries.length
        yield { segment: s, index: c.index, tag: c.tag, entries: c.entries }
      }
    }
  }

  /**
   * Append one chunk. Returns its segment (settle its records with
   * `consumed`) and a promise that resolves once it is durable under the
   * fsync policy, or rejects with BUFFER_IO.
   */
  append (tag: string, entries: readonly Entry[]): { segment: Segment, index: number, durable: Promise<void> } {
    if (this.closed) throw new FluentAnomalyError('BUFFER_IO', 'the buffer is closed')
    const payload = segmentPayload(tag, entries)
    const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length)
    frame.writeUInt32LE(payload.length, 0)
    frame.writeUInt32LE(crc32(payload), 4)
    payload.copy(frame, FRAME_HEADER)
    let s = this.active
    if (s === undefined || s.bytes + frame.length > this.opts.segmentSize) s = this.roll()
    const index = s.chunks++
    s.records += entries.length
    s.bytes += frame.length
    this.totalBytes += frame.length
    this.stats.appendedRecords += entries.length
    const durable = new Promise<void>((resolve, reject) => this.queue.push({ segment: s, bytes: frame, resolve, reject }))
    if (!this.scheduled) { this.scheduled = true; setImmediate(() => { this.scheduled = false; void this.flush() }) }
    return { segment: s, index, durable }
  }

  /** `n` records of `segment` settled downstream. */
  consumed (segment: Segment, n: number): void {
    segment.settled += n
    this.maybeDelete(segment)
  }

  /** Every record of chunk `index` of `segment` was delivered: not to be replayed (unless a crash beats the .acks write). */
  delivered (segment: Segment, index: number): void {
    if (!this.segments.has(segment.seq)) return // already deleted: nothing to replay anyway
    let list = this.acks.get(segment)
    if (list === undefined) { list = []; this.acks.set(segment, list) }
    list.push(index)
    if (!this.acksScheduled) { this.acksScheduled = true; setImmediate(() => { this.acksScheduled = false; void this.writeAcks() }) }
  }

  private async writeAcks (): Promise<void> {
    while (this.acksWriting !== undefined) await this.acksWriting
    const batch = [...this.acks]
    this.acks.clear()
    this.acksWriting = (async () => {
      for (const [seg, list] of batch) {
        if (!this.segments.has(seg.seq)) continue
        const b = Buffer.allocUnsafe(4 * list.length)
        list.forEach((x, i) => b.writeUInt32LE(x, 4 * i))
        await appendFile(seg.acksPath, b).catch(() => { /* only more duplicates after a crash */ })
      }
    })().finally(() => { this.acksWriting = undefined })
    await this.acksWriting
  }

  /** Seal the active segment (no more appends to it) and start the next. */
  private roll (): Segment {
    this.seal()
    const seq = this.nextSeq++
    const s = new Segment(seq, join(this.opts.dir, `segment-${String(seq).padStart(12, '0')}.fab`))
    this.segments.set(seq, s)
    this.active = s
    s.bytes = MAGIC.length
    this.totalBytes += MAGIC.length
    this.queue.push({ segment: s, bytes: MAGIC, resolve: () => {}, reject: () => {} })
    return s
  }

  private seal (): void {
    const a = this.active
    if (a === undefined) return
    a.sealed = true
    this.active = undefined
    // close its file after its last write: flush does it for writes still queued, here for the rest
    if (!this.queue.some(w => w.segment === a)) void (this.writing ?? Promise.resolve()).then(() => this.closeFile(a))
    this.maybeDelete(a)
  }

  /** Delete a sealed segment once all its records settled and its writes are done. */
  private maybeDelete (s: Segment): void {
    if (!s.done || !this.segments.has(s.seq)) return
    if (this.queue.some(w => w.segment === s) || this.files.has(s)) return // after its last write (flush calls again)
    this.segments.delete(s.seq)
    this.totalBytes -= s.bytes
    this.stats.deletedSegments++
    this.acks.delete(s)
    rmSync(s.path, { force: true })
    rmSync(s.acksPath, { force: true })
    if (this.wasFull && this.totalBytes < this.opts.maxSize * 0.9) {
      this.wasFull = false
      this.emit('drain')
    }
  }

  /** Note that `full` was seen, so 'drain' fires when room comes back. */
  markFull (): void { this.wasFull = true }

  /** Write what is queued, in order, one writev per segment per turn; one flush at a time. */
  private async flush (): Promise<void> {
    while (this.writing !== undefined) await this.writing
    if (this.queue.length === 0) return
    const batch = this.queue
    this.queue = []
    this.writing = (async () => {
      for (let i = 0; i < batch.length;) {
        const seg = batch[i].segment
        let j = i
        while (j < batch.length && batch[j].segment === seg) j++
        const group = batch.slice(i, j)
        i = j
        try {
          const h = await this.fileFor(seg)
          await h.writev(group.map(b => b.bytes))
          if (this.opts.fsync === 'always') await h.datasync()
          else this.dirty.add(seg)
          for (const b of group) b.resolve()
        } catch (err) {
          this.stats.writeErrors++
          const e = new FluentAnomalyError('BUFFER_IO', `writing ${seg.path} failed: ${(err as Error).message}; its chunks are acked once delivered instead`, { cause: err })
          for (const b of group) b.reject(e)
          // a failed write may have left a torn frame: nothing more goes after it in that file
          if (seg === this.active) this.seal()
          this.emit('error', e)
        }
        if (seg.sealed && !this.queue.some(w => w.segment === seg)) await this.closeFile(seg)
      }
    })().finally(() => { this.writing = undefined })
    await this.writing
    if (this.queue.length > 0) await this.flush()
  }

  private fileFor (s: Segment): Promise<FileHandle> {
    let f = this.files.get(s)
    if (f === undefined) {
      f = open(s.path, 'a')
      this.files.set(s, f)
    }
    return f
  }

  /** fsync (unless policy never) and close a sealed segment's file; then it may go. */
  private closeFile (s: Segment): Promise<void> {
    const running = this.closing.get(s)
    if (running !== undefined) return running // a second caller waits for the same close
    const f = this.files.get(s)
    if (f === undefined) return Promise.resolve()
    // from here no interval fsync starts on this file; one already running ends before the close
    const closed = (async () => {
      const h = await f.catch(() => undefined)
      if (h !== undefined) {
        await this.syncing.get(s)
        if (this.opts.fsync !== 'never' && this.dirty.has(s)) await h.datasync().catch(() => {})
        await h.close().catch(() => {})
      }
      this.dirty.delete(s)
      this.files.delete(s)
    })().finally(() => this.closing.delete(s))
    this.closing.set(s, closed)
    return closed.then(() => this.maybeDelete(s))
  }

  /**
   * fsync files written since the last one (policy `interval`). A file that
   * is being closed is left to `closeFile`, which syncs it itself: an fsync
   * racing the close used to fail with "file closed", counted as a write
   * error on a buffer that had lost nothing.
   */
  async syncNow (): Promise<void> {
    for (const s of [...this.dirty]) {
      const f = this.files.get(s)
      if (f === undefined || this.closing.has(s) || this.syncing.has(s)) continue
      this.dirty.delete(s)
      const sync = (async () => {
        try { await (await f).datasync() } catch (err) {
          this.stats.writeErrors++
          this.emit('error', new FluentAnomalyError('BUFFER_IO', `fsync of ${s.path} failed: ${(err as Error).message}; chunks acked since the last fsync may not survive a power loss`, { cause: err }))
        }
      })().finally(() => this.syncing.delete(s))
      this.syncing.set(s, sync)
      await sync
    }
  }

  /** Finish queued writes, fsync, close, release the lock. Undelivered segments stay for the next start. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.fsyncTimer)
    await this.flush()
    await this.writeAcks()
    this.seal()
    for (const s of [...this.files.keys()]) await this.closeFile(s)
    rmSync(this.lockPath, { force: true })
    openHere.delete(this.lockPath)
  }
}

/**
 * msgpack `[tag, [[time, record, metadata?], ...]]`. Entries still held as the
 * bytes they arrived in are copied, not decoded and packed again: `[time,
 * record]` is their own bytes; with metadata, time, record and metadata are
 * copied behind a 3-element header.
 */
function segmentPayload (tag: string, entries: readonly Entry[]): Buffer {
  const w = new ByteWriter(64 + entries.length * 256)
  w.arrayHeader(2)
  w.put(encode(tag))
  w.arrayHeader(entries.length)
  for (const e of entries) {
    if (e instanceof WireEntry && e.pristine) {
      if (!e.hasMetadata && e.entryAt >= 0) { w.range(e.buf, e.entryAt, e.end); continue }
      const timeEnd = e.timeEnd
      w.byte(e.hasMetadata ? 0x93 : 0x92)
      w.range(e.buf, e.timeAt, timeEnd)
      w.range(e.buf, e.recordAt, e.end)
      if (e.hasMetadata) w.range(e.buf, timeEnd, e.recordAt)
      continue
    }
    w.put(encode(e.metadata === undefined ? [e.time, e.record] : [e.time, e.record, e.metadata]))
  }
  return w.done()
}

function decodeChunk (payload: Uint8Array): { tag: string, entries: Entry[] } | undefined {
  try {
    const v = decode(payload) as unknown
    if (!Array.isArray(v) || typeof v[0] !== 'string' || !Array.isArray(v[1])) return undefined
    const entries: Entry[] = []
    for (const e of v[1] as unknown[]) {
      if (!Array.isArray(e) || e.length < 2) return undefined
      const entry: Entry = { time: e[0], record: e[1] }
      if (e.length > 2) entry.metadata = e[2]
      entries.push(entry)
    }
    return { tag: v[0], entries }
  } catch {
    return undefined
  }
}

/** Chunk indexes listed in a segment's .acks file (none when it is missing; a torn last entry is ignored). */
function readAcks (path: string): Set<number> {
  const out = new Set<number>()
  let b: Buffer
  try { b = readFileSync(path) } catch { return out }
  for (let i = 0; i + 4 <= b.length; i += 4) out.add(b.readUInt32LE(i))
  return out
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}
