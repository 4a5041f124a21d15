/**
 * Tokenizer for Drain: splits a (masked) line on whitespace and on the configured
 * extra delimiters, like Drain3's `content.replace(d, ' ')` + `split()`.
 *
 * One hand scan per line, no regex: single-character delimiters go into a lookup
 * table; multi-character ones are first replaced by a space.
 * While scanning it counts the placeholder characters of each token (see
 * masker.ts), which Drain needs to hand the masked values back in order.
 */
import { isPlaceholderCode } from './masker.js'

export class Tokenizer {
  readonly extraDelimiters: readonly string[]
  /** Tokens of the last `scan`; valid until the next call (reused to avoid allocation). */
  readonly tokens: string[] = []
  /** Placeholder count per token of the last `scan`. */
  readonly placeholders: number[] = []
  /** Total placeholder count of the last `scan`. */
  totalPlaceholders = 0
  private readonly ascii = new Uint8Array(128)
  private readonly wideChars: Set<number>
  private readonly multi: string[]

  constructor(extraDelimiters: readonly string[] = []) {
    this.extraDelimiters = [...extraDelimiters]
    this.wideChars = new Set()
    this.multi = []
    for (const c of [' ', '\t', '\n', '\r', '\f', '\v']) this.ascii[c.charCodeAt(0)] = 1
    for (const d of this.extraDelimiters) {
      if (d.length === 1) {
        const c = d.charCodeAt(0)
        if (c < 128) this.ascii[c] = 1
        else this.wideChars.add(c)
      } else if (d.length > 1) {
        this.multi.push(d)
      }
    }
  }

  /** Tokenizes `text` into `this.tokens` / `this.placeholders`; returns the token count. */
  scan(text: string): number {
    for (const d of this.multi) text = text.split(d).join(' ')
    const tokens = this.tokens
    const ph = this.placeholders
    const ascii = this.ascii
    const wide = this.wideChars
    const checkWide = wide.size > 0
    let n = 0
    let total = 0
    let start = -1
    let count = 0
    const len = text.length
    for (let i = 0; i < len; i++) {
      const c = text.charCodeAt(i)
      const isDelim = c < 128 ? ascii[c] === 1 : checkWide && wide.has(c)
      if (isDelim) {
        if (start >= 0) {
          tokens[n] = text.slice(start, i)
          ph[n++] = count
          total += count
          start = -1
        }
      } else {
        if (start < 0) {
          start = i
          count = 0
        }
        if (c >= 0xe000 && isPlaceholderCode(c)) count++
      }
    }
    if (start >= 0) {
      tokens[n] = text.slice(start)
      ph[n++] = count
      total += count
    }
    tokens.length = n
    ph.length = n
    this.totalPlaceholders = total
    return n
  }
}

/** Convenience form: the tokens of `text` as a new array. */
export function tokenize(text: string, extraDelimiters: readonly string[] = []): string[] {
  const t = new Tokenizer(extraDelimiters)
  t.scan(text)
  return [...t.tokens]
}
