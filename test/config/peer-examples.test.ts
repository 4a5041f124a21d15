/**
 * The peers downstream of the sidecar: examples/elasticsearch (index templates
 * and the Fluent Bit es outputs), examples/grafana (alert rules, data
 * sources) and examples/kibana (an Elasticsearch query rule).
 *
 * 1. Each file against the schema its consumer documents (Elasticsearch
 *    `PUT _index_template`, Grafana alerting file provisioning, Kibana
 *    `POST /api/alerting/rule` with the `.es-query` rule type's params).
 * 2. The real thing: the sidecar from config/default.yaml with the bundled
 *    model scores real HDFS and BGL lines sent by @fluent-org/logger, and
 *    @fluent-org/logger's FluentServer receives what comes back:
 *
 *      HDFS_2pct.log, BGL_2k.log ──FluentClient──▶ sidecar ──Forward──▶ FluentServer
 *                                                     │                   └─ records, summary events
 *                                                     └─ GET /metrics
 *
 *    Each received record, as the es output would index it (+ @timestamp,
 *    + tag), must fit the index template: every field the sidecar adds is
 *    mapped, with a type its value can be indexed as, and every mapped field
 *    is emitted. The alert queries run over those documents must pick out
 *    exactly the anomalous ones; the Prometheus rules must name metrics and
 *    labels the sidecar exports.
 */
import t from 'tap'
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { FluentClient, FluentServer, EventTime as LoggerEventTime } from '@fluent-org/logger'
import { pack } from 'msgpackr'
import { request } from 'undici'
import { parse } from 'yaml'
import { loadConfig } from '../../config/load.js'
import type { Config } from '../../config/schema.js'
import { quietTelemetry } from '../../plugin/events.js'
import { buildSidecar } from '../../plugin/index.js'
import { loadSnapshot } from '../../plugin/mining/snapshot.js'
import { logFormat } from '../../plugin/prepare/formats.js'
import { EnrichmentEncoder, FIELD_NAMES } from '../../plugin/scoring/enrich.js'
import { outputRecord } from '../../plugin/pipeline/enrichment.js'
import { DATASETS } from '../../bench/lib/datasets.js'
import { waitFor } from '../helpers/wait.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ex = (p: string): string => join(root, 'examples', p)
const json = (p: string): any => JSON.parse(readFileSync(ex(p), 'utf8'))
const yaml = (p: string): any => parse(readFileSync(ex(p), 'utf8'))

// ---------------------------------------------------------------------------
// Index templates: mappings as data
// ---------------------------------------------------------------------------

interface Mapping { type?: string, properties?: Record<string, Mapping>, fields?: Record<string, Mapping>, scaling_factor?: number, format?: string, ignore_above?: number }

const recordsTemplate = json('elasticsearch/index-template.json')
const summaryTemplate = json('elasticsearch/summary-index-template.json')

/** Every leaf field by dotted path (multi-fields as path.sub), as Elasticsearch names them. */
function leaves (props: Record<string, Mapping>, prefix = ''): Map<string, Mapping> {
  const out = new Map<string, Mapping>()
  for (const [k, m] of Object.entries(props)) {
    const path = prefix + k
    if (m.properties !== undefined) { for (const [p, l] of leaves(m.properties, path + '.')) out.set(p, l); continue }
    out.set(path, m)
    for (const [sub, sm] of Object.entries(m.fields ?? {})) out.set(`${path}.${sub}`, sm)
  }
  return out
}

const recordFields = leaves(recordsTemplate.template.mappings.properties)
const summaryFields = leaves(summaryTemplate.template.mappings.properties)
const AGGREGATABLE = new Set(['keyword', 'boolean', 'date', 'date_nanos', 'integer', 'long', 'short', 'float', 'double', 'scaled_float'])

/** Why `value` cannot be indexed as `m` without loss or coercion; undefined when it can. */
function misfit (value: unknown, m: Mapping): string | undefined {
  const vs = Array.isArray(value) ? value : [value] // Elasticsearch indexes arrays element by element
  for (const v of vs) {
    if (v === null || v === undefined) return 'no value'
    switch (m.type) {
      case 'keyword':
        if (typeof v !== 'string') return `${typeof v}, not a string`
        if (m.ignore_above !== undefined && v.length > m.ignore_above) return `longer than ignore_above ${m.ignore_above}`
        break
      case 'text': if (typeof v !== 'string') return `${typeof v}, not a string`; break
      case 'boolean': if (typeof v !== 'boolean') return `${typeof v}, not a boolean`; break
      case 'integer': if (!Number.isInteger(v) || Math.abs(v as number) > 2 ** 31 - 1) return `${String(v)} is not a 32-bit integer`; break
      case 'float': if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > 3.4e38) return `${String(v)} is not a finite float`; break
      case 'scaled_float': {
        if (typeof v !== 'number' || !Number.isFinite(v)) return `${String(v)} is not a finite number`
        const scaled = v * (m.scaling_factor as number)
        if (Math.abs(scaled - Math.round(scaled)) > 1e-6) return `${v} loses digits at scaling_factor ${m.scaling_factor}`
        break
      }
      case 'date':
        if (m.format === 'epoch_second') { if (typeof v !== 'number' || v < 0) return `${String(v)} is not seconds since the epoch`; break }
        if (m.format !== undefined) return `format ${m.format} not checked here`
        if (!(typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) && !(Number.isInteger(v) && (v as number) >= 0)) return `${String(v)} is neither strict_date_optional_time nor epoch_millis`
        break
      default: return `type ${m.type} not checked here`
    }
  }
  return undefined
}

