import t from 'tap'
import { createHash } from 'node:crypto'
import { Drain, type ParseResult } from '../../plugin/mining/drain.js'
import { compileLogFormat } from '../../plugin/mining/log-format.js'
import { presetFor } from '../../plugin/mining/presets.js'
import { TemplateIdAliases, templateId } from '../../plugin/mining/template-id.js'

/** Parses raw lines with a shipped preset (logFormat → Content → Drain). */
function parseWith(system: string, lines: string[]): ParseResult[] {
  const p = presetFor(system)
  const format = compileLogFormat(p.logFormat!)
  const d = new Drain(p.drain)
  return lines.map((l) => d.add(format.content(l)!))
}
const row = (r: ParseResult): [string, string, string[]] => [r.change, r.template, r.params]

t.test('golden: real HDFS lines (Loghub HDFS_2k.log, lines 1-2, 30-32, 1035+) with the HDFS preset', async (t) => {
  const lines = [
    '081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating',
    '081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating',
    '081109 210022 1110 INFO dfs.DataNode$PacketResponder: Received block blk_-5974833545991408899 of size 67108864 from /10.251.31.180',
    '081109 210037 1084 INFO dfs.DataNode$DataXceiver: Receiving block blk_-5009020203888190378 src: /10.251.199.19:52622 dest: /10.251.199.19:50010',
    '081109 210248 1138 INFO dfs.DataNode$PacketResponder: Received block blk_6921674711959888070 of size 67108864 from /10.251.65.203',
    '081110 020724 29 INFO dfs.FSNamesystem: BLOCK* NameSystem.delete: blk_2568309208894455676 is added to invalidSet of 10.251.31.160:50010',
    '081109 205931 13 INFO dfs.DataBlockScanner: Verification succeeded for blk_-4980916519894289629',
    '081109 213847 2552 INFO dfs.DataNode$DataXceiver: 10.251.194.213:50010 Served block blk_-7724713468912166542 to /10.251.203.80',
    '081110 212510 19 INFO dfs.FSNamesystem: BLOCK* ask 10.250.18.114:50010 to delete  blk_-5140072410813878235',
  ]
  t.same(parseWith('HDFS', lines).map(row), [
    ['created', 'PacketResponder <*> for block <*> terminating', ['1', 'blk_38865049064139660']],
    ['none', 'PacketResponder <*> for block <*> terminating', ['0', 'blk_-6952295868487656571']],
    ['created', 'Received block <*> of size <*> from /<*>', ['blk_-5974833545991408899', '67108864', '10.251.31.180']],
    [
      'created',
      'Receiving block <*> src: /<*>:<*> dest: /<*>:<*>',
      ['blk_-5009020203888190378', '10.251.199.19', '52622', '10.251.199.19', '50010'],
    ],
    ['none', 'Received block <*> of size <*> from /<*>', ['blk_6921674711959888070', '67108864', '10.251.65.203']],
    ['created', 'BLOCK* NameSystem.delete: <*> is added to invalidSet of <*>:<*>', ['blk_2568309208894455676', '10.251.31.160', '50010']],
    ['created', 'Verification succeeded for <*>', ['blk_-4980916519894289629']],
    ['created', '<*>:<*> Served block <*> to /<*>', ['10.251.194.213', '50010', 'blk_-7724713468912166542', '10.251.203.80']],
    ['created', 'BLOCK* ask <*>:<*> to delete <*>', ['10.250.18.114', '50010', 'blk_-5140072410813878235']],
  ])
})

t.test('golden: real OpenSSH lines (Loghub OpenSSH_2k.log): templates generalise and say so', async (t) => {
  const lines = [
    'Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186',
    'Dec 10 07:07:38 LabSZ sshd[24206]: Invalid user test9 from 52.80.34.196',
    'Dec 10 07:08:28 LabSZ sshd[24208]: Invalid user webmaster from 173.234.31.186',
    'Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2',
    'Dec 10 07:07:45 LabSZ sshd[24206]: Failed password for invalid user test9 from 52.80.34.196 port 36060 ssh2',
  ]
  const rs = parseWith('OpenSSH', lines)
  t.same(rs.map(row), [
    ['created', 'Invalid user webmaster from <*>', ['173.234.31.186']],
    ['changed', 'Invalid user <*> from <*>', ['test9', '52.80.34.196']],
    ['none', 'Invalid user <*> from <*>', ['webmaster', '173.234.31.186']],
    ['created', 'Failed password for invalid user webmaster from <*> port <*> ssh2', ['173.234.31.186', '38926']],
    ['changed', 'Failed password for invalid user <*> from <*> port <*> ssh2', ['test9', '52.80.34.196', '36060']],
  ])
  t.equal(rs[1]!.previousTemplateId, rs[0]!.templateId, 'a changed template names the id it replaces')
  t.not(rs[1]!.templateId, rs[0]!.templateId)
  t.equal(rs[2]!.previousTemplateId, undefined)
})

