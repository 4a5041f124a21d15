import t from 'tap'
import { Drain } from '../../plugin/mining/drain.js'
import { BUILTIN_MASKS, DEFAULT_MASKS, Masker, opensAfterNonWord, renderPlaceholders, type MaskRule } from '../../plugin/mining/masker.js'
import { Tokenizer, tokenize } from '../../plugin/mining/tokenize.js'

const show = (text: string): string => renderPlaceholders(text)
const rule = (name: string, regex: string, placeholder?: string): MaskRule =>
  placeholder === undefined ? { name, regex } : { name, regex, placeholder }

t.test('default masks on a real HDFS line (Loghub HDFS_2k.log line 3): values come back in line order', async (t) => {
  const m = new Masker(DEFAULT_MASKS)
  const r = m.mask('BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864')
  t.equal(show(r.text), 'BLOCK* NameSystem.addStoredBlock: blockMap updated: <*>:<*> is added to <*> size <*>')
  t.same(r.values, ['10.251.73.220', '50010', 'blk_7128370237687728475', '67108864'])
})

t.test('each built-in rule', async (t) => {
  const cases: [string, string, string, string[]][] = [
    ['hdfs-block', 'deleting blk_-1608999687919862906 now', 'deleting <*> now', ['blk_-1608999687919862906']],
    ['uuid', 'instance 3edec1e4-9678-4a3a-a21b-a145a4ee5e61 spawned', 'instance <*> spawned', ['3edec1e4-9678-4a3a-a21b-a145a4ee5e61']],
    ['ipv4', 'from 192.168.0.1.', 'from <*>.', ['192.168.0.1']],
    ['path', 'open /var/log/messages: ok', 'open <*>: ok', ['/var/log/messages']],
    ['path', "key '\\\\?\\GLOBALROOT\\Device\\x'", "key '<*>'", ['\\\\?\\GLOBALROOT\\Device\\x']],
    ['hex', 'addr 0x7fed806eb5d and deadbeef12', 'addr <*> and <*>', ['0x7fed806eb5d', 'deadbeef12']],
    ['fqdn', 'rhost=ec2-52-80-34-196.compute.amazonaws.com', 'rhost=<*>', ['ec2-52-80-34-196.compute.amazonaws.com']],
    ['number', 'took -12 ms, 3.5 s, port 80', 'took <*> ms, <*> s, port <*>', ['-12', '3.5', '80']],
  ]
  for (const [name, line, text, values] of cases) {
    const r = new Masker([BUILTIN_MASKS[name]!]).mask(line)
    t.equal(show(r.text), text, name)
    t.same(r.values, values, name)
  }
  t.same(new Masker([BUILTIN_MASKS.number!]).mask('node7 v2 x1y').values, [], 'digits glued to letters are not numbers')
  t.same(new Masker([BUILTIN_MASKS.path!]).mask('src: /10.0.0.1:50010').values, [], 'one separator is not a path')
  t.same(new Masker([BUILTIN_MASKS.hex!]).mask('word deadbeef abcdefabc').values, [], 'hex needs a digit')
})

t.test('ordering: at one position the first listed rule wins; across positions the leftmost match wins', async (t) => {
  const int = rule('int', '\\d+')
  const dec = rule('dec', '\\d+\\.\\d+')
  t.same(new Masker([int, dec]).mask('v 1.5').values, ['1', '5'])
  t.same(new Masker([dec, int]).mask('v 1.5').values, ['1.5'])
  const foo = rule('foo', 'foo')
  const bar = rule('bar', 'bar')
  t.same(new Masker([bar, foo]).mask('foo bar').values, ['foo', 'bar'], 'values follow the line, not the rule list')
  // masked text is not scanned again: the IP is not also cut into numbers
  const r = new Masker([BUILTIN_MASKS.ipv4!, BUILTIN_MASKS.number!]).mask('10.0.0.1:80')
  t.same(r.values, ['10.0.0.1', '80'])
})

t.test('no rules: the line is untouched', async (t) => {
  const r = new Masker([]).mask('a 1 b 2')
  t.equal(r.text, 'a 1 b 2')
  t.same(r.values, [])
})

t.test('rules with capture groups of their own still report the right values', async (t) => {
  const m = new Masker([rule('kv', '(\\w+)=(\\d+)'), rule('word', '(?:x|y)+z')])
  const r = m.mask('a=1 xyz b=22')
  t.same(r.values, ['a=1', 'xyz', 'b=22'])
  t.equal(show(r.text), '<*> <*> <*>')
})