/** Dotted leaf paths of a document; arrays of scalars are one leaf. */
function docLeaves (doc: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const [k, v] of Object.entries(doc)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [p, x] of docLeaves(v as Record<string, unknown>, `${prefix}${k}.`)) out.set(p, x)
    else out.set(prefix + k, v)
  }
  return out
}

const get = (doc: Record<string, unknown>, path: string): unknown => docLeaves(doc).get(path)

/**
 * Documents against a template's mapped fields, over the leaves `checked` picks:
 * leaves without a mapping, values their mapping cannot index (the first 10),
 * and mapped fields (but `.keyword` sub-fields) that no document carries.
 */
function checkAgainst (docs: ReadonlyArray<Record<string, unknown>>, fields: Map<string, Mapping>, checked: (path: string) => boolean): { unmapped: string[], misfits: string[], notEmitted: string[] } {
  const unmapped = new Set<string>()
  const seen = new Set<string>()
  const misfits: string[] = []
  for (const doc of docs) {
    for (const [path, v] of docLeaves(doc)) {
      if (!checked(path)) continue
      const m = fields.get(path)
      if (m === undefined) { unmapped.add(path); continue }
      seen.add(path)
      const why = misfit(v, m)
      if (why !== undefined) misfits.push(`${path} = ${JSON.stringify(v)}: ${why}`)
    }
  }
  return { unmapped: [...unmapped], misfits: misfits.slice(0, 10), notEmitted: [...fields.keys()].filter(p => !p.endsWith('.keyword') && !seen.has(p)) }
}

/** A glob as Elasticsearch index patterns and Fluent Bit `Match` use it (`*` only). */
const glob = (pattern: string): RegExp => new RegExp('^' + pattern.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')

t.test('index templates: the composable template body Elasticsearch documents', async t => {
  const BODY_KEYS = ['index_patterns', 'template', 'composed_of', 'priority', 'version', '_meta', 'data_stream', 'allow_auto_create', 'ignore_missing_component_templates', 'deprecated']
  const TYPES = new Set(['keyword', 'text', 'boolean', 'integer', 'float', 'scaled_float', 'date'])
  for (const [name, tpl, fields] of [['records', recordsTemplate, recordFields], ['summary', summaryTemplate, summaryFields]] as const) {
    t.same(Object.keys(tpl).filter(k => !BODY_KEYS.includes(k)), [], `${name}: only PUT _index_template body keys`)
    t.ok(Array.isArray(tpl.index_patterns) && tpl.index_patterns.length > 0, `${name}: index_patterns`)
    t.ok(Number.isInteger(tpl.priority) && tpl.priority > 100, `${name}: priority above the built-in logs-*-* / metrics-*-* templates (100)`)
    t.notOk('data_stream' in tpl, `${name}: plain daily indices, as Logstash_Format writes them (no data stream)`)
    t.same(Object.keys(tpl.template).filter(k => !['settings', 'mappings', 'aliases', 'lifecycle'].includes(k)), [], `${name}: template holds settings / mappings / aliases only`)
    for (const [path, m] of fields) {
      t.ok(TYPES.has(m.type as string), `${name}: ${path} has a known type (${m.type})`)
      if (m.type === 'scaled_float') t.ok((m.scaling_factor ?? 0) > 0, `${name}: ${path} scaled_float needs scaling_factor`)
    }
    t.equal(fields.get('@timestamp')?.type, 'date', `${name}: @timestamp (the es outputs' Time_Key) is a date`)
    t.equal(fields.get('tag')?.type, 'keyword', `${name}: tag (Include_Tag_Key) is a keyword, so rules can group by it`)
  }
  // Two templates with the same priority must not both match one index (Elasticsearch refuses the second PUT).
  const sample = (p: string): string => p.replace('*', '2026.11.23')
  for (const a of [recordsTemplate, summaryTemplate]) {
    for (const b of [recordsTemplate, summaryTemplate]) {
      if (a === b) continue
      for (const p of a.index_patterns) t.notOk(b.index_patterns.some((q: string) => glob(q).test(sample(p))), `${sample(p)} matches only its own template`)
    }
  }
  for (const p of [...recordsTemplate.index_patterns, ...summaryTemplate.index_patterns]) t.notOk(glob('logs-*-*').test(sample(p)), `${p} is not taken by the built-in logs-*-* data streams`)

  // The anomaly map: exactly the fields the sidecar writes, so a new field without a mapping fails here.
  t.same(Object.keys(recordsTemplate.template.mappings.properties.anomaly.properties).sort(), [...FIELD_NAMES].sort(), 'anomaly.* maps exactly FIELD_NAMES (plugin/scoring/enrich.ts)')
  // enrich.flat writes "anomaly.score" keys: Elasticsearch expands the dots to the same paths.
  const fields = Object.fromEntries(FIELD_NAMES.map(f => [f, 1]))
  const encoder = new EnrichmentEncoder({ field: 'anomaly', flat: true, names: {} })
  const flat = outputRecord({ record: { log: 'x' }, enrichment: encoder.record(encoder.window(fields as never), 'id', 'template') })
  for (const k of Object.keys(flat).filter(k => k.startsWith('anomaly.'))) t.ok(recordFields.has(k), `flat key ${k} lands on a mapped path`)
})

// ---------------------------------------------------------------------------
// Fluent Bit es outputs (classic format)
// ---------------------------------------------------------------------------

/** [SECTION] blocks of a classic Fluent Bit file: key → value, keys lower-cased. */
function classicSections (text: string): Array<{ section: string, keys: Record<string, string> }> {
  const out: Array<{ section: string, keys: Record<string, string> }> = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '') continue
    const s = /^\[(\w+)\]$/.exec(line)
    if (s !== null) { out.push({ section: s[1].toUpperCase(), keys: {} }); continue }
    const kv = /^(\S+)\s+(.*)$/.exec(line)
    if (kv !== null && out.length > 0) out[out.length - 1].keys[kv[1].toLowerCase()] = kv[2].trim()
  }
  return out
}

