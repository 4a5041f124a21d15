/**
 * End-to-end delivery promises of the spine: an upstream chunk is acked only
 * once the downstream acked its records; outages and lost acks are retried
 * with the same chunk id; backpressure stops reading instead of buffering
 * without bound; metadata and time survive the trip.
 */
import t from 'tap'
import net from 'node:net'
import { encode, decode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { encodeAck, readClientFrame, unpackEntries } from '../../plugin/forward/protocol.js'
import { quietTelemetry } from '../../plugin/events.js'
import { waitFor } from '../helpers/wait.js'
import { rawDownstream, startReceiver, startSidecar } from '../helpers/sidecar.js'


/** A downstream that records every chunk id it is sent and acks only when `ack(id)` says so. */
async function flakyDownstream (ack: (id: string, seen: number) => boolean): Promise<{ port: number, seen: string[], records: number, close: () => Promise<void> }> {
  const state = { seen: [] as string[], records: 0 }
  const d = await rawDownstream((f, write) => {
    const id = f.options.chunk as string
    state.seen.push(id)
    if (ack(id, state.seen.filter(x => x === id).length)) { state.records += f.entries.length; write() }
  })
  return {
    ...d,
    get seen () { return state.seen },
    get records () { return state.records },
  }
}

/** Send one acked Forward chunk on a raw socket; resolves with the ack or rejects after ms. */
async function sendChunk (port: number, chunk: string, n: number, ms = 10_000): Promise<void> {
  const sock = net.connect({ host: '127.0.0.1', port })
  sock.on('error', () => {})
  const entries = Array.from({ length: n }, (_, i) => [[new EventTime(1700000000, i), { src: 'fluent-bit' }], { chunk, i }])
  sock.write(encode([`up.${chunk}`, entries, { chunk, size: n }]))
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ack')), ms)
      sock.on('data', d => { if ((decode(d) as { ack: string }).ack === chunk) { clearTimeout(timer); resolve() } })
    })
  } finally { sock.destroy() }
}

t.test('downstream down at first: records wait, then all arrive, and only then is upstream acked', async t => {
  const probe = net.createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise(resolve => probe.close(resolve)) // nothing listens on `port` now
  const telemetry = quietTelemetry()
  const sc = await startSidecar(port, {}, telemetry)
  let acked = false
  const sent = sendChunk(sc.port, 'outage', 50).then(() => { acked = true })
  await new Promise(resolve => setTimeout(resolve, 400))
  t.notOk(acked, 'no ack while the downstream is down')
  t.ok(telemetry.counters.get('output_errors_total', { code: 'OUT_CONNECT' }) >= 1, 'connect failures counted, retrying')
  const rx = await startReceiver({ port, listen: '127.0.0.1' })
  await sent
  t.ok(acked, 'acked once the downstream came back')
  t.equal(rx.sink.events.length, 50, 'every record delivered once')
  await sc.stop()
  await rx.close()
})

t.test('lost ack: the chunk is resent with the same chunk id on a new connection', async t => {
  const ds = await flakyDownstream((_id, times) => times >= 2) // swallow the first attempt
  const sc = await startSidecar(ds.port, { output: { ack_timeout: 300 } })
  await sendChunk(sc.port, 'retry', 10)
  t.equal(ds.seen.length, 2, 'sent twice')
  t.equal(ds.seen[0], ds.seen[1], 'with the same chunk id')
  t.equal(ds.records, 10, 'delivered')
  t.equal(sc.telemetry.counters.get('output_chunks_retried_total'), 1, 'the retry is counted')
  await sc.stop()
  await ds.close()
})

