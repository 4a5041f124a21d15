/**
 * Secure forward and TLS with real peers: @fluent-org/logger's client and
 * server implement the HELO/PING/PONG handshake independently of ours.
 */
import t from 'tap'
import net from 'node:net'
import { FluentClient, FluentServer } from '@fluent-org/logger'
import { decode, encode } from '../../plugin/forward/codec.js'
import { FrameDecoder } from '../../plugin/forward/decoder.js'
import { createPing } from '../../plugin/forward/handshake.js'
import { readHelo } from '../../plugin/forward/protocol.js'
import { quietTelemetry } from '../../plugin/events.js'
import { startReceiver, startSidecar } from '../helpers/sidecar.js'
import { makePki } from '../helpers/tls.js'

const security = { shared_key: 's3cr3t', self_hostname: 'fa-test', users: [{ username: 'alice', password: 'wonderland' }] }

/** Connect, answer HELO with a PING made from these credentials, return what the server did. */
async function handshake (port: number, key: string, user: string, password: string): Promise<{ frames: unknown[], closed: boolean }> {
  const sock = net.connect({ host: '127.0.0.1', port })
  const d = new FrameDecoder(1 << 16)
  const frames: unknown[] = []
  let closed = false
  await new Promise<void>(resolve => {
    sock.on('data', data => {
      d.push(data)
      for (let r = d.next(); r.kind === 'frame'; r = d.next()) {
        if (frames.length === 0) {
          const helo = readHelo(r.bytes)
          if (helo === undefined) throw new Error('no HELO')
          sock.write(createPing({ sharedKey: key, selfHostname: 'raw-client', username: user, password }, helo.nonce, helo.auth).frame)
        }
        frames.push(decode(r.bytes))
        if (frames.length === 2) setTimeout(resolve, 100)
      }
    })
    sock.on('close', () => { closed = true; resolve() })
    sock.on('error', () => {})
  })
  sock.destroy()
  return { frames, closed }
}

t.test('FluentClient with shared_key + user → sidecar requiring both → downstream', async t => {
  const rx = await startReceiver()
  const sc = await startSidecar(rx.port, { input: { security } })
  const client = new FluentClient('sec', {
    socket: { host: '127.0.0.1', port: sc.port },
    security: { clientHostname: 'logger-client', sharedKey: 's3cr3t', username: 'alice', password: 'wonderland' },
    ack: { ackTimeout: 10_000 },
  })
  await Promise.all(Array.from({ length: 50 }, (_, i) => client.emit('x', { i })))
  await rx.sink.waitFor(50)
  t.equal(rx.sink.events.length, 50, 'all records through the authenticated connection')
  t.equal(sc.telemetry.counters.get('forward_handshakes_total', { result: 'ok' }), 1, 'one handshake')
  await client.disconnect()
  await sc.stop()
  await rx.close()
})

t.test('wrong shared key: closed without PONG; wrong password: PONG false then closed; other connections unharmed', async t => {
  const rx = await startReceiver()
  const sc = await startSidecar(rx.port, { input: { security } })
  // A good client stays connected throughout.
  const good = new FluentClient('good', { socket: { host: '127.0.0.1', port: sc.port }, security: { clientHostname: 'good', sharedKey: 's3cr3t', username: 'alice', password: 'wonderland' }, ack: { ackTimeout: 10_000 } })
  await good.emit('a', { n: 1 })

  const badKey = await handshake(sc.port, 'wrong-key', 'alice', 'wonderland')
  t.equal(badKey.frames.length, 1, 'only the HELO was sent')
  t.ok(badKey.closed, 'connection closed')

  const badPass = await handshake(sc.port, 's3cr3t', 'alice', 'WRONG')
  t.same(badPass.frames[1], ['PONG', false, 'username/password mismatch', '', ''], 'PONG false, as Fluent Bit in_forward replies')
  t.ok(badPass.closed, 'connection closed')

  const ok = await handshake(sc.port, 's3cr3t', 'alice', 'wonderland')
  t.match(ok.frames[1], ['PONG', true, '', 'fa-test', /^[0-9a-f]{128}$/], 'right credentials: PONG true with the server digest')

  await good.emit('a', { n: 2 })
  await rx.sink.waitFor(2)
  t.same(rx.sink.events.map(e => e.record.n), [1, 2], 'the good connection carried on')
  t.equal(sc.telemetry.counters.get('forward_handshakes_total', { result: 'refused' }), 2, 'two refusals counted')
  await good.disconnect()
  await sc.stop()
  await rx.close()
})

