/**
 * Template text and parameter values from template tokens and a tokenized line.
 * Internal tokens carry masked values as private-use placeholder characters
 * (masker.ts); a generalised position is the token `<*>`.
 */
import { isPlaceholderCode, renderPlaceholders } from './masker.js'
import type { Tokenizer } from './tokenize.js'

/** A generalised template position. */
export const WILDCARD = '<*>'

/** Template text: tokens joined by one space, every placeholder shown as `<*>`. */
export function render(tokens: readonly string[]): string {
  let s = ''
  for (let i = 0; i < tokens.length; i++) s += (i === 0 ? '' : ' ') + renderPlaceholders(tokens[i]!)
  return s
}

function countPlaceholders(s: string): number {
  let k = 0
  for (let i = 0; i < s.length; i++) if (isPlaceholderCode(s.charCodeAt(i))) k++
  return k
}

/** `token` with each placeholder replaced by the next masked value from `values[v]`. */
function restore(token: string, values: readonly string[], v: number): string {
  let s = ''
  let from = 0
  for (let i = 0; i < token.length; i++) {
    if (isPlaceholderCode(token.charCodeAt(i))) {
      s += token.slice(from, i) + values[v++]
      from = i + 1
    }
  }
  return s + token.slice(from)
}

/**
 * One value per `<*>` of the template: under a generalised `<*>` the whole original
 * token; under a masked placeholder its masked value. Where the line differs from a
 * template literal (possible in `match` only), the literal's placeholders get the
 * original token, then '' for any further ones, so the count always fits.
 */
export function extractParams(tpl: readonly string[], tok: Tokenizer, values: readonly string[]): string[] {
  const tokens = tok.tokens
  const ph = tok.placeholders
  const out: string[] = []
  let v = 0
  for (let i = 0; i < tpl.length; i++) {
    const t = tpl[i]!
    const k = ph[i]!
    if (t === WILDCARD) {
      out.push(k === 0 ? tokens[i]! : restore(tokens[i]!, values, v))
    } else if (k > 0 && t === tokens[i]) {
      for (let j = 0; j < k; j++) out.push(values[v + j]!)
    } else if (t !== tokens[i]) {
      const kt = countPlaceholders(t)
      for (let j = 0; j < kt; j++) out.push(j === 0 ? restore(tokens[i]!, values, v) : '')
    }
    v += k
  }
  return out
}
