/**
 * Template text -> lowercase word tokens for the embedder.
 *
 * 1. Drain's wildcard `<*>` is removed (a parameter carries no word meaning;
 *    its value goes to Log-Attention via param-buckets.ts instead).
 * 2. The text is split on everything that is not a letter or a digit
 *    (whitespace, punctuation, `_`, `-`, `.`, `/`, `$`, ...): snake_case,
 *    dotted.names and paths come apart.
 * 3. Each run is split at camelCase boundaries: `allocateBlock` -> allocate
 *    block, `DataXceiver` -> data xceiver, `HTTPServer` -> http server,
 *    `IOException` -> io exception. Digits stay with the letters before them
 *    (`utf8`, `r02`, `0x1f`), so codes are not shredded into single digits.
 * 4. Lowercase.
 *
 * Versioned: a change to these rules changes vectors, so the embedder file
 * records TOKENIZER_VERSION and refuses a mismatch.
 */
export const TOKENIZER_VERSION = 'v1'

const WILDCARD = /<\*>/g
const RUNS = /[\p{L}\p{N}]+/gu
// An acronym before a capitalised word | optional capital + lowercase/digits | capitals/digits | digits+lowercase
const PARTS = /\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?[\p{Ll}\p{N}]+|\p{Lu}[\p{Lu}\p{N}]*|[\p{N}\p{Ll}]+/gu

export function tokenize (text: string): string[] {
  const out: string[] = []
  const runs = text.replace(WILDCARD, ' ').match(RUNS)
  if (runs === null) return out
  for (const run of runs) {
    const parts = run.match(PARTS)
    if (parts === null) {
      out.push(run.toLowerCase()) // letters without case (CJK, ...) stay whole
      continue
    }
    for (const p of parts) out.push(p.toLowerCase())
  }
  return out
}