t.test('Fluent Bit es outputs write what the templates map, to indices they match, without a loop', async t => {
  const es = classicSections(readFileSync(ex('elasticsearch/fluent-bit-es.conf'), 'utf8')).filter(s => s.section === 'OUTPUT' && s.keys.name === 'es')
  t.equal(es.length, 2, 'one es output for records, one for summary events')
  // The tags that come back into Fluent Bit with examples/fluent-bit (sidecar tag_prefix "", in_forward Tag_Prefix scored.).
  const sidecar = loadConfig(ex('fluent-bit/fluent-anomaly.yaml'))
  const fb = classicSections(readFileSync(ex('fluent-bit/fluent-bit.conf'), 'utf8'))
  const back = fb.find(s => s.section === 'INPUT' && s.keys.name === 'forward')?.keys.tag_prefix ?? ''
  const forwardOut = fb.find(s => s.section === 'OUTPUT' && s.keys.name === 'forward')?.keys.match as string
  const recordTag = `${back}${sidecar.output.forward.tag_prefix}app.hdfs`
  const summaryTag = `${back}${sidecar.output.forward.tag_prefix}${sidecar.enrich.summary_tag as string}`
  for (const [o, tpl, tag, other] of [[es[0], recordsTemplate, recordTag, summaryTag], [es[1], summaryTemplate, summaryTag, recordTag]] as const) {
    const match = o.keys.match
    t.ok(glob(match).test(tag), `${match} takes ${tag}`)
    t.notOk(glob(match).test(other), `${match} does not take ${other}`)
    t.notOk(glob(forwardOut).test(tag), `${tag} does not match the forward output (${forwardOut}): no loop`)
    t.equal(o.keys.logstash_format, 'On')
    const index = `${o.keys.logstash_prefix}-2026.11.23` // Logstash_Prefix_Separator "-", Logstash_DateFormat %Y.%m.%d
    t.ok(tpl.index_patterns.some((p: string) => glob(p).test(index)), `${index} gets its template`)
    const fields = tpl === recordsTemplate ? recordFields : summaryFields
    t.equal(fields.get(o.keys.time_key)?.type, 'date', `Time_Key ${o.keys.time_key} is mapped as a date`)
    t.equal(o.keys.include_tag_key, 'On')
    t.equal(fields.get(o.keys.tag_key)?.type, 'keyword', `Tag_Key ${o.keys.tag_key} is mapped as a keyword`)
    t.equal(o.keys.suppress_type_name, 'On', 'no _type for Elasticsearch 8+')
  }
})

// ---------------------------------------------------------------------------
// Grafana alerting file provisioning
// ---------------------------------------------------------------------------

const grafana = yaml('grafana/alert-rule.yaml')
const datasources = yaml('grafana/datasources.yaml')
const DURATION = /^\d+(ms|s|m|h|d)$/

/** Field names in a Lucene query string (`field:value`, `_exists_:field`). */
function luceneFields (q: string): string[] {
  const out: string[] = []
  for (const m of q.matchAll(/([\w@.]+):(\S+)/g)) out.push(m[1] === '_exists_' ? m[2] : m[1])
  return out
}

/** Whether a document matches a Lucene query of `field:value` / `_exists_:field` terms (all must hold). */
function luceneMatches (q: string, doc: Record<string, unknown>): boolean {
  return [...q.matchAll(/([\w@.]+):(\S+)/g)].every(m => m[1] === '_exists_' ? get(doc, m[2]) != null : String(get(doc, m[1])) === m[2])
}

interface GrafanaData { refId: string, datasourceUid: string, relativeTimeRange?: { from: number, to: number }, model: Record<string, any> }
interface GrafanaRule { uid: string, title: string, condition: string, data: GrafanaData[], for: string, noDataState: string, execErrState: string, labels?: Record<string, string>, annotations?: Record<string, string> }

const grafanaRules = (): GrafanaRule[] => grafana.groups.flatMap((g: { rules: GrafanaRule[] }) => g.rules)
const datasourceByUid = (uid: string): any => datasources.datasources.find((d: { uid: string }) => d.uid === uid)
const esQueries = (): Array<{ rule: GrafanaRule, q: GrafanaData, ds: any }> => grafanaRules().flatMap(rule => rule.data.map(q => ({ rule, q, ds: datasourceByUid(q.datasourceUid) }))).filter(x => x.ds?.type === 'elasticsearch')
const promQueries = (): Array<{ rule: GrafanaRule, q: GrafanaData }> => grafanaRules().flatMap(rule => rule.data.map(q => ({ rule, q }))).filter(x => datasourceByUid(x.q.datasourceUid)?.type === 'prometheus')
const templateFor = (index: string): { tpl: any, fields: Map<string, Mapping> } =>
  recordsTemplate.index_patterns.includes(index) ? { tpl: recordsTemplate, fields: recordFields } : { tpl: summaryTemplate, fields: summaryFields }

