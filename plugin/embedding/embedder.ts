/**
 * Template text -> unit vector, the same code in `prepare` and the sidecar.
 *
 *   vector(template) = normalise( sum_i idf(w_i) * v(w_i) )   over the words
 *                      w_i = tokenize(template)  (tokenize.ts)
 *
 * v(w), always unit length:
 *   1. w is in the vocabulary: its stored vector (pretrained word vector,
 *      mean-centred and renormalised at distillation, or
 *      for a training word the pretrained vectors do not know, the fallback
 *      below computed once at distillation).
 *   2. else, w splits into 2..4 vocabulary words of >= 3 letters each
 *      (`datanode` -> data + node, `namenode`, `blockmap`): the mean of their
 *      vectors. Log identifiers are mostly glued English words.
 *   3. else, character n-grams (fastText style, `<word>` with boundary marks,
 *      lengths ngramMin..ngramMax) hashed with FNV-1a into the n-gram table:
 *      the mean of their rows. Each row is the mean vector of the pretrained
 *      words that contain an n-gram hashing there, so `xceiver` lands near
 *      words sharing its pieces. Never zero, deterministic.
 * idf(w) is the stored IDF, or idf_default (the weight of a word seen in no
 * training template) for a word outside the vocabulary.
 * A template with no word at all (`<*> <*>`) gets the n-gram vector of its
 * whitespace-normalised text, so it is non-zero and differs from other shapes.
 *
 * Loading reads only the compact file (file-format.ts); the 290 MB pretrained
 * package is needed only by distill.ts.
 */
import { readFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { decodeEmbedderFile, type EmbedderMeta, type EmbedderTables } from './file-format.js'
import { decodeHalfArray } from './fp16.js'
import { fnv1a32 } from './hash.js'
import { tokenize, TOKENIZER_VERSION } from './tokenize.js'

/** Segmentation limits (fallback 2): pieces of at least 3 letters, at most 4 pieces, words up to 64 letters. */
const MIN_PIECE = 3
const MAX_PIECES = 4
const MAX_SEGMENT_LEN = 64
/** Unknown-word vectors are cached; the cache is cleared when it reaches this size (bounded memory in the sidecar). */
const UNKNOWN_CACHE_MAX = 65536

export type WordSource = 'vocab' | 'segments' | 'ngrams'

export interface EmbedderInit {
  meta: EmbedderMeta
  vocab: readonly string[]
  idf: Float32Array
  /** V*D float32, each row unit length */
  vectors: Float32Array
  /** B*D float32 */
  ngrams: Float32Array
}

export class Embedder {
  readonly meta: EmbedderMeta
  readonly dim: number
  readonly vocab: readonly string[]
  private readonly index = new Map<string, number>()
  private readonly idf: Float32Array
  private readonly vectors: Float32Array
  private readonly ngrams: Float32Array
  private readonly unknown = new Map<string, Float32Array>()

  constructor (init: EmbedderInit) {
    if (init.meta.tokenizer !== TOKENIZER_VERSION) {
      throw new Error(`embedder: file made with tokenizer ${init.meta.tokenizer}, this build has ${TOKENIZER_VERSION}; re-run prepare`)
    }
    this.meta = init.meta
    this.dim = init.meta.dim
    this.vocab = init.vocab
    this.idf = init.idf
    this.vectors = init.vectors
    this.ngrams = init.ngrams
    init.vocab.forEach((w, i) => { this.index.set(w, i) })
  }

  /** Vector of the whole template text (unit length, fresh array). */
  embed (templateText: string): Float32Array {
    const tokens = tokenize(templateText)
    if (tokens.length === 0) return this.ngramVector(templateText.trim().replace(/\s+/g, ' '))
    const out = new Float32Array(this.dim)
    for (const w of tokens) {
      const i = this.index.get(w)
      const weight = i === undefined ? this.meta.idfDefault : this.idf[i]
      if (i !== undefined) {
        const base = i * this.dim
        for (let d = 0; d < this.dim; d++) out[d] += weight * this.vectors[base + d]
      } else {
        const v = this.unknownVector(w)
        for (let d = 0; d < this.dim; d++) out[d] += weight * v[d]
      }
    }
    return normalise(out)
  }

  /** Unit vector of one token (already tokenized, lowercase). */
  wordVector (word: string): Float32Array {
    const i = this.index.get(word)
    if (i !== undefined) return this.vectors.slice(i * this.dim, (i + 1) * this.dim)
    return this.unknownVector(word).slice()
  }

  /** Which of the three rules gives `word` its vector (for diagnostics and tests). */
  wordSource (word: string): WordSource {
    if (this.index.has(word)) return 'vocab'
    return this.segment(word) !== undefined ? 'segments' : 'ngrams'
  }

  idfOf (word: string): number {
    const i = this.index.get(word)
    return i === undefined ? this.meta.idfDefault : this.idf[i]
  }

  /** Vocabulary split of `word` used by fallback 2, or undefined. */
  segment (word: string): string[] | undefined {
    const n = word.length
    if (n < 2 * MIN_PIECE || n > MAX_SEGMENT_LEN) return undefined
    // best[i] = fewest pieces covering word[0..i); from[i] = start of the last piece.
    const best = new Int32Array(n + 1).fill(MAX_PIECES + 1)
    const from = new Int32Array(n + 1).fill(-1)
    best[0] = 0
    for (let i = MIN_PIECE; i <= n; i++) {
      // j ascending: the longest last piece wins a tie, deterministically.
      for (let j = 0; j + MIN_PIECE <= i; j++) {
        if (best[j] + 1 >= best[i]) continue
        if (this.index.has(word.slice(j, i))) { best[i] = best[j] + 1; from[i] = j }
      }
    }
    if (best[n] < 2 || best[n] > MAX_PIECES) return undefined
    const pieces: string[] = []
    for (let i = n; i > 0; i = from[i]) pieces.unshift(word.slice(from[i], i))
    return pieces
  }

  private unknownVector (word: string): Float32Array {
    const hit = this.unknown.get(word)
    if (hit !== undefined) return hit
    const pieces = this.segment(word)
    let v: Float32Array
    if (pieces !== undefined) {
      v = new Float32Array(this.dim)
      for (const p of pieces) {
        const base = (this.index.get(p) as number) * this.dim
        for (let d = 0; d < this.dim; d++) v[d] += this.vectors[base + d]
      }
      normalise(v)
    } else {
      v = this.ngramVector(word)
    }
    if (this.unknown.size >= UNKNOWN_CACHE_MAX) this.unknown.clear()
    this.unknown.set(word, v)
    return v
  }

  /** Fallback 3: mean of the hashed n-gram rows of `<word>`, unit length. */
  ngramVector (word: string): Float32Array {
    const v = new Float32Array(this.dim)
    for (const g of charNgrams(word, this.meta.ngramMin, this.meta.ngramMax)) {
      const base = (fnv1a32(g) % this.meta.ngramBuckets) * this.dim
      for (let d = 0; d < this.dim; d++) v[d] += this.ngrams[base + d]
    }
    return normalise(v)
  }
}

/** fastText-style n-grams of `<word>`; a word shorter than ngramMin-2 yields the whole marked word. */
export function charNgrams (word: string, min: number, max: number): string[] {
  const chars = Array.from(`<${word}>`) // code points, not UTF-16 units
  const out: string[] = []
  for (let n = min; n <= max; n++) {
    for (let i = 0; i + n <= chars.length; i++) out.push(chars.slice(i, i + n).join(''))
  }
  if (out.length === 0) out.push(chars.join(''))
  return out
}

export function normalise (v: Float32Array): Float32Array {
  let s = 0
  for (let d = 0; d < v.length; d++) s += v[d] * v[d]
  if (s > 0) {
    const k = 1 / Math.sqrt(s)
    for (let d = 0; d < v.length; d++) v[d] *= k
  }
  return v
}

export function cosine (a: Float32Array, b: Float32Array): number {
  let ab = 0; let aa = 0; let bb = 0
  for (let d = 0; d < a.length; d++) { ab += a[d] * b[d]; aa += a[d] * a[d]; bb += b[d] * b[d] }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb)
}

export function embedderFromTables (t: EmbedderTables): Embedder {
  return new Embedder({
    meta: t.meta,
    vocab: t.vocab,
    idf: t.idf,
    vectors: decodeHalfArray(t.vectors, t.vocab.length * t.meta.dim),
    ngrams: decodeHalfArray(t.ngrams, t.meta.ngramBuckets * t.meta.dim),
  })
}

export function embedderFromBytes (bytes: Uint8Array, name?: string): Embedder {
  return embedderFromTables(decodeEmbedderFile(bytes, name))
}

/** Load a distilled embedder file (a few MB; no pretrained package needed). */
export async function loadEmbedder (file: string): Promise<Embedder> {
  return embedderFromBytes(await readFile(file), file)
}

export function loadEmbedderSync (file: string): Embedder {
  return embedderFromBytes(readFileSync(file), file)
}
