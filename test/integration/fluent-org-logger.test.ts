/**
 * Real peers on both ends: @fluent-org/logger's FluentClient sends to the
 * sidecar, and its FluentServer (a Forward receiver written by another team)
 * receives what the sidecar re-emits.
 */
import t from 'tap'
import { FluentClient, FluentServer, EventTime as LoggerEventTime } from '@fluent-org/logger'
import { startSidecar } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'

type Got = { tag: string, time: unknown, record: Record<string, unknown> }

async function downstream (): Promise<{ server: FluentServer, got: Got[], port: number }> {
  const server = new FluentServer({ listenOptions: { host: '127.0.0.1', port: 0 } })
  const got: Got[] = []
  server.on('entry', (tag: string, time: unknown, record: Record<string, unknown>) => got.push({ tag, time, record }))
  await server.listen()
  return { server, got, port: server.port as number }
}

for (const eventMode of ['Message', 'Forward', 'PackedForward', 'CompressedPackedForward'] as const) {
  t.test(`@fluent-org/logger ${eventMode} with ack → sidecar → FluentServer, count for count`, async t => {
    const ds = await downstream()
    const sc = await startSidecar(ds.port)
    const client = new FluentClient('app', {
      eventMode,
      socket: { host: '127.0.0.1', port: sc.port, disableReconnect: false },
      ack: { ackTimeout: 10_000 },
      flushInterval: 5,
    })
    const N = 500
    const sends: Promise<void>[] = []
    for (let i = 0; i < N; i++) {
      sends.push(client.emit('hdfs', { seq: i, message: `081109 203615 148 INFO dfs.DataNode$PacketResponder: line ${i}` }, new LoggerEventTime(1700000000 + i, 123456789)))
    }
    await Promise.all(sends) // every emit resolved: the sidecar acked every chunk
    t.ok(await waitFor(() => ds.got.length >= N, 15_000), 'all records arrived downstream')
    t.equal(ds.got.length, N, 'every record arrived downstream exactly once')
    const seqs = ds.got.map(g => g.record.seq as number).sort((a, b) => a - b)
    t.same(seqs, Array.from({ length: N }, (_, i) => i), 'no loss, no duplicates')
    t.equal(ds.got[0].tag, 'scored.app.hdfs', 'tag rewritten with the prefix')
    const first = ds.got.find(g => g.record.seq === 7) as Got
    t.match(first.time, { epoch: 1700000007, nano: 123456789 }, 'EventTime kept to the nanosecond')
    await client.disconnect()
    await sc.stop()
    await ds.server.close()
  })
}