t.test('golden: real Apache lines (Loghub Apache_2k.log)', async (t) => {
  const rs = parseWith('Apache', [
    '[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties',
    '[Sun Dec 04 04:51:08 2005] [notice] jk2_init() Found child 6725 in scoreboard slot 10',
    '[Sun Dec 04 04:51:09 2005] [notice] jk2_init() Found child 6726 in scoreboard slot 8',
    '[Sun Dec 04 05:15:09 2005] [error] [client 222.166.160.184] Directory index forbidden by rule: /var/www/html/',
  ])
  t.same(rs.map(row), [
    ['created', 'workerEnv.init() ok <*>', ['/etc/httpd/conf/workers2.properties']],
    ['created', 'jk2_init() Found child <*> in scoreboard slot <*>', ['6725', '10']],
    ['none', 'jk2_init() Found child <*> in scoreboard slot <*>', ['6726', '8']],
    ['created', '[client <*>] Directory index forbidden by rule: <*>', ['222.166.160.184', '/var/www/html/']],
  ])
})

t.test('params: one value per <*>, masked values inside a token and whole generalised tokens', async (t) => {
  const d = new Drain({ depth: 4, similarity: 0.5 })
  d.add('fetch /10.0.0.1:8080 user alice ok')
  const r = d.add('fetch /10.0.0.2:9090 user bob ok')
  t.equal(r.template, 'fetch /<*>:<*> user <*> ok')
  t.same(r.params, ['10.0.0.2', '9090', 'bob'])
  // a token that held a masked value and then was generalised gives its whole original text
  const r2 = d.add('fetch host:1 user carol ok')
  t.equal(r2.template, 'fetch <*> user <*> ok')
  t.same(r2.params, ['host:1', 'carol'])
  t.equal(r2.change, 'changed')
})

t.test('template ids: hash of the template text, same across instances and line orders', async (t) => {
  const a = new Drain()
  const b = new Drain()
  const lines = ['session 5 opened for alice', 'session 9 opened for bob', 'session 2 opened for carol']
  const ra = lines.map((l) => a.add(l)).at(-1)!
  const rb = [...lines].reverse().map((l) => b.add(l)).at(-1)!
  t.equal(ra.template, 'session <*> opened for <*>')
  t.equal(ra.templateId, rb.templateId)
  const sha = createHash('sha256').update('session <*> opened for <*>').digest('hex').slice(0, 16)
  t.equal(ra.templateId, sha, 'documented contract: first 16 hex digits of SHA-256 over the text')
  t.equal(templateId(ra.template), sha)
})

t.test('TemplateIdAliases follows id changes to the final template', async (t) => {
  const d = new Drain({ depth: 4, similarity: 0.5 })
  const al = new TemplateIdAliases()
  const first = al.record(d.add('disk sda1 is full'))
  al.record(d.add('disk sdb2 is full'))
  const last = d.add('disk sdc3 is full')
  al.record(last)
  t.not(first, last.templateId)
  t.equal(al.resolve(first), last.templateId)
  t.equal(al.resolve('unknown-id'), 'unknown-id')
})

t.test('match does not learn', async (t) => {
  const d = new Drain({ depth: 4, similarity: 0.5 })
  t.equal(d.match('user alice logged in'), null, 'nothing learnt yet')
  t.equal(d.size, 0)
  const created = d.add('user alice logged in')
  const m = d.match('user bob logged in')!
  t.equal(m.change, 'none')
  t.equal(m.template, 'user alice logged in', 'template not generalised by match')
  t.equal(m.templateId, created.templateId)
  t.same(m.params, [])
  t.equal(d.size, 1)
  const learnt = d.add('user bob logged in')
  t.equal(learnt.change, 'changed', 'add still sees the line as new information')
  t.same(d.match('user carol logged in')!.params, ['carol'])
  t.same(
    d.templates().map((x) => x.size),
    [2],
    'match does not count lines',
  )
})

