/** The shipped examples parse, validate against the schema, and agree on ports and loop-safe tags. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../../config/load.js'

const ex = (p: string): string => new URL(`../../examples/${p}`, import.meta.url).pathname

t.test('sidecar configs in examples/ validate', async t => {
  const fb = loadConfig(ex('fluent-bit/fluent-anomaly.yaml'))
  t.equal(fb.input.forward.port, 24224)
  t.equal(fb.output.forward.port, 24225)
  const fd = loadConfig(ex('fluentd/fluent-anomaly.yaml'), { FLUENT_ANOMALY_SHARED_KEY: 'k' })
  t.equal(fd.input.forward.security?.shared_key, 'k')
  t.equal(fd.output.forward.retain_metadata, false, 'no v2 metadata towards Fluentd')
})

t.test('the Fluent Bit example scores with the bundled model, and windows close before Fluent Bit gives up on an ack', async t => {
  const fb = loadConfig(ex('fluent-bit/fluent-anomaly.yaml'))
  const def = loadConfig(new URL('../../config/default.yaml', import.meta.url).pathname)
  t.equal(resolve(dirname(ex('fluent-bit/fluent-anomaly.yaml')), fb.model.bundle as string), resolve(dirname(new URL('../../config/default.yaml', import.meta.url).pathname), def.model.bundle as string),
    'the same bundle as config/default.yaml (models/default)')
  t.same(fb.sources.map(s => [s.name, s.match, s.format, s.window.mode]), def.sources.map(s => [s.name, s.match, s.format, s.window.mode]), 'the same sources')
  const classic = readFileSync(ex('fluent-bit/fluent-bit.conf'), 'utf8')
  const io = /net\.io_timeout\s+(\d+)s/.exec(classic)
  const y = parse(readFileSync(ex('fluent-bit/fluent-bit.yaml'), 'utf8')) as { pipeline: { outputs: Array<Record<string, unknown>> } }
  const yio = /^(\d+)s$/.exec(String(y.pipeline.outputs.find(o => o.name === 'forward')?.['net.io_timeout']))
  t.ok(io !== null && yio !== null, 'both Fluent Bit configs set net.io_timeout in seconds')
  // With the disk buffer a chunk is acked once on disk, whatever its windows do; without it the ack waits
  // for the record's window, so a max_age (set in the config: the trained policy may have none) must close it in time.
  for (const [name, c] of [['examples/fluent-bit', fb], ['config/default.yaml', def]] as const) {
    for (const s of c.sources) {
      const age = s.window.max_age
      t.ok(c.buffer.enabled || (typeof age === 'number' && age < Number(io?.[1]) * 1000 && age < Number(yio?.[1]) * 1000),
        `${name} ${s.name}: acked once on disk (buffer on), or windows close (max_age ${String(age)} ms) before net.io_timeout`)
    }
  }
  t.equal(def.buffer.enabled, true, 'config/default.yaml acks once on disk, so the trained windows (hours for HDFS) do not hold the ack')
})

t.test('Fluent Bit YAML and classic configs describe the same loop-safe pipeline', async t => {
  const y = parse(readFileSync(ex('fluent-bit/fluent-bit.yaml'), 'utf8')) as { pipeline: { inputs: Array<Record<string, unknown>>, outputs: Array<Record<string, unknown>> } }
  const out = y.pipeline.outputs.find(o => o.name === 'forward') as Record<string, unknown>
  const back = y.pipeline.inputs.find(i => i.name === 'forward') as Record<string, unknown>
  t.equal(out.port, 24224)
  t.equal(out.require_ack_response, true)
  t.equal(back.port, 24225)
  const prefix = back.tag_prefix as string
  t.notOk(new RegExp('^' + String(out.match).replace('.', '\\.').replace('*', '.*') + '$').test(`${prefix}app.hdfs`), 'the returning tag no longer matches the forward output')
  const classic = readFileSync(ex('fluent-bit/fluent-bit.conf'), 'utf8')
  for (const line of [/Require_ack_response\s+true/, /Port\s+24224/, /Port\s+24225/, /Tag_Prefix\s+scored\./, /net\.io_timeout/]) t.match(classic, line)
})

t.test('Fluentd example forwards with ack and shared_key to 24224 and listens on 24225', async t => {
  const conf = readFileSync(ex('fluentd/fluent.conf'), 'utf8')
  t.match(conf, /require_ack_response true/)
  t.match(conf, /port 24224/)
  t.match(conf, /port 24225/)
  t.match(conf, /shared_key/)
})