t.test('sidecar output authenticates to a FluentServer (another implementation) with shared_key + user', async t => {
  const server = new FluentServer({ listenOptions: { host: '127.0.0.1', port: 0 }, security: { serverHostname: 'logger-server', sharedKey: 'down-key', authorize: true, userDict: { bob: 'builder' } } })
  const got: unknown[] = []
  server.on('entry', (_tag: string, _time: unknown, record: unknown) => got.push(record))
  await server.listen()
  const sc = await startSidecar(server.port as number, { output: { security: { shared_key: 'down-key', username: 'bob', password: 'builder' } } })
  const client = new FluentClient('up', { socket: { host: '127.0.0.1', port: sc.port }, ack: { ackTimeout: 10_000 } })
  await Promise.all(Array.from({ length: 20 }, (_, i) => client.emit('x', { i })))
  t.equal(got.length, 20, 'acked upstream only after the authenticated downstream acked')
  await client.disconnect()
  await sc.stop()
  await server.close()
})

t.test('sidecar output with the wrong downstream key: nothing is acked upstream, the error is counted', async t => {
  const server = new FluentServer({ listenOptions: { host: '127.0.0.1', port: 0 }, security: { serverHostname: 'logger-server', sharedKey: 'down-key', authorize: false, userDict: {} } })
  await server.listen()
  const telemetry = quietTelemetry()
  const sc = await startSidecar(server.port as number, { output: { security: { shared_key: 'not-the-key' } } }, telemetry)
  // A raw sender (one chunk with an ack request) so nothing of a client library outlives the test.
  const sock = net.connect({ host: '127.0.0.1', port: sc.port })
  sock.on('error', () => {})
  const replies: Buffer[] = []
  sock.on('data', d => replies.push(d))
  sock.write(encode(['up.x', [[1700000000, { i: 1 }]], { chunk: 'never-acked' }]))
  await new Promise(resolve => setTimeout(resolve, 800))
  t.equal(replies.length, 0, 'upstream sees no ack (it will retry), rather than a false ack')
  sock.destroy()
  t.ok(telemetry.counters.get('output_errors_total', { code: 'OUT_HANDSHAKE' }) + telemetry.counters.get('output_errors_total', { code: 'OUT_CONNECT' }) > 0, 'downstream handshake failures counted')
  t.equal(sc.sidecar.pipeline.pending, 1, 'the record is still held, not dropped')
  await sc.stop() // gives up on the undeliverable record after shutdown_grace; its sender would resend it
  await server.close()
})

t.test('TLS in and out: FluentClient over TLS → sidecar (TLS, client cert verified) → TLS receiver', async t => {
  const pki = makePki()
  const rx = await startReceiver({ tls: { enabled: true, cert_file: pki.cert, key_file: pki.key } })
  const sc = await startSidecar(rx.port, {
    input: { tls: { enabled: true, cert_file: pki.cert, key_file: pki.key, ca_file: pki.ca, verify_client: true } },
    output: { tls: { enabled: true, ca_file: pki.ca, servername: 'localhost' } },
  })
  const client = new FluentClient('tls', {
    socket: { host: '127.0.0.1', port: sc.port, tls: { ca: pki.caPem, servername: 'localhost', cert: await import('node:fs').then(f => f.readFileSync(pki.clientCert)), key: await import('node:fs').then(f => f.readFileSync(pki.clientKey)) } },
    ack: { ackTimeout: 10_000 },
  })
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.emit('x', { i })))
  await rx.sink.waitFor(30)
  t.equal(rx.sink.events.length, 30, 'records crossed both TLS hops')
  await client.disconnect()

  // Without a client certificate the sidecar refuses the TLS handshake.
  const tls = await import('node:tls')
  const refused = await new Promise<boolean>(resolve => {
    const s = tls.connect({ host: '127.0.0.1', port: sc.port, ca: pki.caPem, servername: 'localhost' })
    s.on('secureConnect', () => { s.write(Buffer.from([0xc0])) })
    s.on('error', () => resolve(true))
    s.on('close', () => resolve(true))
    s.on('data', () => resolve(false))
  })
  t.ok(refused, 'a client without a certificate is refused')
  await sc.stop()
  await rx.close()
})
