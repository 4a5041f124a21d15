/**
 * Load, validate and freeze a config file. A missing file is an error; YAML
 * errors carry line and column; schema errors are all reported at once, one
 * per key path. `${NAME}` in a string value is replaced by the environment
 * variable NAME (as in Fluent Bit), so secrets stay out of the file.
 */
import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { FluentAnomalyError } from '../plugin/errors.js'
import { configSchema, type Config } from './schema.js'

export interface ConfigIssue { path: string, message: string }

export class ConfigError extends FluentAnomalyError {
  constructor (code: 'CONFIG_NOT_FOUND' | 'CONFIG_PARSE' | 'CONFIG_INVALID', message: string, readonly issues: ConfigIssue[] = [], cause?: unknown) {
    super(code, message, { cause })
    this.name = 'ConfigError'
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

function substituteEnv (value: unknown, path: string, env: NodeJS.ProcessEnv, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_, name: string) => {
      const v = env[name]
      if (v === undefined) { issues.push({ path: path || '(root)', message: `environment variable ${name} is not set` }); return '' }
      return v
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, `${path}[${i}]`, env, issues))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, path ? `${path}.${k}` : k, env, issues)]))
  }
  return value
}

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}

/** Validate an already-parsed object (tests and embedders use this). */
export function parseConfig (raw: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const issues: ConfigIssue[] = []
  const substituted = substituteEnv(raw ?? {}, '', env, issues)
  const result = configSchema.safeParse(substituted)
  if (!result.success) {
    for (const i of result.error.issues) {
      const base = i.path.join('.')
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) issues.push({ path: base ? `${base}.${k}` : k, message: 'unknown key' })
      } else issues.push({ path: base || '(root)', message: i.message })
    }
  }
  if (issues.length > 0) {
    const lines = issues.map(i => `  ${i.path}: ${i.message}`).join('\n')
    throw new ConfigError('CONFIG_INVALID', `${source}: ${issues.length} invalid key${issues.length > 1 ? 's' : ''}:\n${lines}`, issues)
  }
  return deepFreeze(result.data as Config)
}

export function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError('CONFIG_NOT_FOUND', `cannot read config file ${file}: ${(e as Error).message}`, [], e)
  }
  const doc = parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new ConfigError('CONFIG_PARSE', `${file}: ${doc.errors.map(e => e.message).join('\n')}`, [], doc.errors[0])
  }
  return parseConfig(doc.toJS(), file, env)
}
