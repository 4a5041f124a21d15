/**
 * Conformance against real peers' bytes: every capture in
 * ../shared/fixtures/forward-captures (Fluent Bit 5.1.1 and Fluentd 1.18
 * out_forward) is replayed over a real TCP socket into the Forward server.
 * Checked per connection: tag, time (sec and nsec, or integer), metadata and
 * record of every entry; the exact ack bytes the real receiver wrote; the
 * PONG of the secure-forward handshake; refusals as real Fluent Bit refuses.
 * Then the first connection of each mode again, split at every byte.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import { EventTime } from '../../plugin/forward/event-time.js'
import { decode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { createHelo } from '../../plugin/forward/handshake.js'
import { encodeAck, readHelo } from '../../plugin/forward/protocol.js'
import { listModes, loadCapture, type Capture, type CaptureConn } from '../helpers/captures.js'
import { startReceiver } from '../helpers/sidecar.js'

const frames = (bytes: Buffer): Buffer[] => {
  const d = new FrameDecoder(1 << 20)
  d.push(bytes)
  const out: Buffer[] = []
  for (let r = d.next(); r.kind === 'frame'; r = d.next()) out.push(r.bytes)
  return out
}

const timeString = (t: EventTime | number): string | number => t instanceof EventTime ? t.toString() : t

interface Outcome { reply: Buffer, closedByServer: boolean }

/** Send `parts` over one connection (pausing between them), collect the reply. */
async function replay (port: number, parts: Buffer[], done: (reply: Buffer) => boolean, settleMs = 20): Promise<Outcome> {
  const sock = net.connect({ host: '127.0.0.1', port })
  sock.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  const chunks: Buffer[] = []
  let closedByServer = false
  const closed = new Promise<void>(resolve => sock.once('close', () => { closedByServer = true; resolve() }))
  sock.on('data', d => chunks.push(d))
  sock.on('error', () => {})
  for (const p of parts) {
    await new Promise<void>(resolve => sock.write(p, () => resolve()))
    if (parts.length > 1) await new Promise(resolve => setTimeout(resolve, 1)) // let the server read this part on its own
  }
  const t0 = Date.now()
  while (!closedByServer && !done(Buffer.concat(chunks)) && Date.now() - t0 < 5000) {
    await Promise.race([closed, new Promise(resolve => setTimeout(resolve, 5))])
  }
  if (!closedByServer) { await new Promise(resolve => setTimeout(resolve, settleMs)); sock.end(); await Promise.race([closed, new Promise(resolve => setTimeout(resolve, 200))]); closedByServer = false }
  return { reply: Buffer.concat(chunks), closedByServer }
}

const secure = (c: Capture): boolean => c.conns.some(x => x.c2s.subarray(0, 6).includes(Buffer.from('PING')))

