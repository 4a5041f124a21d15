/**
 * The adapter json's decision fields (issue 16) in the schema the loader
 * validates with (models/manifest.ts AdapterMetaSchema) and as the registry
 * reads them (decisionOf): an adapter json of the bundled default model (from
 * before the fields) is rule `model` with no table; the fields as the trainer
 * writes them (models/trainer/decision.py) are taken; a bad rule, a share out
 * of 0..1, or a rule on unseen templates without the table is refused.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { AdapterMetaSchema, formatIssues } from '../../models/manifest.js'
import { decisionOf } from '../../models/registry.js'

// without the two fields, should a rebuilt default model have them
const { decision: _d, normal_templates: _n, ...old } = JSON.parse(readFileSync(new URL('../../models/default/adapters/hdfs.json', import.meta.url), 'utf8'))
const fields = {
  decision: {
    rule: 'model_or_unseen_template',
    chosen_on: 'validation',
    validation: { model: { precision: 0.5, recall: 1, f1: 0.667, tp: 1, fp: 1, fn: 0 }, unseen_template: { precision: 1, recall: 1, f1: 1, tp: 1, fp: 0, fn: 0 } },
  },
  normal_templates: { '0123456789abcdef': 1, fedcba9876543210: 0.25 },
}
const issues = (m: unknown): string => { const r = AdapterMetaSchema.safeParse(m); return r.success ? '' : formatIssues(r.error) }

t.test('an adapter json from before issue 16: rule model, no table', async t => {
  const r = AdapterMetaSchema.safeParse(old)
  t.ok(r.success, 'still valid')
  if (r.success) t.same(decisionOf(r.data), { rule: 'model', normalTemplates: undefined })
})

t.test('the fields as the trainer writes them', async t => {
  const r = AdapterMetaSchema.safeParse({ ...old, ...fields })
  t.ok(r.success, issues({ ...old, ...fields }))
  if (!r.success) return
  const d = decisionOf(r.data)
  t.equal(d.rule, 'model_or_unseen_template')
  t.same([...(d.normalTemplates ?? [])], [['0123456789abcdef', 1], ['fedcba9876543210', 0.25]], 'the table as a map, id -> share')
})

t.test('refused: a bad rule, a share out of range, an unseen-template rule without the table', async t => {
  t.match(issues({ ...old, ...fields, decision: { rule: 'always' } }), /decision\.rule/)
  t.match(issues({ ...old, ...fields, normal_templates: { '0123456789abcdef': 1.5 } }), /normal_templates\.0123456789abcdef/)
  t.match(issues({ ...old, decision: { rule: 'unseen_template' } }), /decision\.rule: a decision rule on unseen templates needs normal_templates/)
  t.equal(issues({ ...old, decision: { rule: 'model' } }), '', 'rule model needs no table')
})
