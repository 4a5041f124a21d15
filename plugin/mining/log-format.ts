/**
 * Loghub-style log formats: `<Date> <Time> <Level> <Component>: <Content>` names
 * the header fields of a raw line; Drain parses only `<Content>`. Same rules as
 * the Loghub benchmark's `generate_logformat_regex`: text between fields is a
 * regex fragment (so `\[<Pid>\]` and `(...)?` work) whose runs of spaces match any
 * whitespace, and each field matches lazily (`.*?`).
 */
import { MiningError } from './errors.js'

export interface LogFormat {
  readonly format: string
  readonly fields: readonly string[]
  readonly regex: RegExp
  /** All fields of `line`, or null when the line doesn't fit the format. */
  parse(line: string): Record<string, string> | null
  /** The `Content` field of `line` (trimmed), or null when the line doesn't fit. */
  content(line: string): string | null
}

export function compileLogFormat(format: string): LogFormat {
  const parts = format.split(/(<[^<>]+>)/)
  const fields: string[] = []
  let src = ''
  parts.forEach((p, k) => {
    if (k % 2 === 0) src += p.replace(/ +/g, '\\s+')
    else {
      const name = p.slice(1, -1).trim()
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || fields.includes(name)) {
        throw new MiningError('PRESETS_INVALID', `log format "${format}": bad or repeated field <${name}>`)
      }
      fields.push(name)
      src += `(?<${name}>.*?)`
    }
  })
  if (!fields.includes('Content')) throw new MiningError('PRESETS_INVALID', `log format "${format}" has no <Content> field`)
  let regex: RegExp
  try {
    regex = new RegExp(`^${src}$`)
  } catch (err) {
    throw new MiningError('PRESETS_INVALID', `log format "${format}": ${(err as Error).message}`, { cause: err })
  }
  return {
    format,
    fields,
    regex,
    parse(line) {
      const m = regex.exec(line.trim())
      if (m === null) return null
      const fields = { ...(m.groups as Record<string, string>) }
      fields.Content = fields.Content!.trim()
      return fields
    },
    content(line) {
      const m = regex.exec(line.trim())
      return m === null ? null : m.groups!.Content!.trim()
    },
  }
}
