/**
 * Entries kept as the bytes they arrived in (plugin/forward/wire-entry.ts):
 * on every frame real Fluent Bit and Fluentd sent (the captures), and on
 * synthetic edge cases, they must read exactly as the decoded entries did
 * (time, record, metadata, the log line), leave the sidecar byte for byte as
 * they came, and everything of an unusual form must still be accepted or
 * refused exactly as msgpackr and `toEntry` decide.
 */
import t from 'tap'
import { gunzipSync } from 'node:zlib'
import { DiskBuffer } from '../../plugin/buffer/disk-buffer.js'
import { decode, decodeMany, encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { arrayElementOffsets, rawStrOrBin } from '../../plugin/forward/msgpack-frame.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { packEntries } from '../../plugin/forward/pack-entries.js'
import { readClientFrame, toEntry, unpackEntries, type Entry } from '../../plugin/forward/protocol.js'
import { fieldValue, skipPlain, stringField, WireEntry } from '../../plugin/forward/wire-entry.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { EnrichmentEncoder } from '../../plugin/scoring/enrich.js'
import { listModes, loadCapture } from '../helpers/captures.js'

const plain = (e: Entry): Entry => e.metadata === undefined ? { time: e.time, record: e.record } : { time: e.time, record: e.record, metadata: e.metadata }

/** What the sidecar made of a PackedForward payload before entries were kept as bytes. */
const decodedPayload = (payload: Uint8Array): Entry[] => decodeMany(payload).map(toEntry).filter((e): e is Entry => e !== undefined)

function events (entries: Entry[]): LogEvent[] {
  const r = new Receipt(entries.length)
  return entries.map(e => Object.assign(e, { tag: 'x', receipt: r }) as LogEvent)
}

t.test('every capture: entries kept as bytes read as the decoded ones, and re-emit byte for byte', async t => {
  let packed = 0
  let kept = 0
  for (const mode of listModes()) {
    for (const conn of loadCapture(mode).conns) {
      const d = new FrameDecoder(1 << 24)
      d.push(conn.c2s)
      for (let r = d.next(); r.kind === 'frame'; r = d.next()) {
        const f = readClientFrame(r.bytes)
        let payload: Uint8Array | undefined
        let entries: Entry[]
        if (f.kind === 'compressed') {
          payload = gunzipSync(f.payload)
          entries = unpackEntries(payload).entries
        } else if (f.kind === 'events') {
          entries = f.entries
          if (f.mode === 'packed') payload = rawStrOrBin(r.bytes, (arrayElementOffsets(r.bytes) as number[])[1]) // Fluentd types it as str
        } else continue
        const ref = f.kind === 'events' && f.mode !== 'packed'
          ? (f.mode === 'message'
              ? [toEntry((decode(r.bytes) as unknown[]).slice(1, 3)) as Entry]
              : ((decode(r.bytes) as unknown[])[1] as unknown[]).map(toEntry) as Entry[])
          : decodedPayload(payload as Uint8Array)
        kept += entries.filter(e => e instanceof WireEntry).length
        t.same(entries.map(plain), ref.map(plain), `${mode} ${conn.name}: ${entries.length} entries as decoded`)
        if (payload !== undefined && entries.every(e => e instanceof WireEntry)) {
          packed++
          // fresh entries: reading them as objects above ended their byte-for-byte output
          t.ok(packEntries(events(unpackEntries(payload).entries), true).equals(Buffer.from(payload)), `${mode} ${conn.name}: re-emitted payload is the received one, byte for byte`)
          t.same(decodeMany(packEntries(events(unpackEntries(payload).entries), false)), decodeMany(packEntries(events(ref.map(plain)), false)), `${mode} ${conn.name}: metadata dropped as before`)
        }
      }
    }
  }
  t.ok(kept > 100, `${kept} capture entries kept as bytes`)
  t.ok(packed > 5, `${packed} packed payloads compared byte for byte`)
})

const entry = (time: unknown, record: unknown, metadata?: unknown): Buffer => encode(metadata === undefined ? [time, record] : [[time, metadata], record])
const nest = (depth: number): unknown => depth === 0 ? 'x' : { k: nest(depth - 1) }

t.test('unusual entries take the old path: accepted or refused as msgpackr and toEntry decide', async t => {
  const binKey = Buffer.concat([Buffer.from([0x92, 0x01, 0x81, 0xc4, 0x01, 0x6b, 0x01])]) // [1, {bin "k": 1}]
  const mapKey = Buffer.from([0x92, 0x01, 0x81, 0x80, 0x01]) // [1, {{}: 1}]
  const cases: Array<[string, Buffer, 'kept' | 'decoded' | 'throws']> = [
    ['EventTime, flat record', entry(new EventTime(1, 2), { log: 'a' }), 'kept'],
    ['integer time up to 32 bits', entry(4_000_000_000, { log: 'a' }), 'kept'],
    ['metadata form', entry(new EventTime(1, 2), { log: 'a' }, { m: [1, { n: null }] }), 'kept'],
    ['64 levels deep', entry(1, nest(64)), 'kept'],
    ['65 levels deep (refused)', entry(1, nest(65)), 'decoded'],
    ['float time (becomes EventTime)', entry(1.5, { log: 'a' }), 'decoded'],
    ['negative time (refused)', entry(-1, { log: 'a' }), 'decoded'],
    ['record is an array (refused)', entry(1, ['a']), 'decoded'],
    ['three elements (refused)', encode([1, { log: 'a' }, 3]), 'decoded'],
    ['EventTime inside the record', entry(1, { at: new EventTime(5, 6) }), 'decoded'],
    ['integer and float keys', Buffer.from([0x92, 0x01, 0x82, 0x05, 0xa1, 0x61, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa1, 0x62]), 'kept'],
    ['bin key (msgpackr refuses)', binKey, 'throws'],
    ['map key (msgpackr refuses)', mapKey, 'throws'],
    ['msgpackr structured-clone ext (refused)', Buffer.concat([Buffer.from([0x92, 0x01, 0x81, 0xa1, 0x61]), Buffer.from([0xd4, 0x69, 0x00])]), 'throws'],
  ]
  for (const [name, bytes, how] of cases) {
    const payload = Buffer.concat([entry(7, { log: 'first' }), bytes])
    if (how === 'throws') {
      t.throws(() => unpackEntries(payload), `${name}: the payload is refused, as before`)
      t.throws(() => decodedPayload(payload), `${name}: (and was before)`)
      continue
    }
    const got = unpackEntries(payload)
    const ref = decodeMany(payload).map(toEntry)
    t.equal(got.rejected, ref.filter(e => e === undefined).length, `${name}: ${got.rejected} rejected, as before`)
    t.same(got.entries.map(plain), ref.filter((e): e is Entry => e !== undefined).map(plain), `${name}: the same entries`)
    t.equal(got.entries.every(e => e instanceof WireEntry), how === 'kept', `${name}: ${how === 'kept' ? 'kept as bytes' : 'decoded'}`)
  }
})

t.test('skipPlain: truncated and malformed values are -1, never a throw or a read past the end', async t => {
  const v = encode({ a: [1, 'two', { b: Buffer.from('xyz') }], c: 1.5, d: null, e: true })
  t.equal(skipPlain(v, 0, v.length), v.length, 'a whole value')
  for (let cut = 0; cut < v.length; cut++) t.equal(skipPlain(v, 0, cut), -1, `cut at ${cut}`)
  t.equal(skipPlain(Buffer.from([0xc1]), 0, 1), -1, '0xc1')
  t.equal(skipPlain(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 0, 5), -1, 'an array32 claiming 4 billion elements')
})

t.test('the log line read from the bytes is what record[key] gives', async t => {
  const keys = ['log', 'message']
  const records: Array<Record<string, unknown>> = [
    { log: 'plain' },
    { message: 'second key', other: 1 },
    { log: 5, message: 'a number first: the next key' },
    { log: Buffer.from('bytes, read as UTF-8 ünï') },
    { log: 'ünïcødé 🚀 and a long line '.repeat(20) },
    { nothing: 'here' },
    { log: { nested: 'no' } },
  ]
  for (const r of records) {
    const [e] = unpackEntries(entry(1, r)).entries as WireEntry[]
    const got = stringField(e, keys)
    const want = keys.map(k => r[k]).find(v => typeof v === 'string' || v instanceof Uint8Array)
    t.same(got instanceof Uint8Array ? Buffer.from(got).toString() : got, want instanceof Uint8Array ? want.toString() : want, JSON.stringify(r).slice(0, 60))
    t.ok(e.pristine, 'without decoding the record')
  }
  // a key twice: the last wins, as when decoded
  const dup = Buffer.from([0x92, 0x01, 0x82, 0xa3, 0x6c, 0x6f, 0x67, 0xa1, 0x61, 0xa3, 0x6c, 0x6f, 0x67, 0xa1, 0x62])
  const [d] = unpackEntries(dup).entries as WireEntry[]
  t.equal(stringField(d, keys), 'b', 'duplicate key: the last value')
  t.equal(d.record.log, 'b', '(as decoded)')
})

t.test('one field decoded alone is what record[key] gives', async t => {
  const r = { log: 'line', bench_t: 1763900000123.25, anomaly: { score: 0.5, is_anomaly: false, window_id: 'hdfs:x:1' }, n: -3 }
  const [e] = unpackEntries(entry(1, r)).entries as WireEntry[]
  for (const k of ['bench_t', 'anomaly', 'n', 'log', 'absent']) t.same(fieldValue(e, k), (r as Record<string, unknown>)[k], k)
  t.ok(e.pristine, 'without decoding the record')
  const dup = Buffer.from([0x92, 0x01, 0x82, 0xa3, 0x6c, 0x6f, 0x67, 0x01, 0xa3, 0x6c, 0x6f, 0x67, 0x02])
  t.equal(fieldValue((unpackEntries(dup).entries as WireEntry[])[0], 'log'), 2, 'a key twice: the last value, as when decoded')
})

t.test('decoding or replacing a record ends byte-for-byte output: the object is what leaves', async t => {
  const payload = Buffer.concat([entry(new EventTime(1, 0), { log: 'a' }), entry(new EventTime(2, 0), { log: 'b' })])
  const evs = events(unpackEntries(payload).entries)
  evs[0].record.extra = 'edited in place'
  evs[1].record = { log: 'replaced' }
  t.same(decodeMany(packEntries(evs, true)).map(e => (e as [unknown, unknown])[1]), [{ log: 'a', extra: 'edited in place' }, { log: 'replaced' }])
})

t.test('enriched entries kept as bytes splice as object entries do, metadata kept or dropped, a colliding key replaced', async t => {
  const enc = new EnrichmentEncoder({ field: 'anomaly', flat: false, names: {} })
  const w = enc.window({ score: 0.5, is_anomaly: true, threshold: 0.4, window_id: 'w', window_size: 2, model: 'm', adapter: 'a', top_line: 'top' })
  const payload = Buffer.concat([
    entry(new EventTime(1, 0), { log: 'a' }),
    entry(new EventTime(2, 0), { log: 'b', k: [1, 2] }, { otel: { s: 'INFO' } }),
    entry(3, { log: 'c', anomaly: 'stale' }),
    entry(4, { log: 'd' }),
  ])
  for (const retain of [true, false]) {
    const asBytes = events(unpackEntries(payload).entries)
    const asObjects = events(decodedPayload(payload))
    for (const evs of [asBytes, asObjects]) for (const [i, e] of evs.entries()) if (i !== 3) e.enrichment = enc.record(w, `t${i}`, `template ${i}`)
    t.ok(asBytes.every(e => e instanceof WireEntry), 'kept as bytes')
    t.same(decodeMany(packEntries(asBytes, retain)), decodeMany(packEntries(asObjects, retain)), `retain_metadata ${String(retain)}: the same entries`)
  }
})

t.test('the disk buffer stores entries kept as bytes without decoding them, and gives them back', async t => {
  const dir = t.testdir({})
  const payload = Buffer.concat([entry(new EventTime(1, 2), { log: 'a' }), entry(5, { log: 'b' }, { m: 1 }), entry(new EventTime(3, 4), { log: 'c', n: [1, { x: null }] })])
  const entries = unpackEntries(payload).entries
  const a = DiskBuffer.open({ dir, maxSize: 1 << 20, segmentSize: 1 << 20, fsync: 'always', fsyncIntervalMs: 1000 })
  await a.append('app.x', entries).durable
  t.ok(entries.every(e => e instanceof WireEntry && e.pristine), 'appending decoded nothing')
  await a.close()
  const b = DiskBuffer.open({ dir, maxSize: 1 << 20, segmentSize: 1 << 20, fsync: 'always', fsyncIntervalMs: 1000 })
  t.teardown(() => b.close())
  const [chunk] = [...b.recover()]
  t.same(chunk.entries.map(plain), decodedPayload(payload).map(plain), 'the same entries come back')
})
