/**
 * What SREs alert on (issue 16), end to end: a bundle made by the trainer
 * (test/worker-pool/tiny-bundle.ts: 5,000 HDFS lines, pretrain; its adapter
 * json carries the `decision` and `normal_templates` the trainer wrote), real
 * ONNX Runtime workers, @fluent-org/logger sending real HDFS lines over a real
 * socket, a Forward receiver downstream.
 *
 * The same lines are sent in phases; between phases the adapter is hot-swapped
 * (registry.install, as the admin upload does) with the same tensors and
 * another `decision.rule`. Windows close only at the flush after each phase
 * (`time: arrival`, no idle or age limit), so every phase cuts the same
 * windows and the model gives them the same scores: only the rule differs.
 * Hand edits of the trainer's json, and only these: `decision.rule`, and once
 * one template taken out of `normal_templates` (chosen from phase 1: one that
 * windows the model scores under the threshold hold), because the tiny model
 * flags every window that holds a truly unseen template here, and the rules
 * must also disagree the other way round. Per window the test checks
 *
 *   is_anomaly = score >= threshold                  (model)
 *              = a template of its first T lines is not in normal_templates (unseen_template)
 *              = either                             (model_or_unseen_template)
 *
 * that top_line is a line of the least common template, and the summary
 * event's rule / unseen_templates / top_templates. new_template must be true
 * on exactly one record: the first line of a template the bundle's parser
 * snapshot does not hold.
 */
import t from 'tap'
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FluentClient } from '@fluent-org/logger'
import { parseConfig } from '../../config/load.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import type { LogEvent } from '../../plugin/pipeline/stage.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { tinyBundle } from '../worker-pool/tiny-bundle.js'
import { startReceiver } from '../helpers/sidecar.js'
import { waitFor } from '../helpers/wait.js'

type Rule = 'model' | 'unseen_template' | 'model_or_unseen_template'
interface Anomaly { score: number, is_anomaly: boolean, threshold: number, window_id: string, template_id: string, template: string, new_template: boolean, top_line: string }

const hdfs = logFormat('hdfs')
const content = (line: string): string => hdfs.parse(line)?.content ?? line
const blocks = (line: string): string[] => line.match(/blk_-?\d+/g) ?? []