t.test('named placeholders keep kinds apart in Drain but render as <*>', async (t) => {
  const named = [{ ...BUILTIN_MASKS.ipv4!, placeholder: 'IP' }, { ...BUILTIN_MASKS.number!, placeholder: 'NUM' }]
  const d = new Drain({ depth: 3, similarity: 1, masks: named })
  const a = d.add('connect to 10.0.0.1')
  t.equal(d.add('connect to 10.0.0.2').change, 'none', 'two IPs are the same kind')
  const n = d.add('connect to 42')
  t.equal(n.change, 'created', 'an IP and a number are not')
  t.equal(n.template, 'connect to <*>')
  t.equal(n.templateId, a.templateId, 'same template text, same id')
  const shared = new Drain({ depth: 3, similarity: 1, masks: [BUILTIN_MASKS.ipv4!, BUILTIN_MASKS.number!] })
  shared.add('connect to 10.0.0.1')
  t.equal(shared.add('connect to 42').change, 'none', 'without names every mask is the same <*>')
})

t.test('bad rules are refused at construction with MASK_RULE_INVALID naming the rule', async (t) => {
  t.throws(() => new Masker([rule('broken', '(unclosed')]), { name: 'MiningError', code: 'MASK_RULE_INVALID', message: /broken/ })
  t.throws(() => new Masker([rule('empty', 'x*')]), { code: 'MASK_RULE_INVALID', message: /empty.*matches the empty string/ })
  t.throws(() => new Drain({ masks: [rule('broken', '[')] }), { code: 'MASK_RULE_INVALID' })
  t.throws(() => new Masker([rule('pair', '(\\w)\\1')]), { code: 'MASK_RULE_INVALID', message: /pair.*backreferences/ })
  t.same(new Masker([rule('x', 'a'), rule('pair', '(?<c>\\w)\\k<c>')]).mask('bee').values, ['ee'], 'named backreferences work')
  t.throws(() => new Masker([rule('a', '(?<v>a)'), rule('b', '(?<v>b)')]), { code: 'MASK_RULE_INVALID', message: /do not combine/ })
})

t.test('tokenizer: whitespace runs, tabs, extra delimiters, placeholder counts', async (t) => {
  t.same(tokenize('  a\tb   c \r\n'), ['a', 'b', 'c'])
  t.same(tokenize('k=v,w', ['=', ',']), ['k', 'v', 'w'])
  t.same(tokenize('a->b->c', ['->']), ['a', 'b', 'c'])
  t.same(tokenize('a§b', ['§']), ['a', 'b'], 'non-ASCII delimiter')
  t.same(tokenize(''), [])
  const tok = new Tokenizer()
  const m = new Masker(DEFAULT_MASKS).mask('from /10.0.0.1:80 to x')
  t.equal(tok.scan(m.text), 4)
  t.same(tok.placeholders, [0, 2, 0, 0])
  t.equal(tok.totalPlaceholders, 2)
})

t.test('opensAfterNonWord: only rules whose every match follows a non-word character (or the line start)', async (t) => {
  for (const r of Object.values(BUILTIN_MASKS)) t.ok(opensAfterNonWord(r.regex), `built-in ${r.name}`)
  t.ok(opensAfterNonWord('(?<![A-Za-z0-9])blk_-?\\d+(?:\\s+blk_-?\\d+)+(?![A-Za-z0-9])'), 'a group with | inside is fine')
  t.ok(opensAfterNonWord(`(?<![^\\s'"])x`), 'previous character one of whitespace and quotes')
  for (const src of [
    'blk_\\d+', // no lookbehind
    '(?<![A-Za-z0-9])a|b', // the second branch is not bound
    '(?<![A-Za-z0-9]x)a', // two-character lookbehind
    '(?<![A-Z])a', // digits and lower case allowed before
    '(?<![^a ])x', // "a" allowed before
    '(?<![^\\w])x', // \w allowed before
    '(?<![^ -~])x', // a range
    '(?<=[ ])x', // positive lookbehind: not recognised, so false (conservative)
  ]) t.notOk(opensAfterNonWord(src), src)
  // a rule that can match inside a word keeps the plain alternation: its matches are not lost
  const glued = rule('glued', 'x\\d+')
  t.same(new Masker([BUILTIN_MASKS.number!, glued]).mask('ax12 7').values, ['x12', '7'])
  t.same(new Masker([BUILTIN_MASKS.number!, glued]).mask('ax12 7').values, new Masker([BUILTIN_MASKS.number!, glued], { prefilter: false }).mask('ax12 7').values)
})
