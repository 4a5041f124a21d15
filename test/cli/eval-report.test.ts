/**
 * `fluent-anomaly eval --html --report` as an operator runs it: a real CLI
 * process, the bundled model (models/default, hdfs adapter) on the HDFS 2 %
 * sample prepared with the bundle's embedder (as test/integration/default-model.test.ts).
 *
 *   HDFS_2pct.log ──prepare──▶ prep/ ──main.ts eval --html --report──▶ report.html + report.json + stdout JSON
 *
 * The page must hold the four plots as inline SVG and load nothing; its number
 * cells must equal the JSON summary, which must equal what stdout printed. The
 * summary holds the four simple detectors (models/trainer/detectors.py) beside
 * the model, each with PR-AUC, its threshold rule and its speed.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { prepare } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'
import { preparedLike } from '../../plugin/prepare/window-policy.js'
import { DATASETS } from '../../bench/lib/datasets.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const main = join(root, 'plugin', 'cli', 'main.ts')
const bundle = join(root, 'models', 'default')
const hdfs = join(DATASETS, 'hdfs_loglead_2pct')
const tmp = mkdtempSync(join(tmpdir(), 'fa-eval-report-'))

/** The CLI with stdout / stderr as pipes (so, as in CI, no progress bars). */
function cli (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  return new Promise(resolve => child.on('close', code => resolve({ code, stdout, stderr })))
}

/** A value at a dotted path of the report ("model.test.f1", "templates.top.0.share_normal"). */
function at (obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], obj)
}

t.test('eval usage names --html and --report', async t => {
  const r = await cli(['eval', 'help'])
  t.equal(r.code, 0)
  t.match(r.stdout, /--html FILE\.html/)
  t.match(r.stdout, /--report FILE\.json/)
})

