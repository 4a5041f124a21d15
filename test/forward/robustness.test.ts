/**
 * Bad input costs nothing else: malformed, oversized and gzip-bomb frames
 * close their own connection with a logged code while another live
 * connection carries on; bad entries are skipped and counted.
 * The probe messages of ../shared/fixtures/forward-captures/probe_in_forward.txt
 * are rebuilt here (synthetic bytes, same shapes).
 */
import t from 'tap'
import net from 'node:net'
import { gzipSync } from 'node:zlib'
import { encode } from '../../plugin/forward/codec.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { quietTelemetry } from '../../plugin/events.js'
import { waitFor as poll } from '../helpers/wait.js'
import { startReceiver } from '../helpers/sidecar.js'

const waitFor = (cond: () => boolean): Promise<boolean> => poll(cond, 5000)

async function connect (port: number): Promise<{ sock: net.Socket, replies: Buffer[], closed: Promise<void> }> {
  const sock = net.connect({ host: '127.0.0.1', port })
  await new Promise(resolve => sock.once('connect', resolve))
  const replies: Buffer[] = []
  sock.on('data', d => replies.push(d))
  sock.on('error', () => {})
  const closed = new Promise<void>(resolve => sock.once('close', () => resolve()))
  return { sock, replies, closed }
}


const entry = (n: number): Buffer => encode([new EventTime(1700000000, n), { n }])

t.test('probe messages (every mode with a chunk) are all acked', async t => {
  const rx = await startReceiver()
  const rec = { message: 'probe' }
  const probes: Array<[string, unknown]> = [
    ['c-message', ['p', 1700000000, rec, { chunk: 'c-message' }]],
    ['c-message-et', ['p', new EventTime(1700000000, 1), rec, { chunk: 'c-message-et' }]],
    ['c-message-float', ['p', 1700000000.25, rec, { chunk: 'c-message-float' }]],
    ['c-forward', ['p', [[1700000000, rec]], { chunk: 'c-forward' }]],
    ['c-forward-v2', ['p', [[[new EventTime(1, 2), {}], rec]], { chunk: 'c-forward-v2' }]],
    ['c-packed-bin', ['p', Buffer.concat([entry(1), entry(2)]), { chunk: 'c-packed-bin' }]],
    ['c-gzip', ['p', gzipSync(entry(3)), { chunk: 'c-gzip', compressed: 'gzip' }]],
    ['c-gzip-2members', ['p', Buffer.concat([gzipSync(entry(4)), gzipSync(entry(5))]), { chunk: 'c-gzip-2members', compressed: 'gzip' }]],
  ]
  for (const [chunk, msg] of probes) {
    const c = await connect(rx.port)
    c.sock.write(encode(msg))
    t.ok(await waitFor(() => Buffer.concat(c.replies).equals(Buffer.concat([Buffer.from([0x81, 0xa3, 0x61, 0x63, 0x6b, 0xa0 | chunk.length]), Buffer.from(chunk)]))), `${chunk}: ack`)
    c.sock.destroy()
  }
  t.equal(rx.sink.events.length, 10, 'every entry delivered (2-member gzip gives 2)')
  const c = await connect(rx.port)
  c.sock.write(encode(['p', [[1, rec]]]))
  await waitFor(() => rx.sink.events.length === 11)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(c.replies.length, 0, 'no chunk option: no reply')
  c.sock.destroy()
  await rx.close()
})

