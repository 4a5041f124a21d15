import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Drain } from '../../plugin/mining/drain.js'
import { compileLogFormat } from '../../plugin/mining/log-format.js'
import { DEFAULT_MASKS, Masker, opensAfterNonWord } from '../../plugin/mining/masker.js'
import { loadPresets, presetFor } from '../../plugin/mining/presets.js'
import { datasetsDir, parseCsv, SYSTEMS } from '../../bench/drain-accuracy.js'

t.test('the shipped presets load, with one preset per Loghub system plus default', async (t) => {
  const presets = loadPresets()
  t.same([...presets.names].sort(), ['default', ...SYSTEMS].sort())
  for (const name of presets.names) t.doesNotThrow(() => new Drain(presets.get(name).drain), name)
  t.same(presetFor('default').drain.masks, DEFAULT_MASKS, 'defaults: masks apply where a preset sets none')
  t.equal(presetFor('hdfs').name, 'HDFS', 'names match case-insensitively')
  t.ok(Object.isFrozen(presetFor('HDFS').drain.masks), 'presets are frozen')
})

t.test('an unknown preset name is refused with PRESET_UNKNOWN listing the known ones', async (t) => {
  t.throws(() => presetFor('nginx'), { code: 'PRESET_UNKNOWN', message: /no Drain preset "nginx".*known: default, HDFS/ })
})

const root = join(datasetsDir(), 'loghub_2k')
const missing = existsSync(root) ? false : `datasets not found at ${root} (set FLUENT_ANOMALY_DATASETS)`
t.test('each preset log format extracts the Content Loghub recorded for that system (first 50 raw lines)', { skip: missing }, async (t) => {
  for (const s of SYSTEMS) {
    const format = compileLogFormat(presetFor(s).logFormat!)
    const raw = readFileSync(join(root, s, `${s}_2k.log`), 'utf8').split(/\r?\n/).slice(0, 50)
    const [header, ...rows] = parseCsv(readFileSync(join(root, s, `${s}_2k.log_structured.csv`), 'utf8'))
    const ci = header!.indexOf('Content')
    const got = raw.map((l) => format.content(l))
    t.same(got, rows.slice(0, 50).map((r) => r[ci]!.trim()), s)
  }
})

t.test('log formats: fields, optional groups, lines that do not fit', async (t) => {
  const f = compileLogFormat('<Date> <Time> <Level> \\[<Process>\\] <Component>: <Content>')
  t.same(f.fields, ['Date', 'Time', 'Level', 'Process', 'Component', 'Content'])
  t.same(f.parse('2015-10-18 18:01:47,978 INFO [main] org.apache.X: Created MRAppMaster'), {
    Date: '2015-10-18',
    Time: '18:01:47,978',
    Level: 'INFO',
    Process: 'main',
    Component: 'org.apache.X',
    Content: 'Created MRAppMaster',
  })
  t.equal(f.content('no header here'), null)
  t.throws(() => compileLogFormat('<Date> <Time>'), { code: 'PRESETS_INVALID', message: /no <Content>/ })
})

t.test('a bad presets file is refused at load with every problem and its key path', async (t) => {
  const dir = t.testdir({
    'typos.yaml': ['version: 1', 'presets:', '  web:', '    simlarity: 0.5', '    depth: 2', '  api: {}'].join('\n'),
    'mask.yaml': ['version: 1', 'presets:', '  web:', '    masks: [ipv4, ipv6]'].join('\n'),
    'regex.yaml': ['version: 1', 'masks:', '  bad: "(unclosed"', 'presets:', '  web:', '    masks: [bad]'].join('\n'),
    'version.yaml': ['version: 2', 'presets: {}'].join('\n'),
    'syntax.yaml': 'version: 1\npresets: [unclosed',
  })
  const all = t.throws(() => loadPresets(join(dir, 'typos.yaml')), { code: 'PRESETS_INVALID', message: /2 problem\(s\)/ })
  t.match(String((all as Error).message), /presets\.web: Unrecognized key: "simlarity"/)
  t.match(String((all as Error).message), /presets\.web\.depth: .*>=3/)
  t.throws(() => loadPresets(join(dir, 'mask.yaml')), { code: 'PRESETS_INVALID', message: /presets\.web\.masks\.1: unknown mask "ipv6"/ })
  t.throws(() => loadPresets(join(dir, 'regex.yaml')), { code: 'PRESETS_INVALID', message: /presets\.web.*mask rule "bad"/ })
  t.throws(() => loadPresets(join(dir, 'version.yaml')), { code: 'PRESETS_INVALID', message: /version/ })
  t.throws(() => loadPresets(join(dir, 'syntax.yaml')), { code: 'PRESETS_INVALID', message: /syntax\.yaml/ })
  t.throws(() => loadPresets(join(dir, 'absent.yaml')), { code: 'PRESETS_INVALID', message: /ENOENT/ })
})

t.test('a custom presets file: defaults, library masks, inline masks', async (t) => {
  const dir = t.testdir({
    'p.yaml': [
      'version: 1',
      'masks:',
      "  order-id: 'ORD-\\d+'",
      'defaults:',
      '  similarity: 0.6',
      'presets:',
      '  shop:',
      '    masks: [order-id, {name: sku, regex: "SKU[A-Z]+"}, number]',
      '    depth: 4',
    ].join('\n'),
  })
  const p = loadPresets(join(dir, 'p.yaml')).get('shop')
  t.equal(p.drain.similarity, 0.6)
  t.equal(p.drain.depth, 4)
  t.same(
    p.drain.masks.map((m) => m.name),
    ['order-id', 'sku', 'number'],
  )
  const r = new Drain(p.drain).add('order ORD-991 has SKUABC x 3')
  t.equal(r.template, 'order <*> has <*> x <*>')
  t.same(r.params, ['ORD-991', 'SKUABC', '3'])
})

t.test('the masks mask the same with and without the after-a-non-word prefilter, on every system\'s 2k lines', { skip: missing }, async (t) => {
  const prefiltered: string[] = []
  for (const s of SYSTEMS) {
    const p = presetFor(s)
    const fast = new Masker(p.drain.masks)
    const plain = new Masker(p.drain.masks, { prefilter: false })
    if (p.drain.masks.every((r) => opensAfterNonWord(r.regex))) prefiltered.push(s)
    const format = compileLogFormat(p.logFormat!)
    const lines = readFileSync(join(root, s, `${s}_2k.log`), 'utf8').split(/\r?\n/).filter((l) => l !== '').map((l) => format.content(l) ?? l)
    const differ = lines.filter((l) => JSON.stringify(fast.mask(l)) !== JSON.stringify(plain.mask(l)))
    t.same(differ, [], `${s}: ${lines.length} lines`)
  }
  t.ok(prefiltered.includes('HDFS') && prefiltered.includes('BGL'), `prefiltered: ${prefiltered.join(', ')}`)
})