t.test('Grafana: alert-rule.yaml follows the file-provisioning schema, references resolve', async t => {
  t.equal(grafana.apiVersion, 1)
  t.equal(datasources.apiVersion, 1)
  t.ok(Array.isArray(grafana.groups) && grafana.groups.length > 0, 'groups')
  const uids = new Set<string>()
  for (const g of grafana.groups) {
    t.ok(typeof g.name === 'string' && typeof g.folder === 'string', `group ${g.name}: name and folder`)
    t.match(g.interval, DURATION, `group ${g.name}: interval is a duration`)
    t.ok(Array.isArray(g.rules) && g.rules.length > 0, `group ${g.name}: rules`)
    for (const r of g.rules as GrafanaRule[]) {
      t.match(r.uid, /^[a-zA-Z0-9_-]{1,40}$/, `${r.uid}: uid of at most 40 letters, digits, - and _`)
      t.notOk(uids.has(r.uid), `${r.uid}: unique`)
      uids.add(r.uid)
      t.ok(typeof r.title === 'string' && r.title.length > 0, `${r.uid}: title`)
      t.match(r.for, DURATION, `${r.uid}: for is a duration`)
      t.ok(['NoData', 'Alerting', 'OK', 'KeepLast'].includes(r.noDataState), `${r.uid}: noDataState`)
      t.ok(['Error', 'Alerting', 'OK', 'KeepLast'].includes(r.execErrState), `${r.uid}: execErrState`)
      const refIds = r.data.map(d => d.refId)
      t.equal(new Set(refIds).size, refIds.length, `${r.uid}: refIds unique`)
      t.ok(refIds.includes(r.condition), `${r.uid}: condition ${r.condition} is one of its refIds`)
      const seen = new Set<string>()
      for (const d of r.data) {
        t.equal(d.model.refId, d.refId, `${r.uid}/${d.refId}: model.refId = refId`)
        if (d.datasourceUid === '__expr__') {
          t.ok(['math', 'reduce', 'resample', 'threshold', 'classic_conditions'].includes(d.model.type), `${r.uid}/${d.refId}: expression type ${d.model.type}`)
          t.ok(seen.has(d.model.expression), `${r.uid}/${d.refId}: its input ${d.model.expression} is an earlier refId`)
          if (d.model.type === 'reduce') t.ok(['sum', 'mean', 'min', 'max', 'count', 'last', 'median'].includes(d.model.reducer), `${r.uid}/${d.refId}: reducer`)
          if (d.model.type === 'threshold') {
            const ev = d.model.conditions?.[0]?.evaluator
            t.ok(['gt', 'lt', 'gte', 'lte', 'eq', 'ne', 'within_range', 'outside_range'].includes(ev?.type) && ev.params.every((p: unknown) => typeof p === 'number'), `${r.uid}/${d.refId}: evaluator`)
          }
        } else {
          t.ok(datasourceByUid(d.datasourceUid) !== undefined, `${r.uid}/${d.refId}: data source ${d.datasourceUid} is provisioned in datasources.yaml`)
          t.ok(d.relativeTimeRange !== undefined && d.relativeTimeRange.from > d.relativeTimeRange.to && d.relativeTimeRange.to >= 0, `${r.uid}/${d.refId}: relativeTimeRange`)
        }
        seen.add(d.refId)
      }
      // Annotation templates use only values and labels the queries produce.
      const groupLabels = new Set<string>()
      for (const d of r.data) {
        for (const b of d.model.bucketAggs ?? []) if (b.type === 'terms') groupLabels.add(b.field)
        for (const m of String(d.model.expr ?? '').matchAll(/by \(([^)]*)\)/g)) for (const l of m[1].split(',')) groupLabels.add(l.trim())
      }
      for (const text of Object.values(r.annotations ?? {})) {
        for (const m of text.matchAll(/\$values\.(\w+)/g)) t.ok(refIds.includes(m[1]), `${r.uid}: $values.${m[1]} is a refId`)
        for (const m of text.matchAll(/index \$labels "([^"]+)"/g)) t.ok(groupLabels.has(m[1]), `${r.uid}: label ${m[1]} is one the query groups by`)
      }
    }
  }
  t.ok(esQueries().length >= 2 && promQueries().length >= 3, 'Elasticsearch rules and Prometheus rules')
  t.ok(esQueries().some(x => /anomaly\.is_anomaly:true/.test(x.q.model.query)), 'a rule counts anomaly.is_anomaly:true')
  t.ok(esQueries().every(x => x.q.relativeTimeRange?.from === 300), 'Elasticsearch rules look at the last 5 minutes')
})