t.test('eval --html --report on the bundled model: four inline plots, numbers equal to the JSON summary', async t => {
  const prep = join(tmp, 'prep-hdfs')
  await prepare({ format: 'hdfs', logs: join(hdfs, 'HDFS_2pct.log'), labels: join(hdfs, 'anomaly_label.csv'), out: prep,
    embedder: join(bundle, 'embedder.safetensors'), progress: createProgress(process.stderr, { quiet: true }), ...preparedLike(JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')).sources.hdfs) })
  const htmlFile = join(tmp, 'out', 'report.html')
  const jsonFile = join(tmp, 'out', 'report.json')
  const r = await cli(['eval', '--bundle', bundle, '--data', prep, '--source', 'hdfs', '--threads', '1', '--html', htmlFile, '--report', jsonFile])
  t.equal(r.code, 0, `eval exits 0: ${r.stderr.slice(-2000)}`)
  t.match(r.stderr, /source hdfs {2}test split: \d+ windows \(\d+ anomalous\)/, 'the table is printed on stderr')
  t.match(r.stderr, /PR-AUC/, 'the table has PR-AUC')
  for (const name of ['logistic regression', 'decision tree', 'nearest neighbor', 'unseen template']) t.match(r.stderr, name, `the table lists ${name}`)
  t.match(r.stderr, /decision tree over seeds 42, 43, 44: F1/, 'and the tree\'s spread over seeds')
  t.notMatch(r.stderr, /\r|it\/s\]|batch\/s\]/, 'no progress bar when stderr is not a terminal')

  // The JSON summary: the file is what stdout printed.
  t.ok(existsSync(jsonFile) && existsSync(htmlFile), 'both files written')
  const printed = JSON.parse(r.stdout)
  const report = JSON.parse(readFileSync(jsonFile, 'utf8'))
  t.same(report, printed, 'the --report file equals the JSON printed on stdout')
  t.equal(report.html, htmlFile, 'the summary names the page')
  t.equal(report.split.test.windows, 2333, 'HDFS test split: 2,333 whole sessions (the trained policy: idle 12 h)')
  t.type(report.model.test.pr_auc, 'number', 'the model\'s PR-AUC')
  t.type(report.model.score_us_per_window, 'number', 'the model\'s scoring speed')
  t.notOk('model_seeds' in report, 'one --bundle: no spread over seeds')
  for (const name of ['logistic_regression', 'decision_tree', 'nearest_neighbor', 'unseen_template']) {
    const d = report.baselines[name]
    for (const split of ['test', 'validation'] as const) {
      t.same([d[split].windows, d[split].anomalous], [report.split[split].windows, report.split[split].anomalous], `${name} ${split}: every window`)
      for (const k of ['precision', 'recall', 'f1', 'roc_auc', 'pr_auc', 'threshold']) t.type(d[split][k], 'number', `${name} ${split} ${k}`)
    }
    t.type(d.threshold_rule, 'string', `${name} says how its threshold was chosen`)
    t.ok(d.fit_s >= 0 && d.score_us_per_window >= 0, `${name}: fit ${d.fit_s} s, ${d.score_us_per_window} µs per test window`)
  }
  t.match(report.baselines.unseen_template.threshold_rule, /^fixed: .*not chosen on validation/, 'unseen_template\'s decision is fixed')
  t.ok(report.baselines.unseen_template.test.threshold < 1e-6, 'flagged when any line is unseen (score > 0)')
  t.match(report.baselines.nearest_neighbor.threshold_rule, /max F1 on validation/)
  t.same(report.baselines.decision_tree.seeds, [42, 43, 44], 'the tree is fitted with three seeds')
  for (const k of ['f1', 'pr_auc', 'roc_auc']) t.equal(report.baselines.decision_tree.spread[k].n, 3, `tree ${k} over three seeds`)
  const few = (['validation', 'test'] as const).some(s => report.split[s].anomalous < 10 || report.split[s].windows - report.split[s].anomalous < 10)
  t.equal(report.warnings.length > 0, few, `warnings only for a split with < 10 windows of a class: ${JSON.stringify(report.warnings)}`)
  const h = report.curves.score_histogram
  t.same([h.normal.reduce((a: number, b: number) => a + b, 0), h.anomalous.reduce((a: number, b: number) => a + b, 0)],
    [report.split.test.windows - report.split.test.anomalous, report.split.test.anomalous], 'the histogram counts every test window once')
  t.equal(report.curves.precision_recall.recall.at(-1), 1, 'the PR curve ends at recall 1')
  t.ok(report.templates.top.length > 0, `${report.templates.top.length} templates over-represented in anomalous windows`)
  for (const x of report.templates.top) t.ok(x.share_anomalous > x.share_normal, `ranked: ${x.text}`)

  // The page: four inline SVG plots, nothing to fetch or run.
  const html = readFileSync(htmlFile, 'utf8')
  const figures = [...html.matchAll(/<figure id="([^"]+)">/g)].map(m => m[1])
  t.same(figures, ['pr-curve', 'score-histogram', 'confusion-matrix', 'templates'], 'the four plots, in order')
  t.equal(html.match(/<svg[\s>]/g)?.length, 4, 'four inline SVGs')
  t.notMatch(html, /<script|<link|<img|<iframe/i, 'no script, stylesheet link, image or frame')
  t.notMatch(html, /(?:src|href)="(?:https?:)?\/\//, 'no external resource')
  t.equal(html.includes('<div id="warnings"'), few, 'the warning box shows exactly when the summary has warnings')
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map(m => m[1])
  t.equal(new Set(ids).size, ids.length, 'ids are unique across the page')

  // Every number cell names its place in the JSON summary and holds that value.
  const cells = [...html.matchAll(/data-key="([^"]+)" data-value="([^"]*)"/g)]
    .map(m => ({ key: m[1], value: JSON.parse(m[2].replace(/&quot;/g, '"')) as unknown }))
  const keys = new Set(cells.map(c => c.key))
  for (const k of ['model.test.precision', 'model.test.recall', 'model.test.f1', 'model.test.roc_auc', 'model.test.tp', 'model.test.fp',
    'model.test.fn', 'model.test.tn', 'model.test.pr_auc', 'baselines.logistic_regression.test.f1', 'baselines.decision_tree.test.f1',
    'baselines.nearest_neighbor.test.f1', 'baselines.nearest_neighbor.test.pr_auc', 'baselines.unseen_template.test.f1',
    'baselines.decision_tree.spread.f1.mean', 'split.test.windows']) {
    t.ok(keys.has(k), `the page shows ${k}`)
  }
  const wrong = cells.filter(c => JSON.stringify(c.value) !== JSON.stringify(at(report, c.key))).map(c => c.key)
  t.same(wrong, [], `all ${cells.length} number cells equal the JSON summary`)
  for (const x of report.templates.top) {
    const escaped = (x.text as string).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;')
    t.ok(html.includes(`<td class=t>${escaped}</td>`), `template text shown escaped: ${x.text}`)
  }
})
