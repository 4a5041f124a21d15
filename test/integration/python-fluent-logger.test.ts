/**
 * Debian's python3-fluent-logger sends to the sidecar (Message mode, with
 * EventTime); what reaches the downstream matches what was sent, count for
 * count. `.ci/run` installs python3-fluent-logger.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { EventTime } from '../../plugin/forward/event-time.js'
import { startReceiver, startSidecar } from '../helpers/sidecar.js'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../fixtures/py-fluent-sender.py', import.meta.url))

for (const mode of ['noack', 'ack'] as const) {
  t.test(`python3-fluent-logger (${mode}) → sidecar → downstream`, async t => {
    const rx = await startReceiver()
    const sc = await startSidecar(rx.port)
    const N = 300
    const { stdout } = await run('/usr/bin/python3', [script, '127.0.0.1', String(sc.port), String(N), mode], { timeout: 60_000 })
    t.same(JSON.parse(stdout), { sent: N, acked: mode === 'ack' ? N : 0 }, mode === 'ack' ? 'every record acked by the sidecar' : 'every record sent')
    await rx.sink.waitFor(N)
    const got = rx.sink.events
    t.equal(got.length, N, 'count for count downstream')
    t.same(got.map(e => e.record.seq), Array.from({ length: N }, (_, i) => i), 'in order, no loss, no duplicates')
    t.equal(got[0].tag, 'scored.py.test', 'tag rewritten')
    t.same(got[3].record, { seq: 3, message: 'python line 3', utf8: 'héllo' }, 'record intact (UTF-8 too)')
    t.ok(got[3].time instanceof EventTime && got[3].time.sec === 1700000003 && got[3].time.nsec === 250_000_000, 'EventTime seconds and nanoseconds kept')
    await sc.stop()
    await rx.close()
  })
}
