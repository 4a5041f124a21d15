/** One schema: defaults, units, unknown keys, every error at once with its path, env refs, frozen result. */
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, parseConfig } from '../../config/load.js'

const tmp = mkdtempSync(join(tmpdir(), 'fa-config-'))
const file = (name: string, text: string): string => { const p = join(tmp, name); writeFileSync(p, text); return p }

t.test('config/default.yaml is valid and has the ports everyone assumes', async t => {
  const c = loadConfig(new URL('../../config/default.yaml', import.meta.url).pathname)
  t.equal(c.input.forward.listen, '127.0.0.1')
  t.equal(c.input.forward.port, 24224)
  t.equal(c.output.forward.host, '127.0.0.1')
  t.equal(c.output.forward.port, 24225)
  t.equal(c.input.forward.max_frame_size, 6 * 1024 * 1024, '6M = Fluent Bit buffer_max_size')
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.input.forward), 'frozen')
})

t.test('defaults and units', async t => {
  const c = parseConfig({ output: { forward: { ack_timeout: '2m', max_chunk_size: '512K' } } })
  t.equal(c.output.forward.ack_timeout, 120_000)
  t.equal(c.output.forward.max_chunk_size, 512 * 1024)
  t.equal(c.output.forward.retry_initial, 500)
  t.equal(c.limits.max_pending_records, 100_000)
})

t.test('every bad key is reported at once, with its path', async t => {
  const p = file('bad.yaml', [
    'input:',
    '  forward:',
    '    port: 99999',
    '    max_frame_size: lots',
    '    colour: blue',
    'output:',
    '  forward:',
    '    compress: zstd',
    '    tls: { enabled: true, verfy: false }',
    'extra: 1',
  ].join('\n'))
  const err = t.throws(() => loadConfig(p)) as ConfigError
  t.equal(err.code, 'CONFIG_INVALID')
  t.same(err.issues.map(i => i.path).sort(), ['extra', 'input.forward.colour', 'input.forward.max_frame_size', 'input.forward.port', 'output.forward.compress', 'output.forward.tls.verfy'].sort())
  t.match(err.message, /6 invalid keys/)
  t.match(err.message, /input\.forward\.colour: unknown key/)
})

t.test('cross-field rules name the key to fix', async t => {
  const err = t.throws(() => parseConfig({ input: { forward: { tls: { enabled: true } } } })) as ConfigError
  t.match(err.issues, [{ path: 'input.forward.tls.cert_file', message: /needs cert_file and key_file/ }])
})

t.test('missing file, YAML syntax error', async t => {
  t.throws(() => loadConfig(join(tmp, 'nope.yaml')), { code: 'CONFIG_NOT_FOUND' })
  t.throws(() => loadConfig(file('syntax.yaml', 'input: [unclosed\n')), { code: 'CONFIG_PARSE' })
})

t.test('${ENV} references keep secrets out of the file', async t => {
  const c = parseConfig({ input: { forward: { security: { shared_key: '${FA_KEY}' } } } }, 'x', { FA_KEY: 's3cr3t' })
  t.equal(c.input.forward.security?.shared_key, 's3cr3t')
  const err = t.throws(() => parseConfig({ output: { forward: { security: { shared_key: '${FA_MISSING}' } } } }, 'x', {})) as ConfigError
  t.match(err.issues, [{ path: 'output.forward.security.shared_key', message: /FA_MISSING is not set/ }])
})
