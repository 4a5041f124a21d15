import t from 'tap'
import { tokenize } from '../../plugin/embedding/tokenize.js'

t.test('camelCase and PascalCase split into words', async t => {
  t.same(tokenize('NameSystem.allocateBlock'), ['name', 'system', 'allocate', 'block'])
  t.same(tokenize('dfs.DataNode$DataXceiver'), ['dfs', 'data', 'node', 'data', 'xceiver'])
  t.same(tokenize('writeBlock'), ['write', 'block'])
})

t.test('acronyms stay whole and split from the next word', async t => {
  t.same(tokenize('HTTPServer IOException getHTTPResponse'), ['http', 'server', 'io', 'exception', 'get', 'http', 'response'])
  t.same(tokenize('RAS KERNEL FATAL'), ['ras', 'kernel', 'fatal'])
})

t.test('snake_case, kebab-case, dots, slashes and other punctuation split', async t => {
  t.same(tokenize('max_open_files'), ['max', 'open', 'files'])
  t.same(tokenize('java.io.IOException: Could not read from stream'), ['java', 'io', 'io', 'exception', 'could', 'not', 'read', 'from', 'stream'])
  t.same(tokenize('double-hummer (alignment) [exceptions], ok;done'), ['double', 'hummer', 'alignment', 'exceptions', 'ok', 'done'])
  t.same(tokenize('/var/log/app.log'), ['var', 'log', 'app', 'log'])
})

t.test('<*> wildcards are dropped, also when glued to words', async t => {
  t.same(tokenize('Receiving block <*> src: <*> dest: <*>'), ['receiving', 'block', 'src', 'dest'])
  t.same(tokenize('<*>Served block<*>to<*>'), ['served', 'block', 'to'])
  t.same(tokenize('<*> <*>'), [])
  t.same(tokenize(''), [])
})

t.test('digits stay with their word; everything is lowercased', async t => {
  t.same(tokenize('utf8 x86 R02-M1 0x1f'), ['utf8', 'x86', 'r02', 'm1', '0x1f'])
  t.same(tokenize('ÜBER straße'), ['über', 'straße'])
})
