/**
 * The README is what an operator reads: every error code the sidecar can log
 * and every metric it exports must be documented there, so a new code or
 * metric without a README line fails here instead of surprising someone at
 * 3 a.m. (plugin/errors.ts and plugin/metrics/catalog.ts say "keep in step";
 * this is what keeps them.)
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ErrorCodes } from '../../plugin/errors.js'
import { CATALOG, PREFIX } from '../../plugin/metrics/catalog.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('every error code is in the README', async t => {
  const missing = Object.keys(ErrorCodes).filter(code => !readme.includes(`\`${code}\``))
  t.same(missing, [], `${Object.keys(ErrorCodes).length} codes, each named in backquotes`)
})

t.test('every metric in the catalog is in the README', async t => {
  // as exported (fluent_anomaly_ prefix) or as the README names them elsewhere (without it)
  const missing = Object.keys(CATALOG).filter(name => !new RegExp(`(^|[^A-Za-z0-9_])(${PREFIX})?${name}(?![A-Za-z0-9_])`).test(readme))
  t.same(missing, [], `${Object.keys(CATALOG).length} metrics`)
})