t.test('LRU eviction at maxClusters: least recently used goes; match does not refresh', async (t) => {
  const d = new Drain({ maxClusters: 2, similarity: 0.5, masks: [] })
  d.add('alpha started')
  d.add('beta is stopping now')
  d.add('alpha started') // alpha is now the most recent
  t.equal(d.size, 2)
  d.add('gamma one two three four five') // evicts beta
  t.equal(d.size, 2)
  t.same(
    d.templates().map((x) => x.template),
    ['alpha started', 'gamma one two three four five'],
  )
  t.equal(d.match('beta is stopping now'), null)
  t.equal(d.add('beta is stopping now').change, 'created', 'an evicted template is learnt again from scratch')
  // now: gamma (older), beta (newer). A match on gamma must not save it.
  t.ok(d.match('gamma one two three four five'))
  d.add('delta x')
  t.equal(d.match('gamma one two three four five'), null, 'gamma was least recently used by add')
  t.ok(d.match('beta is stopping now'))
})

t.test('depth: the first tokens route; lines that differ there never merge', async (t) => {
  const deep = new Drain({ depth: 4, similarity: 0.5, masks: [] })
  deep.add('open file a.txt')
  t.equal(deep.add('close file a.txt').change, 'created')
  const flat = new Drain({ depth: 3, similarity: 0.5, masks: [] })
  flat.add('open file a.txt')
  t.equal(flat.add('close file a.txt').template, '<*> file a.txt')
})

t.test('maxChildren: past the limit, new first tokens share one branch', async (t) => {
  const lines = ['alpha is up', 'beta is up', 'gamma is up']
  const wide = new Drain({ depth: 4, similarity: 0.5, maxChildren: 100, masks: [] })
  t.same(lines.map((l) => wide.add(l).change), ['created', 'created', 'created'])
  const narrow = new Drain({ depth: 4, similarity: 0.5, maxChildren: 2, masks: [] })
  const rs = lines.map((l) => narrow.add(l))
  t.same(rs.map((r) => r.change), ['created', 'created', 'changed'])
  t.equal(rs[2]!.template, '<*> is up')
})

t.test('parametrizeNumericTokens: tokens with digits share the <*> branch', async (t) => {
  const on = new Drain({ depth: 4, similarity: 0.5, masks: [] })
  on.add('node7 rebooted')
  t.equal(on.add('node8 rebooted').template, '<*> rebooted')
  const off = new Drain({ depth: 4, similarity: 0.5, masks: [], parametrizeNumericTokens: false })
  off.add('node7 rebooted')
  t.equal(off.add('node8 rebooted').change, 'created')
})

t.test('similarity threshold decides between updating and creating', async (t) => {
  const strict = new Drain({ depth: 4, similarity: 0.9, masks: [] })
  strict.add('job a finished ok')
  t.equal(strict.add('job b finished ok').change, 'created')
  const loose = new Drain({ depth: 4, similarity: 0.7, masks: [] })
  loose.add('job a finished ok')
  t.equal(loose.add('job b finished ok').template, 'job <*> finished ok')
})

t.test('extra delimiters split tokens; multi-character ones too', async (t) => {
  const d = new Drain({ depth: 4, extraDelimiters: ['=', '::'], similarity: 0.5, masks: [] })
  d.add('user=root mode::fast')
  const r = d.add('user=guest mode::fast')
  t.equal(r.template, 'user <*> mode fast')
  t.same(r.params, ['guest'])
})

t.test('edge cases: empty lines, whitespace, private-use characters in input', async (t) => {
  const d = new Drain()
  const e = d.add('')
  t.equal(e.template, '')
  t.equal(d.add('   \t ').change, 'none', 'blank lines share the empty template')
  const r = d.add('weird \ue000 token 42')
  t.equal(r.template, 'weird \ufffd token <*>', 'a raw private-use char is not taken for a placeholder')
  t.same(r.params, ['42'])
})

t.test('bad options are refused with DRAIN_OPTIONS_INVALID naming the option', async (t) => {
  const bad: [object, RegExp][] = [
    [{ depth: 2 }, /depth/],
    [{ similarity: 1.5 }, /similarity/],
    [{ maxChildren: 1 }, /maxChildren/],
    [{ maxClusters: 0 }, /maxClusters/],
    [{ extraDelimiters: [''] }, /extraDelimiters/],
    [{ simlarity: 0.5 }, /unknown option "simlarity"/],
  ]
  for (const [opts, msg] of bad) {
    t.throws(() => new Drain(opts), { name: 'MiningError', code: 'DRAIN_OPTIONS_INVALID', message: msg }, JSON.stringify(opts))
  }
})