t.test('malformed, oversized and gzip-bomb frames close only their own connection', async t => {
  const telemetry = quietTelemetry()
  const rx = await startReceiver({ max_frame_size: 64 * 1024, max_decompressed_size: 256 * 1024 }, telemetry)
  const live = await connect(rx.port)
  live.sock.write(encode(['live', [[1, { n: 0 }]], { chunk: 'a0' }]))
  await rx.sink.waitFor(1)

  const bad = await connect(rx.port)
  bad.sock.write(Buffer.from([0x93, 0xa1, 0x74, 0xc1, 0x00]))
  await bad.closed
  t.pass('malformed msgpack: connection closed')

  const big = await connect(rx.port)
  big.sock.write(encode(['big', [[1, { blob: 'x'.repeat(100 * 1024) }]]]))
  await big.closed
  t.pass('oversized frame: connection closed')

  const bomb = await connect(rx.port)
  const inflated = Buffer.concat(Array.from({ length: 1000 }, () => encode([1, { z: '0'.repeat(1000) }])))
  bomb.sock.write(encode(['bomb', gzipSync(inflated), { compressed: 'gzip', chunk: 'b' }]))
  await bomb.closed
  t.pass('gzip payload inflating past max_decompressed_size: connection closed')
  t.equal(bomb.replies.length, 0, 'and not acked')

  const skipped = await connect(rx.port)
  skipped.sock.write(encode(['x', 'not a forward message', 1, 2, 3]))
  skipped.sock.write(encode(['ok', [[1, { fine: true }], ['bad entry'], [2, 'bad record']], { chunk: 'k' }]))
  await waitFor(() => skipped.replies.length > 0)
  t.ok(!skipped.sock.destroyed, 'an invalid message is skipped, the connection carries on')
  t.equal(rx.sink.events.at(-1)?.record.fine, true, 'the good entry of a partly bad chunk is delivered')

  live.sock.write(encode(['live', [[2, { n: 1 }]], { chunk: 'a1' }]))
  await rx.sink.waitFor(3)
  t.same(rx.sink.events.filter(e => e.tag === 'live').map(e => e.record.n), [0, 1], 'the live connection was never disturbed')
  t.ok(await waitFor(() => Buffer.concat(live.replies).includes(Buffer.from('a1'))), 'and got its acks')
  const c = telemetry.counters
  t.equal(c.get('forward_connection_errors_total', { code: 'FWD_MALFORMED' }), 1, 'FWD_MALFORMED counted')
  t.equal(c.get('forward_connection_errors_total', { code: 'FWD_FRAME_TOO_LARGE' }), 1, 'FWD_FRAME_TOO_LARGE counted')
  t.equal(c.get('forward_connection_errors_total', { code: 'FWD_DECOMPRESSED_TOO_LARGE' }), 1, 'FWD_DECOMPRESSED_TOO_LARGE counted')
  t.equal(c.get('forward_frames_skipped_total', { code: 'FWD_BAD_MESSAGE' }), 1, 'FWD_BAD_MESSAGE counted')
  t.equal(c.get('records_dropped_total', { reason: 'bad_entry' }), 2, 'bad entries counted as drops with a reason')
  live.sock.destroy(); skipped.sock.destroy()
  await rx.close()
})

t.test('empty heartbeat connections and nil health checks are harmless', async t => {
  const rx = await startReceiver()
  for (let i = 0; i < 20; i++) { const c = await connect(rx.port); c.sock.end(); await c.closed }
  const c = await connect(rx.port)
  c.sock.write(Buffer.from([0xc0, 0xc0]))
  c.sock.write(encode(['after', [[1, { ok: 1 }]]]))
  await rx.sink.waitFor(1)
  t.equal(rx.sink.events[0].tag, 'after')
  c.sock.destroy()
  await rx.close()
})

t.test('max_connections and idle_timeout', async t => {
  const telemetry = quietTelemetry()
  const rx = await startReceiver({ max_connections: 2, idle_timeout: 200 }, telemetry)
  const a = await connect(rx.port)
  const b = await connect(rx.port)
  const c = await connect(rx.port)
  await c.closed
  t.equal(telemetry.counters.get('forward_connections_refused_total', { code: 'FWD_TOO_MANY_CONNECTIONS' }), 1, 'third connection refused and counted')
  await Promise.all([a.closed, b.closed])
  t.equal(telemetry.counters.get('forward_connection_errors_total', { code: 'FWD_IDLE_TIMEOUT' }), 2, 'idle connections closed')
  await rx.close()
})

t.test('frame_timeout: a sender that trickles one frame slower than idle_timeout is closed; others carry on', async t => {
  const telemetry = quietTelemetry()
  const rx = await startReceiver({ idle_timeout: 1000, frame_timeout: 400 }, telemetry)
  const slow = await connect(rx.port)
  const frame = encode(['slow', [[1, { log: 'x'.repeat(100) }]]])
  let i = 0
  const drip = setInterval(() => { if (i < frame.length - 1) slow.sock.write(frame.subarray(i, ++i)) }, 50) // one byte per 50 ms: never idle
  const good = await connect(rx.port)
  good.sock.write(encode(['good', [[1, { ok: 1 }]]]))
  await rx.sink.waitFor(1)
  await slow.closed
  clearInterval(drip)
  t.equal(telemetry.counters.get('forward_connection_errors_total', { code: 'FWD_FRAME_TIMEOUT' }), 1, 'the slow sender was closed with FWD_FRAME_TIMEOUT')
  t.same(rx.sink.events.map(e => e.tag), ['good'], 'the other connection was served')
  // a steady stream of whole frames in many small reads is not a slow sender
  const steady = await connect(rx.port)
  for (let k = 0; k < 12; k++) {
    const f = encode(['steady', [[1, { k }]]])
    steady.sock.write(f.subarray(0, 5)); await new Promise(resolve => setTimeout(resolve, 30))
    steady.sock.write(f.subarray(5)); await new Promise(resolve => setTimeout(resolve, 30))
  }
  await rx.sink.waitFor(13)
  t.equal(telemetry.counters.get('forward_connection_errors_total', { code: 'FWD_FRAME_TIMEOUT' }), 1, 'frames that complete keep the connection open')
  steady.sock.destroy()
  good.sock.destroy()
  await rx.close()
})
