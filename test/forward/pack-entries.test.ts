/**
 * The output's spliced entries (plugin/forward/pack-entries.ts): records that
 * carry pre-encoded anomaly fields must decode, for a downstream, exactly as
 * if the enriched record had been built as an object and packed: the same
 * keys in the same order, the same values, for every map-header size and
 * entry form (integer time, EventTime, Fluent Bit metadata kept or dropped),
 * and a record that already has the key gets it replaced, not doubled.
 */
import t from 'tap'
import { decodeMany } from '../../plugin/forward/codec.js'
import { EventTime } from '../../plugin/forward/event-time.js'
import { packEntries } from '../../plugin/forward/pack-entries.js'
import { EnrichmentEncoder, FIELD_NAMES, type AnomalyFields, type EnrichOptions } from '../../plugin/scoring/enrich.js'
import { outputRecord } from '../../plugin/pipeline/enrichment.js'
import { Receipt } from '../../plugin/pipeline/receipt.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'

const fields = (template: string, top: string | undefined): AnomalyFields => ({
  score: 0.912345, is_anomaly: true, threshold: 0.5, window_id: 'hdfs:abc:blk_1#0', window_size: 3,
  template_id: 'a1b2c3d4e5f60718', template, new_template: false, model: 'default', adapter: 'hdfs@2026-11-23', top_line: top,
})

const recordWith = (n: number): Record<string, unknown> => {
  const r: Record<string, unknown> = { log: '081109 203615 148 INFO dfs.DataNode$PacketResponder: Received block blk_1' }
  for (let i = 1; i < n; i++) r[`k${i}`] = i % 3 === 0 ? { nested: [i, 'x'] } : i
  return r
}

/** The reference: the enriched record built as an object (as the sidecar did before it spliced bytes). */
function enrich (record: Record<string, unknown>, fields: AnomalyFields, o: EnrichOptions): Record<string, unknown> {
  const named: Record<string, unknown> = {}
  for (const k of FIELD_NAMES) named[o.names[k] ?? k] = fields[k]
  if (!o.flat) return { ...record, [o.field]: named }
  const out: Record<string, unknown> = { ...record }
  for (const [k, v] of Object.entries(named)) out[`${o.field}.${k}`] = v
  return out
}

/** What the object path gives: the enriched record built and packed by msgpackr. */
function expected (events: LogEvent[], f: AnomalyFields[], o: EnrichOptions, retain: boolean): unknown[] {
  return events.map((e, i) => {
    const rec = enrich(e.record, f[i], o)
    return retain && e.metadata !== undefined ? [[e.time, e.metadata], rec] : [e.time, rec]
  })
}

function spliced (events: LogEvent[], f: AnomalyFields[], o: EnrichOptions, retain: boolean): unknown[] {
  const enc = new EnrichmentEncoder(o)
  for (const [i, e] of events.entries()) {
    const w = enc.window(f[i])
    e.enrichment = enc.record(w, f[i].template_id as string, f[i].template as string)
  }
  return decodeMany(packEntries(events, retain))
}

const keysOf = (entries: unknown[]): string[][] => entries.map(e => Object.keys((e as [unknown, Record<string, unknown>])[1]))

for (const o of [
  { field: 'anomaly', flat: false, names: {} },
  { field: 'anomaly', flat: true, names: {} },
  { field: 'ml', flat: false, names: { score: 'anomaly_score', top_line: 'culprit' } },
] satisfies EnrichOptions[]) {
  t.test(`${o.flat ? 'flat' : 'nested'} fields under "${o.field}"${Object.keys(o.names).length > 0 ? ', renamed' : ''}`, async t => {
    // 1, 6, 15, 16 keys: the record's map header grows from fixmap to map16 when the fields are added
    const sizes = [1, 6, 15, 16, 40]
    const times = [new EventTime(1700000000, 123456789), 1700000001, new EventTime(1700000002, 0)]
    const events: LogEvent[] = []
    const f: AnomalyFields[] = []
    for (const n of sizes) {
      for (const [j, time] of times.entries()) {
        events.push({ tag: 'app.hdfs', time, record: recordWith(n), metadata: j === 2 ? { otlp: { severity: 'INFO' } } : undefined, receipt: new Receipt(1) })
        f.push(fields(`Received block <*> of size <*> from /<*> (${n})`, j === 1 ? undefined : 'the top line, with ünïcode'))
      }
    }
    for (const retain of [true, false]) {
      const want = expected(events, f, o, retain)
      const got = spliced(events.map(e => ({ ...e })), f, o, retain)
      t.same(got, want, `decodes as the packed enriched records (retain_metadata ${String(retain)})`)
      t.same(keysOf(got), keysOf(want), 'with the keys in the same order')
    }
  })
}

t.test('a record that already has the field gets it replaced, once', async t => {
  const o: EnrichOptions = { field: 'anomaly', flat: false, names: {} }
  const e: LogEvent = { tag: 'x', time: 1, record: { log: 'l', anomaly: { score: 0.1, stale: true } }, receipt: new Receipt(1) }
  const f = fields('t', 'top')
  const [entry] = spliced([e], [f], o, true) as Array<[number, Record<string, unknown>]>
  t.same(Object.keys(entry[1]), ['log', 'anomaly'], 'one anomaly key')
  t.same(entry[1].anomaly, enrich({}, f, o).anomaly, 'holding the new fields only')
})

t.test('a chunk mixing enriched and plain records (unscored lines, summaries)', async t => {
  const o: EnrichOptions = { field: 'anomaly', flat: false, names: {} }
  const enc = new EnrichmentEncoder(o)
  const w = enc.window(fields('t', 'top'))
  const events: LogEvent[] = Array.from({ length: 6 }, (_, i) => ({ tag: 'x', time: i, record: { i }, receipt: new Receipt(1) }))
  for (const e of events) if ((e.record.i as number) % 2 === 0) e.enrichment = enc.record(w, 'id', 't')
  const got = decodeMany(packEntries(events, true)) as Array<[number, Record<string, unknown>]>
  t.same(got.map(g => g[1]), events.map(e => outputRecord(e)), 'each as outputRecord gives it')
  t.same(got.map(g => 'anomaly' in g[1]), [true, false, true, false, true, false])
})

t.test('two fields renamed to one name are refused', async t => {
  t.throws(() => new EnrichmentEncoder({ field: 'anomaly', flat: false, names: { score: 'x', template: 'x' } }), /same name/)
})
