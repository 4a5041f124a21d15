import t from 'tap'
import { readFileSync } from 'node:fs'
import { compileLogFormat } from '../../plugin/mining/log-format.js'
import { compileTimeFormat, logFormat, parseTimeValue } from '../../plugin/prepare/formats.js'
import { createProgress } from '../../plugin/prepare/progress.js'

const DATA = (process.env.FLUENT_ANOMALY_DATASETS ?? new URL('../../../shared/datasets', import.meta.url).pathname) + '/'
const head = (f: string, n: number): string[] => readFileSync(DATA + f, 'utf8').split(/\r?\n/).filter(l => l !== '').slice(0, n)

t.test('hdfs: content and time agree with the loghub format on real lines', async t => {
  const loghub = compileLogFormat('<Date> <Time> <Pid> <Level> <Component>: <Content>')
  const f = logFormat('hdfs')
  let diff = 0
  for (const line of head('hdfs_loglead_2pct/HDFS_2pct.log', 5000)) if (f.parse(line)?.content !== loghub.content(line)) diff++
  t.equal(diff, 0)
  t.equal(f.parse('081109 203530 147 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /10.0.0.1:1')?.time, Date.UTC(2008, 10, 9, 20, 35, 30) / 1000)
})

t.test('bgl: label column, content and time', async t => {
  const loghub = compileLogFormat('<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>')
  const f = logFormat('bgl')
  let diff = 0
  for (const line of head('loghub_2k/BGL/BGL_2k.log', 2000)) if (f.parse(line)?.content !== loghub.content(line)) diff++
  t.equal(diff, 0)
  const p = f.parse('KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error interrupt')
  t.same(p, { content: 'data TLB error interrupt', time: 1118536327.581048, label: 1 })
  t.equal(f.parse('- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected')?.label, 0)
})

t.test('bgl: the log,category,label CSV of bgl_random_lines_2k', async t => {
  const f = logFormat('bgl')
  const [header, ...rows] = head('bgl_random_lines_2k/train.csv', 400)
  t.ok(f.skip?.(header), 'header row skipped')
  t.ok(rows.every(r => f.parse(r) !== null), 'every row parses')
  t.equal(rows.filter(r => f.parse(r)?.label === 1).length, rows.filter(r => r.endsWith(',1')).length)
  t.same(f.parse('2005.06.19 R05-M1-N3-C:J15-U11 2005-06-19-00.34.33.890486 R05-M1-N3-C:J15-U11 RAS KERNEL INFO generating core.2808,normal,0'),
    { content: 'generating core.2808', time: Date.UTC(2005, 5, 19, 0, 34, 33) / 1000 + 0.890486, label: 0 })
})

t.test('content(): the content parse() gives, on every real line and on lines that do not fit', async t => {
  const all = (f: string): string[] => readFileSync(DATA + f, 'utf8').split(/\r?\n/).filter(l => l !== '')
  const odd = [
    '', 'no header at all', '081109 203530 147 INFO no colon here', '081109 203530 147 INFO a.B: ', '081109 203530 147 INFO a.B: x: y:  z',
    '081109 203530 147 INFO a.B: two\u2028lines', '081109 203530 147 INFO a.B: two\rlines', '- 1117838570 notadate R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO text',
    '- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO', '- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO  two  spaces',
    '- 1117838570 2005.06.03 R02 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO a\u2028b', 'x 12 2005.06.03 a b c d e f', '2005.06.19 R05 2005-06-19-00.34.33.890486 R05 RAS KERNEL INFO generating core.2808,normal,0',
  ]
  const cases: Array<[string, string[]]> = [
    ['hdfs', [...all('hdfs_loglead_2pct/HDFS_2pct.log'), ...all('loghub_2k/HDFS/HDFS_2k.log')]],
    ['bgl', [...all('loghub_2k/BGL/BGL_2k.log'), ...all('bgl_head_10k/BGL_head_10k.log'), ...all('bgl_random_lines_2k/train.csv')]],
  ]
  for (const [name, lines] of cases) {
    const f = logFormat(name as 'hdfs' | 'bgl')
    t.type(f.content, 'function', `${name} has content()`)
    const differ = [...lines, ...odd].filter(l => f.content!(l) !== (f.parse(l)?.content ?? null))
    t.same(differ, [], `${name}: ${lines.length} real and ${odd.length} odd lines, none differs`)
  }
})

t.test('thunderbird: label column and header stripped, component kept out of the content', async t => {
  const f = logFormat('thunderbird')
  const lines = head('loghub_2k/Thunderbird/Thunderbird_2k.log', 2000)
  t.ok(lines.every(l => f.parse(l) !== null), 'every line parses')
  t.same(f.parse('- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root'),
    { content: 'session closed for user root', time: 1131566461, label: 0 })
  t.same(f.parse('ECC 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 no colon here'), { content: 'no colon here', time: 1131566461, label: 1 })
})

t.test('--time-format patterns', async t => {
  t.equal(compileTimeFormat('yy/MM/dd HH:mm:ss')('17/06/09 20:10:40'), Date.UTC(2017, 5, 9, 20, 10, 40) / 1000)
  t.equal(compileTimeFormat('yyyy-MM-dd HH:mm:ss,SSS')('2015-10-18 18:01:47,978'), Date.UTC(2015, 9, 18, 18, 1, 47) / 1000 + 0.978)
  t.equal(compileTimeFormat('yyMMdd HHmmss')('081109 203530'), Date.UTC(2008, 10, 9, 20, 35, 30) / 1000)
  t.ok(Number.isNaN(compileTimeFormat('yyyy-MM-dd')('yesterday')))
  t.throws(() => compileTimeFormat('HH:mm'), /no year/)
})

t.test('time values: epoch seconds, epoch ms, ISO dates', async t => {
  t.equal(parseTimeValue('1117838570'), 1117838570)
  t.equal(parseTimeValue('1117838570123'), 1117838570.123)
  t.equal(parseTimeValue('2024-03-01T10:00:00Z'), 1709287200)
  t.ok(Number.isNaN(parseTimeValue('soon')))
})

t.test('progress: a redrawn bar on a terminal, plain lines otherwise', async t => {
  const plain: string[] = []
  const p = createProgress({ write: (s: string) => plain.push(s), isTTY: false })
  p.phase('parse', 100)
  for (let i = 1; i <= 100; i++) p.update(i)
  p.done('100 lines')
  t.same(plain.slice(0, 4), ['prepare: parse...\n', 'prepare: parse 25%\n', 'prepare: parse 50%\n', 'prepare: parse 75%\n'])
  t.match(plain[4], /^prepare: parse done in \d+\.\d\d s \(100 lines\)\n$/)
  t.ok(plain.every(s => !s.includes('\r')), 'no carriage returns in logs')
  const tty: string[] = []
  const q = createProgress({ write: (s: string) => tty.push(s), isTTY: true, columns: 80 })
  q.phase('parse', 10)
  t.match(tty[0], /^\rprepare parse \[\.+\]   0%$/)
  q.done()
  t.match(tty[tty.length - 1], /^\rprepare: parse done in .*\x1b\[K\n$/)
  const quiet: string[] = []
  const r = createProgress({ write: (s: string) => quiet.push(s) }, { quiet: true })
  r.phase('x', 1); r.update(1); r.done(); r.log('y')
  t.equal(quiet.length, 0)
})