t.test('backpressure: above max_pending_records the sidecar stops reading; nothing is dropped', async t => {
  let acking = false
  const ds = await flakyDownstream(() => acking)
  const sc = await startSidecar(ds.port, { limits: { max_pending_records: 200 }, output: { ack_timeout: 60_000, max_chunk_records: 50 } })
  const sock = net.connect({ host: '127.0.0.1', port: sc.port })
  await new Promise(resolve => sock.once('connect', resolve))
  const total = 5000
  const big = Buffer.concat(Array.from({ length: total / 100 }, (_, m) => encode(['bp', Array.from({ length: 100 }, (_, i) => [1700000000, { seq: m * 100 + i, pad: 'y'.repeat(200) }])])))
  sock.write(big)
  await waitFor(() => sc.sidecar.pipeline.pending >= 200)
  await new Promise(resolve => setTimeout(resolve, 300))
  const held = sc.sidecar.pipeline.pending
  t.ok(held >= 200 && held <= 300, `reading stopped near the limit (${held} pending of ${total} sent)`)
  t.ok(sc.sidecar.server.backpressured, 'input reports backpressure')
  t.equal(sc.telemetry.counters.get('backpressure_engaged_total'), 1, 'engagement counted')
  acking = true
  // chunks sent before are still waiting; they time out only after 60 s, so
  // close their connection to make the client resend now.
  await waitFor(() => ds.seen.length > 0)
  await ds.close()
  const rx = await startReceiver({ port: ds.port })
  t.ok(await rx.sink.waitFor(total, 20_000).then(() => true), 'every record arrived after the downstream recovered')
  const seqs = new Set(rx.sink.events.map(e => e.record.seq))
  t.equal(seqs.size, total, 'no record lost')
  sock.destroy()
  await sc.stop()
  await rx.close()
})

t.test('time and Fluent Bit metadata preserved on the way out; retain_metadata false drops only the metadata', async t => {
  for (const retain of [true, false]) {
    const rx = await startReceiver()
    const sc = await startSidecar(rx.port, { output: { retain_metadata: retain } })
    await sendChunk(sc.port, `meta${String(retain)}`, 3)
    await rx.sink.waitFor(3)
    const e = rx.sink.events[2]
    t.ok(e.time instanceof EventTime && e.time.sec === 1700000000 && e.time.nsec === 2, `time to the nanosecond (retain ${retain})`)
    t.same(e.metadata, retain ? { src: 'fluent-bit' } : undefined, `metadata ${retain ? 'kept' : 'dropped'}`)
    t.same(e.record, { chunk: `meta${String(retain)}`, i: 2 }, 'record unchanged')
    await sc.stop()
    await rx.close()
  }
})

t.test('integer time stays an integer; tag_template rewrites the tag', async t => {
  const rx = await startReceiver()
  const sc = await startSidecar(rx.port, { output: { tag_template: 'anomaly.{tag}.out' } })
  const sock = net.connect({ host: '127.0.0.1', port: sc.port })
  sock.write(encode(['svc', 1700000123, { a: 1 }]))
  await rx.sink.waitFor(1)
  t.equal(rx.sink.events[0].time, 1700000123)
  t.equal(rx.sink.events[0].tag, 'anomaly.svc.out')
  sock.destroy()
  await sc.stop()
  await rx.close()
})

t.test('graceful stop delivers what is pending and acks it', async t => {
  const rx = await startReceiver()
  const sc = await startSidecar(rx.port, { output: { flush_interval: 200 } })
  const acked = sendChunk(sc.port, 'stop', 20)
  await waitFor(() => sc.sidecar.pipeline.pending === 20)
  await sc.stop() // flushes the open chunk before the 200 ms flush timer
  await acked
  t.equal(rx.sink.events.length, 20, 'delivered during shutdown')
  await rx.close()
})

t.test('unpackEntries of what the client sends is what went in (PackedForward, gzip)', async t => {
  const ds = await new Promise<{ port: number, frames: Buffer[], server: net.Server }>(resolve => {
    const frames: Buffer[] = []
    const server = net.createServer(sock => {
      const d = new FrameDecoder(1 << 24)
      sock.on('data', data => { d.push(data); for (let r = d.next(); r.kind === 'frame'; r = d.next()) { frames.push(r.bytes); const f = readClientFrame(r.bytes); if (f.kind === 'compressed') sock.write(encodeAck(f.options.chunk as string)) } })
    })
    server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, frames, server }))
  })
  const sc = await startSidecar(ds.port, { output: { compress: 'gzip' } })
  await sendChunk(sc.port, 'gz', 5)
  const f = readClientFrame(ds.frames[0])
  t.equal(f.kind, 'compressed', 'CompressedPackedForward on the wire')
  if (f.kind === 'compressed') {
    const { gunzipSync } = await import('node:zlib')
    t.equal(unpackEntries(gunzipSync(f.payload)).entries.length, 5, 'five entries inside')
    t.equal(f.options.size, 5, 'size option set')
  }
  await sc.stop()
  await new Promise(resolve => ds.server.close(resolve))
})
