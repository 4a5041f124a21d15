/**
 * The frame decoder's three outcomes and its cap, byte by byte.
 * Messages here are synthetic (built with our encoder), named as such.
 */
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { readClientFrame, encodeAck } from '../../plugin/forward/protocol.js'

const drain = (d: FrameDecoder): Array<Buffer | string> => {
  const out: Array<Buffer | string> = []
  for (;;) {
    const r = d.next()
    if (r.kind === 'need-more') return out
    if (r.kind === 'error') { out.push(r.error.code); return out }
    out.push(r.bytes)
  }
}

t.test('need more bytes at every split, then exactly the frames', async t => {
  const msgs = [
    encode(['a', [[new EventTime(1, 2), { k: 'v'.repeat(300) }]], { chunk: 'c1' }]),
    encode(null),
    encode(['b', 1700000000, { big: 'x'.repeat(70_000) }]), // str32 inside, frame > 64 KiB initial buffer
  ]
  const all = Buffer.concat(msgs)
  for (let k = 0; k <= all.length; k += (k < 400 ? 1 : 997)) {
    const d = new FrameDecoder(6 * 1024 * 1024, 16)
    d.push(all.subarray(0, k))
    const a = drain(d)
    d.push(all.subarray(k))
    const b = drain(d)
    const frames = [...a, ...b] as Buffer[]
    if (frames.length !== 3 || !frames.every((f, i) => f.equals(msgs[i]))) { t.fail(`split at ${k}`); return }
  }
  t.pass('every split point yields the same three frames')
  const d = new FrameDecoder(6 * 1024 * 1024)
  for (const byte of all) d.push(Buffer.from([byte]))
  t.equal(drain(d).length, 3, 'one byte per read works too')
  t.equal(d.buffered, 0, 'nothing left buffered')
})

t.test('oversized: refused from the header, before the bytes arrive', async t => {
  const d = new FrameDecoder(1024)
  d.push(Buffer.from([0x93, 0xa1, 0x61, 0xdb, 0x7f, 0xff, 0xff, 0xff])) // [ "a", str32 of 2 GiB ...
  t.same(drain(d), ['FWD_FRAME_TOO_LARGE'], 'str32 header over the cap')
  const e = new FrameDecoder(1024)
  e.push(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])) // array32 of 4 billion
  t.same(drain(e), ['FWD_FRAME_TOO_LARGE'], 'array32 count over the cap')
  const f = new FrameDecoder(100)
  f.push(encode(['a', 'x'.repeat(200)]))
  t.same(drain(f), ['FWD_FRAME_TOO_LARGE'], 'a complete frame over the cap')
  t.equal(f.buffered, 0, 'buffer released')
  const g = new FrameDecoder(100)
  g.push(encode(['a', 'x'.repeat(90)]))
  t.equal(drain(g).length, 1, 'a frame under the cap passes')
})

t.test('malformed msgpack is fatal for the stream', async t => {
  const d = new FrameDecoder(1024)
  d.push(Buffer.from([0x92, 0xa1, 0x61, 0xc1]))
  t.same(drain(d), ['FWD_MALFORMED'])
  d.push(encode(null))
  t.same(drain(d), ['FWD_MALFORMED'], 'stays failed: the connection must close')
})

t.test('readClientFrame: the four modes, str payloads, metadata, times', async t => {
  const rec = { log: 'x' }
  const entry = encode([new EventTime(5, 6), rec])
  const v2 = encode([[new EventTime(7, 8), { otlp: { a: 1 } }], rec])
  t.match(readClientFrame(encode(['t', 10, rec])), { kind: 'events', mode: 'message', entries: [{ time: 10, record: rec }] }, 'Message, integer time')
  const float = readClientFrame(encode(['t', 1700000000.5, rec]))
  t.match(float, { kind: 'events', entries: [{ time: { sec: 1700000000, nsec: 500000000 } }] }, 'float time accepted (Fluent Bit and Fluentd refuse it; we keep the record)')
  t.match(readClientFrame(encode(['t', [[new EventTime(1, 2), rec], [[new EventTime(3, 4), { m: 1 }], rec]]])), { mode: 'forward', entries: [{ time: { sec: 1, nsec: 2 } }, { time: { sec: 3, nsec: 4 }, metadata: { m: 1 } }] }, 'Forward, spec and v2 entries')
  t.match(readClientFrame(encode(['t', Buffer.concat([entry, v2]), { chunk: 'c' }])), { mode: 'packed', options: { chunk: 'c' }, entries: [{ time: { sec: 5 } }, { metadata: { otlp: { a: 1 } } }] }, 'PackedForward, bin payload')
  // str payload, as Fluentd sends it: header db (str32) + raw msgpack bytes
  const payload = Buffer.concat([entry, entry])
  const str32 = Buffer.concat([Buffer.from([0x93, 0xa1, 0x74, 0xdb, 0, 0, 0, payload.length]), payload, encode({ compressed: 'text' })])
  t.match(readClientFrame(str32), { mode: 'packed', entries: [{ time: { sec: 5, nsec: 6 } }, { time: { sec: 5, nsec: 6 } }] }, 'PackedForward, str payload read as raw bytes')
  const gz = Buffer.concat([gzipSync(entry), gzipSync(v2)])
  t.match(readClientFrame(encode(['t', gz, { compressed: 'gzip' }])), { kind: 'compressed', payload: gz }, 'CompressedPackedForward handed on for inflation')
  t.match(readClientFrame(encode(['t', [[1, 'not a map'], [2, { ok: 1 }]]])), { entries: [{ time: 2 }], rejected: 1 }, 'a bad entry is skipped, the rest kept')
  t.match(readClientFrame(encode({ not: 'array' })), { kind: 'invalid' })
  t.match(readClientFrame(encode([1, 2, 3])), { kind: 'invalid' }, 'non-string tag')
  t.match(readClientFrame(encode(null)), { kind: 'nil' }, 'nil health check')
})

t.test('encodeAck echoes the chunk byte for byte', async t => {
  t.equal(encodeAck('0W0zsppLlhm4X9FNfiRIYg==').toString('hex'), '81a361636bb83057307a7370704c6c686d345839464e6669524959673d3d', 'Fluent Bit chunk (from the ack capture)')
  t.equal(encodeAck('Zg7KUeH/4h/NFcFkQb8fnA==\n').subarray(-2).toString('hex'), '3d0a', 'Fluentd chunk keeps its newline')
  t.equal(encodeAck(Buffer.from([1, 2])).toString('hex'), '81a361636bc4020102', 'a bin chunk is echoed as bin')
})