t.test('Grafana: Elasticsearch queries name fields the templates map, with usable types', async t => {
  for (const { rule, q, ds } of esQueries()) {
    const { fields } = templateFor(ds.jsonData.index)
    t.ok([...recordsTemplate.index_patterns, ...summaryTemplate.index_patterns].includes(ds.jsonData.index), `${ds.uid}: index ${ds.jsonData.index} is a template's pattern`)
    t.equal(fields.get(ds.jsonData.timeField)?.type, 'date', `${ds.uid}: timeField is a date`)
    t.equal(fields.get(q.model.timeField)?.type, 'date', `${rule.uid}: timeField is a date`)
    for (const f of luceneFields(q.model.query)) t.ok(fields.has(f), `${rule.uid}: query field ${f} is mapped`)
    for (const m of q.model.query.matchAll(/([\w@.]+):(true|false)/g)) t.equal(fields.get(m[1])?.type, 'boolean', `${rule.uid}: ${m[1]}:${m[2]} queries a boolean`)
    for (const b of q.model.bucketAggs) {
      t.ok(AGGREGATABLE.has(fields.get(b.field)?.type as string), `${rule.uid}: ${b.type} on ${b.field} (${fields.get(b.field)?.type}) is aggregatable`)
      if (b.type === 'date_histogram') t.equal(fields.get(b.field)?.type, 'date')
    }
    for (const m of q.model.metrics) if (m.field !== undefined) t.ok(fields.has(m.field), `${rule.uid}: metric field ${m.field} is mapped`)
  }
})

// ---------------------------------------------------------------------------
// Kibana: POST /api/alerting/rule with rule_type_id .es-query
// ---------------------------------------------------------------------------

const kibana = json('kibana/rule.json')
const kibanaQuery = (): any => JSON.parse(kibana.params.esQuery)

/** Fields a query DSL body names (term, terms, match, match_phrase, range, exists). */
function dslFields (q: unknown, out: Array<{ kind: string, field: string, value: unknown }> = []): Array<{ kind: string, field: string, value: unknown }> {
  if (Array.isArray(q)) { for (const x of q) dslFields(x, out); return out }
  if (q === null || typeof q !== 'object') return out
  for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
    if (['term', 'terms', 'match', 'match_phrase', 'range'].includes(k)) for (const [field, value] of Object.entries(v as object)) out.push({ kind: k, field, value })
    else if (k === 'exists') out.push({ kind: k, field: (v as { field: string }).field, value: undefined })
    else dslFields(v, out)
  }
  return out
}

/** Whether a document matches a bool/filter/must of term and exists clauses. */
function dslMatches (q: any, doc: Record<string, unknown>): boolean {
  return dslFields(q).every(c => c.kind === 'exists' ? get(doc, c.field) != null : get(doc, c.field) === (typeof c.value === 'object' && c.value !== null ? (c.value as { value: unknown }).value : c.value))
}

t.test('Kibana: rule.json is a create-rule body with valid .es-query params', async t => {
  // Kibana's createBodySchema and EsQueryRuleParamsSchema (@kbn/config-schema objects refuse unknown keys).
  const BODY = ['name', 'rule_type_id', 'enabled', 'consumer', 'tags', 'throttle', 'params', 'schedule', 'actions', 'notify_when', 'alert_delay']
  const PARAMS = ['size', 'timeWindowSize', 'excludeHitsFromPreviousRun', 'timeWindowUnit', 'threshold', 'thresholdComparator', 'aggType', 'aggField', 'groupBy', 'termField', 'termSize', 'searchType', 'timeField', 'searchConfiguration', 'esQuery', 'index', 'esqlQuery', 'sourceFields']
  t.same(Object.keys(kibana).filter(k => !BODY.includes(k)), [], 'only create-rule body keys')
  for (const k of ['name', 'rule_type_id', 'consumer', 'params', 'schedule']) t.ok(k in kibana, `${k} is present`)
  t.equal(kibana.rule_type_id, '.es-query')
  t.match(kibana.schedule.interval, /^\d+[smhd]$/)
  t.ok(Array.isArray(kibana.actions ?? []), 'actions is an array')
  const p = kibana.params
  t.same(Object.keys(p).filter(k => !PARAMS.includes(k)), [], 'only .es-query params')
  t.equal(p.searchType, 'esQuery')
  t.ok(Array.isArray(p.index) && p.index.length > 0 && p.index.every((i: unknown) => typeof i === 'string' && i.length > 0), 'index: non-empty list')
  t.ok(Number.isInteger(p.size) && p.size >= 0 && p.size <= 10_000, 'size 0..10000')
  t.ok(Number.isInteger(p.timeWindowSize) && p.timeWindowSize >= 1, 'timeWindowSize >= 1')
  t.ok(['s', 'm', 'h', 'd'].includes(p.timeWindowUnit), 'timeWindowUnit')
  t.equal(p.timeWindowSize * { s: 1, m: 60, h: 3600, d: 86400 }[p.timeWindowUnit as 's'], 300, 'a 5-minute window')
  t.ok(['>', '<', '>=', '<=', 'between', 'notBetween'].includes(p.thresholdComparator), 'thresholdComparator')
  t.ok(Array.isArray(p.threshold) && p.threshold.length === (['between', 'notBetween'].includes(p.thresholdComparator) ? 2 : 1) && p.threshold.every((x: unknown) => typeof x === 'number'), 'threshold')
  t.ok(['count', 'avg', 'sum', 'min', 'max'].includes(p.aggType ?? 'count') && ((p.aggType ?? 'count') === 'count' || typeof p.aggField === 'string'), 'aggType (aggField when not count)')
  t.ok(['all', 'top'].includes(p.groupBy ?? 'all'), 'groupBy all or top')
  if (p.groupBy === 'top') {
    t.ok(typeof p.termField === 'string' && Number.isInteger(p.termSize) && p.termSize >= 1, 'top needs termField and termSize')
    t.not(p.excludeHitsFromPreviousRun, true, 'excludeHitsFromPreviousRun is not available with a grouping field')
  }
  t.ok(kibanaQuery().query !== undefined, 'esQuery is JSON with a query')
})