function serverConfig (c: Capture, conn: CaptureConn): Record<string, unknown> {
  if (!secure(c) || conn.s2c === undefined) return {}
  const [, pong] = frames(conn.s2c)
  const pongHost = pong === undefined ? '' : (decode(pong) as unknown[])[3] as string
  const users = /Username/.test(c.senderOptions) ? [{ username: 'alice', password: 'wonderland' }] : []
  return { security: { shared_key: 's3cr3t', self_hostname: pongHost === '' ? 'fb-receiver' : pongHost, users } }
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>

/** A receiver configured like the real one of this capture, answering with the recorded HELO. */
async function receiverFor (c: Capture, conn: CaptureConn): Promise<Receiver> {
  const heloFrame = conn.s2c !== undefined && secure(c) ? frames(conn.s2c)[0] : undefined
  const helo = heloFrame === undefined ? undefined : readHelo(heloFrame)
  return startReceiver(serverConfig(c, conn), undefined, helo === undefined ? {} : { helo: () => createHelo(Buffer.from(helo.nonce), Buffer.from(helo.auth ?? Buffer.alloc(16))) })
}

async function check (t: Test, c: Capture, conn: CaptureConn, split?: number, shared?: Receiver): Promise<void> {
  const heloFrame = conn.s2c !== undefined && secure(c) ? frames(conn.s2c)[0] : undefined
  const helo = heloFrame === undefined ? undefined : readHelo(heloFrame)
  const rx = shared ?? await receiverFor(c, conn)
  rx.sink.events.length = 0
  const parts = split === undefined ? [conn.c2s] : [conn.c2s.subarray(0, split), conn.c2s.subarray(split)]
  const realFrames = conn.s2c === undefined ? [] : frames(conn.s2c)
  const expectAcks = conn.chunks.map(ch => encodeAck(ch))
  const at = split === undefined ? '' : ` (split at byte ${split})`
  const n = conn.messages.reduce((a, m) => a + m.total, 0) + (conn.truncated?.times.length ?? 0)
  const refused = c.mode === 'badkey' || c.mode === 'badpass' // wait for the server to close
  const out = await replay(rx.port, parts, reply => !refused && rx.sink.events.length >= n && frames(reply).length >= (secure(c) ? 2 : 0) + expectAcks.length, shared === undefined ? 20 : 0)
  const got = [...rx.sink.events]
  if (shared === undefined) await rx.close()

  if (c.mode === 'badkey') {
    t.equal(frames(out.reply).length, 1, `badkey: only HELO sent, no PONG${at}`)
    t.ok(out.closedByServer, `badkey: connection closed${at}`)
    t.equal(got.length, 0, `badkey: nothing accepted${at}`)
    return
  }
  if (c.mode === 'badpass') {
    const ours = frames(out.reply)
    t.same(decode(ours[1]), decode(realFrames[1]), `badpass: same PONG as Fluent Bit: ${JSON.stringify(decode(realFrames[1]))}${at}`)
    t.ok(out.closedByServer, `badpass: connection closed${at}`)
    t.equal(got.length, 0, `badpass: nothing accepted${at}`)
    return
  }
  // entries
  if (conn.truncated !== undefined) {
    t.ok(got.length >= conn.truncated.times.length, `${got.length} entries over the keepalive connection${at}`)
    const times = new Set(got.map(e => timeString(e.time)))
    t.ok(conn.truncated.times.every(x => times.has(x)), `every recorded time delivered${at}`)
    t.ok(got.every(e => e.tag === conn.truncated?.tag), `tags${at}`)
  } else {
    t.equal(got.length, n, `${n} entries delivered${at}`)
    // decoded.txt lists at most 3 inner entries of a packed message: compare those.
    const shown = conn.messages.flatMap((m, i) => {
      const start = conn.messages.slice(0, i).reduce((a, x) => a + x.total, 0)
      return got.slice(start, start + m.listed.length)
    })
    t.same(got.map(e => e.tag), conn.messages.flatMap(m => Array(m.total).fill(m.tag)), `tags${at}`)
    t.same(shown.map(e => timeString(e.time)), conn.entries.map(e => e.time), `times to the nanosecond${at}`)
    t.same(shown.map(e => e.metadata), conn.entries.map(e => e.metadata), `metadata${at}`)
    t.same(shown.map(e => e.record), conn.entries.map(e => e.record), `records${at}`)
  }
  // replies
  const ours = frames(out.reply)
  if (secure(c)) {
    t.same(readHelo(ours[0])?.nonce, helo?.nonce, `HELO carries the nonce${at}`)
    t.same(decode(ours[1]), decode(realFrames[1]), `PONG equals the real receiver's (mutual-auth digest)${at}`)
    ours.splice(0, 2)
    realFrames.splice(0, 2)
  }
  t.same(ours.map(f => f.toString('hex')), expectAcks.map(a => a.toString('hex')), `ack bytes for every chunk${at}`)
  if (realFrames.length > 0) t.same(ours.map(f => f.toString('hex')), realFrames.map(f => f.toString('hex')), `byte-identical to what ${c.mode.startsWith('fd_') ? 'Fluentd' : 'Fluent Bit'} in_forward replied${at}`)
}

for (const mode of listModes()) {
  const c = loadCapture(mode)
  t.test(`capture ${mode}: ${c.senderOptions.slice(0, 90)}`, async t => {
    for (const conn of c.conns) await t.test(conn.name, t => check(t, c, conn))
  })
}

// Split every capture mode's first connection at every byte.
t.test('every capture mode, first connection split at every byte', async t => {
  for (const mode of listModes()) {
    const c = loadCapture(mode)
    const conn = c.conns.find(x => x.entries.length > 0 || x.truncated !== undefined) ?? c.conns[0]
    await t.test(`${mode} ${conn.name} (${conn.c2s.length} bytes)`, async t => {
      const rx = await receiverFor(c, conn)
      for (let k = 1; k < conn.c2s.length; k++) await check(t, c, conn, k, rx)
      await rx.close()
    })
  }
})