t.test('decision rules, top_line and new_template, through hot swaps', async t => {
  const bundle = await mkdtemp(join(tmpdir(), 'fa-decision-'))
  await cp(await tinyBundle(), bundle, { recursive: true })
  const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8'))
  const metaFile = join(bundle, 'adapters', 'hdfs.json')
  const meta = JSON.parse(await readFile(metaFile, 'utf8'))
  t.ok(meta.decision !== undefined && meta.normal_templates !== undefined, `the trainer wrote decision (rule ${meta.decision?.rule}) and normal_templates (${Object.keys(meta.normal_templates ?? {}).length} templates)`)
  const trained = new Map<string, number>(Object.entries(meta.normal_templates))
  const T = Math.min(manifest.sources.hdfs.window.T, manifest.encoder.max_len)
  const withRule = (rule: unknown, m: Record<string, unknown> = meta): Buffer => Buffer.from(JSON.stringify({ ...m, decision: { ...meta.decision, rule } }))
  await writeFile(metaFile, withRule('model'))
  const tensors = await readFile(join(bundle, 'adapters', 'hdfs.safetensors'))

  // Lines the 5,000-line snapshot parses (5,000 to 8,000: later than it, all of known templates),
  // then the first three of a template it lacks. One block per line, so windows share no line.
  const all = (await readFile(join(DATASETS, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')).split('\n')
  const known = all.slice(5000, 8000).filter(l => blocks(l).length === 1)
  const novel = all.slice(8000).filter(l => l.includes('Got exception while serving') && blocks(l).length === 1).slice(0, 3)
  const snapshot = await loadSnapshot(join(bundle, manifest.sources.hdfs.parser.snapshot))
  if (snapshot === null) throw new Error('the bundle has no parser snapshot')
  t.equal(known.filter(l => snapshot.match(content(l)) === null).length, 0, `the snapshot holds the template of each of ${known.length} lines`)
  t.ok(novel.length === 3 && novel.every(l => snapshot.match(content(l)) === null), 'and not that of "Got exception while serving" (a real line from later in the log)')
  const lines = [...known, ...novel]

  const rx = await startReceiver()
  const telemetry = quietTelemetry()
  const config = parseConfig({
    input: { forward: { port: 0 } },
    output: { forward: { port: rx.port, retry_initial: 50 } },
    model: { bundle, threads: 1, watch: false },
    sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window: { time: 'arrival', idle_timeout: 'none', max_age: 'none' } }],
    limits: { shutdown_grace: 5000 },
    admin: { enabled: false },
  })
  const sidecar = await buildSidecar(config, { telemetry })
  const { forward } = await sidecar.start()
  const scoring = sidecar.parts.scoring
  if (scoring === undefined) throw new Error('no scoring configured')
  const client = new FluentClient('app', { socket: { host: '127.0.0.1', port: forward.port }, ack: { ackTimeout: 60_000 }, eventMode: 'PackedForward', flushInterval: 5 })
  t.teardown(async () => { await client.disconnect(); await sidecar.stop(); await rx.close() })

  /** Send every line once (phase n), score every window at the flush; the records and summaries that came back. */
  let sent = 0
  const phase = async (n: number) => {
    const acked = lines.map((log, seq) => client.emit('hdfs', { log, seq, phase: n }))
    sent += lines.length
    t.ok(await waitFor(() => telemetry.counters.get('records_scored_in_total', { source: 'hdfs' }) === sent, 30_000), `phase ${n}: every line is held in its window`)
    await scoring.stage.flush()
    await Promise.all(acked)
    const mine = (e: LogEvent): boolean => e.tag === 'scored.app.hdfs' && e.record.phase === n
    t.ok(await waitFor(() => rx.sink.events.filter(mine).length === lines.length, 30_000), `phase ${n}: every record came back`)
    const records = rx.sink.events.filter(mine).map(e => ({ seq: e.record.seq as number, log: e.record.log as string, a: e.record.anomaly as Anomaly }))
    const windows = new Map<string, typeof records>()
    for (const r of records) windows.set(r.a.window_id, [...(windows.get(r.a.window_id) ?? []), r])
    for (const w of windows.values()) w.sort((x, y) => x.seq - y.seq)
    const flagged = [...windows.keys()].filter(id => windows.get(id)?.[0].a.is_anomaly === true)
    const isMine = (e: LogEvent): boolean => e.tag === 'scored.anomaly.summary' && windows.has(e.record.window_id as string)
    t.ok(await waitFor(() => rx.sink.events.filter(isMine).length === flagged.length, 10_000), `phase ${n}: one summary event per anomalous window (${flagged.length})`)
    const summaries = new Map(rx.sink.events.filter(isMine).map(e => [e.record.window_id as string, e.record]))
    return { records, windows, summaries }
  }

  /** Every window against the rule, the table and the threshold of the adapter live when it was scored. */
  const check = (rule: Rule, { windows, summaries }: Awaited<ReturnType<typeof phase>>, table: ReadonlyMap<string, number> | undefined) => {
    const wrong: string[] = []
    const byKey = new Map<string, boolean>()
    const topByKey = new Map<string, string>()
    const hasTable = table !== undefined
    const share = (id: string): number => table?.get(id) ?? 0
    let unseenOnly = 0
    let modelOnly = 0
    for (const [id, w] of windows) {
      const first = w.slice(0, T)
      const a = first[0].a
      const modelSays = a.score >= a.threshold
      const unseen = hasTable && first.some(r => !table.has(r.a.template_id))
      const expected = rule === 'model' ? modelSays : rule === 'unseen_template' ? unseen : modelSays || unseen
      if (unseen && !modelSays) unseenOnly++
      if (modelSays && !unseen) modelOnly++
      if (w.some(r => r.a.is_anomaly !== expected || r.a.top_line !== a.top_line)) wrong.push(`${id}: is_anomaly ${String(a.is_anomaly)}, score ${a.score} / ${a.threshold}, unseen ${String(unseen)}`)
      byKey.set(blocks(first[0].log)[0], a.is_anomaly)
      topByKey.set(blocks(first[0].log)[0], a.top_line)
      if (hasTable) {
        // top_line: a line of the window's least common template (absent from the table = 0)
        const rarest = Math.min(...first.map(r => share(r.a.template_id)))
        const top = first.filter(r => content(r.log) === a.top_line)
        if (top.length === 0 || !top.some(r => share(r.a.template_id) === rarest)) wrong.push(`${id}: top_line ${JSON.stringify(a.top_line)} is not of its rarest template (share ${rarest})`)
      }
      const s = summaries.get(id)
      if (a.is_anomaly) {
        const unseenTexts = [...new Set(first.filter(r => table?.has(r.a.template_id) === false).map(r => r.a.template))].slice(0, 5)
        if (s?.rule !== rule) wrong.push(`${id}: summary rule ${String(s?.rule)}`)
        else if (hasTable && JSON.stringify(s.unseen_templates) !== JSON.stringify(unseenTexts)) wrong.push(`${id}: summary unseen_templates ${JSON.stringify(s.unseen_templates)}, expected ${JSON.stringify(unseenTexts)}`)
        else if (!hasTable && JSON.stringify(s.unseen_templates) !== '[]') wrong.push(`${id}: no table, yet unseen_templates ${JSON.stringify(s.unseen_templates)}`)
        else if (s.top_line !== a.top_line || (s.top_templates as string[])[0] !== first.find(r => content(r.log) === a.top_line)?.a.template) wrong.push(`${id}: summary top_line / top_templates[0] is not the record's top_line`)
      } else if (s !== undefined) wrong.push(`${id}: a summary for a window not flagged`)
    }
    t.same(wrong.slice(0, 5), [], `rule ${rule}: every one of ${windows.size} windows decided by it, with its top_line and summary (${wrong.length} wrong)`)
    return { byKey, topByKey, unseenOnly, modelOnly }
  }

  // 1. rule model (the trainer chose another on validation: set here by hand), the trained table
  const p1 = await phase(1)
  const m = check('model', p1, trained)
  const fresh = p1.records.filter(r => r.a.new_template)
  t.same(fresh.map(r => r.log), [novel[0]], 'new_template: true on exactly one record, the first line of the template the snapshot lacks')
  t.ok(p1.records.every(r => typeof r.a.new_template === 'boolean'), 'and a boolean on every record')
  t.equal(telemetry.counters.get('new_templates_total', { source: 'hdfs' }), 1, 'new_templates_total{source} counts it')

  // The table edit: one template of a window the model scores under the threshold, held by the fewest windows.
  const held = new Map<string, number>()
  for (const w of p1.windows.values()) for (const id of new Set(w.slice(0, T).map(r => r.a.template_id))) held.set(id, (held.get(id) ?? 0) + 1)
  const low = [...p1.windows.values()].filter(w => w[0].a.score < w[0].a.threshold)
  const candidates = [...new Set(low.flatMap(w => w.slice(0, T).map(r => r.a.template_id)))].filter(id => trained.has(id)).sort((x, y) => (held.get(x) ?? 0) - (held.get(y) ?? 0))
  t.ok(low.length > 0 && candidates.length > 0, `${low.length} windows scored under the threshold, holding ${candidates.length} templates of the table`)
  const table = new Map(trained)
  table.delete(candidates[0])
  const edited = { ...meta, normal_templates: Object.fromEntries(table) }

  // 2. hot swap: unseen_template. Same windows, same scores, the new rule and table.
  const before = scoring.registry.current('hdfs')
  await scoring.registry.install('hdfs', tensors, withRule('unseen_template', edited))
  t.not(scoring.registry.current('hdfs'), before, 'swapped in')
  const p2 = await phase(2)
  const u = check('unseen_template', p2, table)
  const changed = [...u.byKey].filter(([k, v]) => m.byKey.get(k) !== v).length
  t.ok(u.unseenOnly > 0 && u.modelOnly > 0, `the rules disagree both ways: ${u.unseenOnly} windows hold an unseen template with a score under the threshold, ${u.modelOnly} score over it with no unseen template`)
  t.ok(changed > 0, `${changed} of ${u.byKey.size} windows decided otherwise than under rule model`)
  t.equal(p2.records.filter(r => r.a.new_template).length, 0, 'a template learnt since start is new once: no record of phase 2 is new')

  // 3. model_or_unseen_template
  await scoring.registry.install('hdfs', tensors, withRule('model_or_unseen_template', edited))
  const o = check('model_or_unseen_template', await phase(3), table)
  t.ok([...o.byKey].filter(([, v]) => v).length > [...m.byKey].filter(([, v]) => v).length, 'it flags more windows than the model alone')

  // 4. refused: an unknown rule, and a rule on unseen templates without the table. The old adapter stays live.
  const live = scoring.registry.current('hdfs')
  await t.rejects(scoring.registry.install('hdfs', tensors, withRule('always', edited)), { code: 'ADAPTER_METADATA_INVALID', message: /decision\.rule/ })
  const { normal_templates: _, ...noTable } = meta
  await t.rejects(scoring.registry.install('hdfs', tensors, withRule('unseen_template', noTable)), { code: 'ADAPTER_METADATA_INVALID', message: /needs normal_templates/ })
  t.equal(scoring.registry.current('hdfs'), live, 'the previous adapter is still the live one')
  t.equal(telemetry.counters.get('adapter_load_failures_total', { source: 'hdfs', code: 'ADAPTER_METADATA_INVALID' }), 2, 'both refusals counted')
  t.same(JSON.parse(await readFile(metaFile, 'utf8')).decision.rule, 'model_or_unseen_template', 'and its file is untouched')
  check('model_or_unseen_template', await phase(4), table)

  // 5. an adapter json from before issue 16 (neither field): rule model, no table
  const { decision: __, ...old } = noTable
  await scoring.registry.install('hdfs', tensors, Buffer.from(JSON.stringify(old)))
  const p5 = check('model', await phase(5), undefined)
  t.same([...p5.byKey].filter(([k, v]) => m.byKey.get(k) !== v), [], 'the same decisions as rule model with the table')
  const moved = [...p5.topByKey].filter(([k, v]) => m.topByKey.get(k) !== v).length
  t.ok(moved > 0, `top_line by the largest contribution (no table) differs from the rarest template's line in ${moved} of ${p5.topByKey.size} windows`)
})