t.test('Kibana: the rule queries fields the records template maps', async t => {
  const p = kibana.params
  t.same(p.index, recordsTemplate.index_patterns, 'the records indices')
  t.equal(recordFields.get(p.timeField)?.type, 'date', 'timeField is a date')
  t.ok(AGGREGATABLE.has(recordFields.get(p.termField)?.type as string), `termField ${p.termField} is aggregatable`)
  const clauses = dslFields(kibanaQuery())
  t.ok(clauses.some(c => c.field === 'anomaly.is_anomaly' && c.value === true), 'filters on anomaly.is_anomaly: true')
  for (const c of clauses) {
    t.ok(recordFields.has(c.field), `${c.field} is mapped`)
    if (c.kind === 'term' && typeof c.value === 'boolean') t.equal(recordFields.get(c.field)?.type, 'boolean', `${c.field}: a boolean term on a boolean field`)
  }
})

// ---------------------------------------------------------------------------
// The sidecar's metric names and labels, from the code that counts them
// ---------------------------------------------------------------------------

/** metric name → label keys, from every `counters.inc(...)` / `counters.gauge(...)` in plugin/ and worker-pool/. */
function metricsInCode (): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  const walk = (dir: string): string[] => readdirSync(dir).flatMap(f => { const p = join(dir, f); return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [] })
  for (const file of [...walk(join(root, 'plugin')), ...walk(join(root, 'worker-pool'))]) {
    const src = readFileSync(file, 'utf8')
    for (const m of src.matchAll(/counters\.(?:inc|gauge)\(([^,)]+)(?:,[^,)]*(?:,\s*\{([^}]*)\})?)?/g)) {
      const labels = (m[2] ?? '').split(',').map(s => s.split(':')[0].trim()).filter(s => /^\w+$/.test(s))
      for (const name of m[1].matchAll(/'([a-z][a-z0-9_]*)'/g)) {
        const set = out.get(name[1]) ?? new Set<string>()
        for (const l of labels) set.add(l)
        out.set(name[1], set)
      }
    }
  }
  // The metric catalog (name, type, labels in one place), where the code has one.
  const catalog = join(root, 'plugin', 'metrics', 'catalog.ts')
  if (existsSync(catalog)) {
    for (const m of readFileSync(catalog, 'utf8').matchAll(/^\s*([a-z][a-z0-9_]*): \{ type: '(?:counter|gauge|histogram)'(?:[^\n]*?labels: \[([^\]]*)\])?/gm)) {
      const set = out.get(m[1]) ?? new Set<string>()
      for (const l of (m[2] ?? '').matchAll(/'(\w+)'/g)) set.add(l[1])
      out.set(m[1], set)
    }
  }
  return out
}

t.test('Grafana: Prometheus rules name metrics the sidecar counts, by labels it sets', async t => {
  const code = metricsInCode()
  t.ok(code.has('anomalies_total') && code.has('backpressure_engaged_total'), 'the code scan finds plain and conditional counter names')
  for (const { rule, q } of promQueries()) {
    const names = [...String(q.model.expr).matchAll(/\bfluent_anomaly_([a-z0-9_]+)/g)].map(m => m[1])
    t.ok(names.length > 0, `${rule.uid}: queries a fluent_anomaly_* metric`)
    for (const n of names) {
      t.ok(code.has(n), `${rule.uid}: ${n} is counted in plugin/ or worker-pool/`)
      if (n.endsWith('_total')) t.match(String(q.model.expr), new RegExp(`(increase|rate)\\(fluent_anomaly_${n}\\[`), `${rule.uid}: the counter ${n} is read through increase() or rate()`)
      for (const m of String(q.model.expr).matchAll(/by \(([^)]*)\)/g)) {
        for (const l of m[1].split(',').map(s => s.trim())) t.ok(code.get(n)?.has(l), `${rule.uid}: ${n} carries the label ${l}`)
      }
    }
  }
})

// ---------------------------------------------------------------------------
// The real sidecar, real data, real Forward peers
// ---------------------------------------------------------------------------

t.test('real sidecar: every received record and summary event fits the templates, and the alert queries find the anomalies', async t => {
  const configFile = join(root, 'config', 'default.yaml')
  const hdfs = join(DATASETS, 'hdfs_loglead_2pct')
  const tmp = mkdtempSync(join(tmpdir(), 'fa-peer-examples-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

  // Real HDFS sessions: 12 labelled anomalous blocks and 24 normal ones, every line of each; plus 60 BGL lines (3 sliding windows),
  // and two real BGL lines (from the log's head, BGL_head_10k) of a template the bundle's parser snapshot lacks: anomaly.new_template.
  const labels = readFileSync(join(hdfs, 'anomaly_label.csv'), 'utf8').trim().split('\n').slice(1).map(l => l.split(','))
  const blocks = new Set([...labels.filter(l => l[1] === 'Anomaly').slice(0, 12), ...labels.filter(l => l[1] === 'Normal').slice(0, 24)].map(l => l[0]))
  const hdfsLines: string[] = []
  for await (const line of createInterface({ input: createReadStream(join(hdfs, 'HDFS_2pct.log')) })) {
    if ((line.match(/blk_-?\d+/g) ?? []).some(b => blocks.has(b))) hdfsLines.push(line)
  }
  const bglLines = readFileSync(join(DATASETS, 'loghub_2k', 'BGL', 'BGL_2k.log'), 'utf8').split('\n').slice(0, 60)
  const loaded = loadConfig(configFile)
  const bundle = resolve(dirname(configFile), loaded.model.bundle as string)
  const parser = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')).sources.bgl.parser.snapshot as string
  const drain = await loadSnapshot(join(bundle, parser))
  if (drain === null) throw new Error(`no bgl parser snapshot in ${bundle}`)
  // as the sidecar reads a line: without its line end (BGL_2k.log has CRLF ones), the header stripped
  const content = (l: string): string => { const raw = l.replace(/\r$/, ''); return logFormat('bgl').parse(raw)?.content ?? raw }
  const unknown = (l: string): boolean => l !== '' && drain.match(content(l)) === null
  const fresh = readFileSync(join(DATASETS, 'bgl_head_10k', 'BGL_head_10k.log'), 'utf8').split('\n').filter(unknown)
  const learnt = drain.add(content(fresh[0])).templateId // as the sidecar will learn it
  const twin = fresh.filter(l => drain.match(content(l))?.templateId === learnt)
  t.ok(bglLines.every(l => drain.match(content(l)) !== null && !twin.includes(l)) && twin.length >= 2, `two lines of a template the bgl snapshot lacks: ${fresh[0]}`)
  bglLines.push(twin[0], twin[1])
  t.ok(hdfsLines.length > 100, `${hdfsLines.length} HDFS lines of ${blocks.size} blocks`)

  // Downstream: @fluent-org/logger's FluentServer (acks every chunk).
  const server = new FluentServer({ listenOptions: { host: '127.0.0.1', port: 0 } })
  const got: Array<{ tag: string, time: unknown, record: Record<string, unknown> }> = []
  server.on('entry', (tag: string, time: unknown, record: Record<string, unknown>) => got.push({ tag, time, record }))
  await server.listen()

  // The sidecar: config/default.yaml, ports moved to 0, buffer in a temp folder.
  const config: Config = {
    ...loaded,
    input: { ...loaded.input, forward: { ...loaded.input.forward, port: 0 } },
    output: { forward: { ...loaded.output.forward, port: server.port as number } },
    admin: { ...loaded.admin, port: 0 },
    buffer: { ...loaded.buffer, path: join(tmp, 'buffer') },
    log: { level: 'warn' },
  }
  t.equal(config.enrich.summary_tag, 'anomaly.summary', 'config/default.yaml emits summary events')
  const sc = await buildSidecar(config, { telemetry: quietTelemetry(), baseDir: dirname(configFile) })
  const { forward, admin } = await sc.start()
  const adminUrl = `http://127.0.0.1:${(admin as { port: number }).port}`

  const client = new FluentClient('app', {
    eventMode: 'PackedForward',
    socket: { host: '127.0.0.1', port: forward.port },
    ack: { ackTimeout: 120_000 }, // acks wait until the sessions are scored (flush below)
    flushInterval: 5,
  })
  t.teardown(async () => { await client.disconnect(); await sc.stop(); await server.close() })

  const sends: Array<Promise<void>> = []
  hdfsLines.forEach((log, seq) => sends.push(client.emit('hdfs', { log, seq }, new LoggerEventTime(1_700_000_000 + seq, 250_000_000))))
  bglLines.forEach((log, seq) => sends.push(client.emit('bgl', { log, seq }, new LoggerEventTime(1_700_000_000 + seq, 0))))
  const total = hdfsLines.length + bglLines.length

  // One malformed entry beside a good one, so records_dropped_total exists in /metrics.
  await new Promise<void>((resolve, reject) => {
    const s = connect(forward.port, '127.0.0.1', () => s.end(pack(['other.tag', [[1_700_000_000, { ok: true }], ['not an entry']]])))
    s.on('close', () => resolve()).on('error', reject)
  })

  t.ok(await waitFor(() => sc.pipeline.pending + got.filter(g => g.tag.startsWith('scored.app.')).length >= total, 60_000), 'the sidecar holds every line')
  const flush = await request(`${adminUrl}/v1/flush`, { method: 'POST' })
  t.equal(flush.statusCode, 200, 'POST /v1/flush scores the open windows')
  await flush.body.dump()
  await Promise.all(sends) // every chunk acked: the records reached FluentServer
  t.ok(await waitFor(() => got.filter(g => g.tag.startsWith('scored.app.')).length >= total, 30_000), 'every record came back')

  // As Fluent Bit's es output indexes them: the record, @timestamp from the event time (ms), the tag under Tag_Key.
  const timestamp = (time: unknown): string => {
    const ms = typeof time === 'number' ? time * 1000 : (time as { epoch: number, nano: number }).epoch * 1000 + Math.floor((time as { nano: number }).nano / 1e6)
    return new Date(ms).toISOString()
  }
  const asIndexed = (g: { tag: string, time: unknown, record: Record<string, unknown> }): Record<string, unknown> => ({ ...g.record, '@timestamp': timestamp(g.time), tag: g.tag })
  const records = got.filter(g => g.tag.startsWith('scored.app.')).map(asIndexed)
  const summaries = got.filter(g => g.tag === 'scored.anomaly.summary').map(asIndexed)
  t.equal(records.length, total, 'each line once')
  t.same([...new Set(records.map(r => r.tag))].sort(), ['scored.app.bgl', 'scored.app.hdfs'], 'both sources came back under the rewritten tag')
  t.equal(records.filter(r => r.anomaly === undefined).length, 0, 'every record was scored')

  // Records: every anomaly.* value fits its mapping; every mapped anomaly field is emitted.
  const rec = checkAgainst(records, recordFields, path => path.startsWith('anomaly.') || path === '@timestamp' || path === 'tag')
  t.same(rec.unmapped, [], 'every field the sidecar adds to a record has a mapping')
  t.same(rec.misfits, [], 'every anomaly value is indexable as its mapped type')
  t.same(rec.notEmitted, [], 'every mapped field is emitted (the template has no stale field)')
  const anomalous = records.filter(r => get(r, 'anomaly.is_anomaly') === true)
  t.ok(anomalous.length > 0 && anomalous.length < records.length, `both values of anomaly.is_anomaly occur (${anomalous.length} of ${records.length} anomalous)`)
  const newTemplate = records.filter(r => get(r, 'anomaly.new_template') === true)
  t.same(newTemplate.map(r => [r.tag, r.log]), [['scored.app.bgl', twin[0]]], 'anomaly.new_template: true on the first line of the new template only')

  // Summary events: one per anomalous window, each field mapped and indexable; every mapped field emitted.
  const anomalousWindows = new Set(anomalous.map(r => get(r, 'anomaly.window_id')))
  t.ok(await waitFor(() => got.filter(g => g.tag === 'scored.anomaly.summary').length >= anomalousWindows.size, 10_000), 'the summary events arrived')
  t.equal(summaries.length, anomalousWindows.size, `one summary event per anomalous window (${anomalousWindows.size})`)
  t.same(new Set(summaries.map(s => s.window_id)), anomalousWindows, 'for exactly those windows')
  t.same(summaries.filter(s => s.source !== String(s.window_id).split(':')[0]), [], 'each summary\'s source is its window\'s source')
  const sum = checkAgainst(summaries, summaryFields, () => true)
  t.same(sum.unmapped, [], 'every summary field has a mapping')
  t.same(sum.misfits, [], 'every summary value is indexable as its mapped type')
  t.same(sum.notEmitted, [], 'every mapped summary field is emitted')

  // The alert queries, run over these documents, find exactly the anomalous ones, grouped as the rules group them.
  const countBy = (docs: Array<Record<string, unknown>>, field: string): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const d of docs) out[String(get(d, field))] = (out[String(get(d, field))] ?? 0) + 1
    return out
  }
  const expected = countBy(anomalous, 'tag')
  const kq = kibanaQuery()
  t.same(countBy(records.filter(r => dslMatches(kq, r)), kibana.params.termField), expected, `Kibana: the query counts the anomalous records per ${kibana.params.termField}`)
  // what each Grafana query must count, by its query string
  const wants: Record<string, Record<string, number>> = {
    'anomaly.is_anomaly:true': expected,
    'anomaly.new_template:true': countBy(newTemplate, 'tag'),
    '_exists_:window_id': countBy(summaries, 'source'),
  }
  for (const { rule, q, ds } of esQueries()) {
    const docs = templateFor(ds.jsonData.index).tpl === recordsTemplate ? records : summaries
    const terms = q.model.bucketAggs.find((b: { type: string }) => b.type === 'terms').field
    t.ok(q.model.query in wants, `Grafana ${rule.uid}: a query this test knows (${q.model.query})`)
    t.same(countBy(docs.filter(d => luceneMatches(q.model.query, d)), terms), wants[q.model.query], `Grafana ${rule.uid}: the query counts what it should per ${terms}`)
  }

  // /metrics: the Prometheus rules' metrics are there, with the labels they group by.
  const res = await request(`${adminUrl}/metrics`)
  const text = await res.body.text()
  const series = text.split('\n').filter(l => l !== '' && !l.startsWith('#')).map(l => {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l) as RegExpExecArray
    return { name: m[1], labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(x => [x[1], x[2]])), value: Number(m[3]) }
  })
  const anomalies = series.filter(s => s.name === 'fluent_anomaly_anomalies_total')
  t.same(Object.fromEntries(anomalies.filter(s => s.value > 0).map(s => [s.labels.source, s.value])), countBy(summaries, 'source'), 'anomalies_total{source} = the anomalous windows per source')
  t.same(series.filter(s => s.name === 'fluent_anomaly_new_templates_total').map(s => [s.labels.source, s.value]).sort(), [['bgl', 1], ['hdfs', 0]], 'new_templates_total{source}: the one new template, 0 for the other source')
  t.ok(series.some(s => s.name === 'fluent_anomaly_records_dropped_total' && s.labels.reason === 'bad_entry' && s.value >= 1), 'records_dropped_total{reason="bad_entry"} counted the malformed entry')
  for (const { rule, q } of promQueries()) {
    for (const m of String(q.model.expr).matchAll(/\b(fluent_anomaly_[a-z0-9_]+)/g)) {
      const present = series.filter(s => s.name === m[1])
      if (present.length === 0) continue // not counted in this run (backpressure, scoring errors): checked against the code above
      for (const by of String(q.model.expr).matchAll(/by \(([^)]*)\)/g)) {
        for (const l of by[1].split(',').map(s => s.trim())) t.ok(present.every(s => l in s.labels), `${rule.uid}: every ${m[1]} series has the label ${l}`)
      }
    }
  }
})
