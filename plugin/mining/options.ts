/**
 * Drain options: types, defaults and validation in one place.
 */
import { MiningError } from './errors.js'
import { DEFAULT_MASKS, type MaskRule } from './masker.js'

export interface DrainOptions {
  /**
   * Depth of the prefix tree counting the root, the token-count layer and the leaf
   * layer, as in the Drain paper and Drain3: depth 4 routes on the first token,
   * depth 5 on the first two, ... Minimum 3 (route on token count only).
   */
  depth: number
  /** Similarity threshold in [0, 1]: share of non-`<*>` template tokens a line must equal. */
  similarity: number
  /** Maximum children per tree node; further tokens share the `<*>` child. */
  maxChildren: number
  /** Maximum clusters kept; the least recently used one is evicted beyond it. */
  maxClusters: number
  /** Characters or strings that split tokens besides whitespace. */
  extraDelimiters: string[]
  /** Ordered mask rules applied before tokenizing. */
  masks: MaskRule[]
  /** Route tokens that contain a digit to the `<*>` tree child (Drain3 default: true). */
  parametrizeNumericTokens?: boolean
}

/**
 * Defaults. Depth 5 / similarity 0.7 (Drain3 ships 4 / 0.4) is the single setting
 * with the best mean grouping accuracy over the 16 Loghub 2k systems in
 * bench/drain-accuracy.ts (see bench/RESULTS.md).
 */
export const DEFAULT_DRAIN_OPTIONS: Readonly<Required<DrainOptions>> = Object.freeze({
  depth: 5,
  similarity: 0.7,
  maxChildren: 100,
  maxClusters: 20_000,
  extraDelimiters: [],
  masks: [...DEFAULT_MASKS],
  parametrizeNumericTokens: true,
})

const KEYS = new Set(Object.keys(DEFAULT_DRAIN_OPTIONS))

const bad = (msg: string): never => {
  throw new MiningError('DRAIN_OPTIONS_INVALID', msg)
}

/** Fills defaults and validates; throws DRAIN_OPTIONS_INVALID naming the bad option. */
export function resolveDrainOptions(opts: Partial<DrainOptions> = {}): Required<DrainOptions> {
  for (const k of Object.keys(opts)) if (!KEYS.has(k)) bad(`unknown option "${k}"`)
  const o: Required<DrainOptions> = {
    depth: opts.depth ?? DEFAULT_DRAIN_OPTIONS.depth,
    similarity: opts.similarity ?? DEFAULT_DRAIN_OPTIONS.similarity,
    maxChildren: opts.maxChildren ?? DEFAULT_DRAIN_OPTIONS.maxChildren,
    maxClusters: opts.maxClusters ?? DEFAULT_DRAIN_OPTIONS.maxClusters,
    extraDelimiters: [...(opts.extraDelimiters ?? DEFAULT_DRAIN_OPTIONS.extraDelimiters)],
    masks: (opts.masks ?? DEFAULT_DRAIN_OPTIONS.masks).map((m) => ({ ...m })),
    parametrizeNumericTokens: opts.parametrizeNumericTokens ?? DEFAULT_DRAIN_OPTIONS.parametrizeNumericTokens,
  }
  if (!Number.isInteger(o.depth) || o.depth < 3) bad(`depth must be an integer >= 3, got ${o.depth}`)
  if (typeof o.similarity !== 'number' || !(o.similarity >= 0 && o.similarity <= 1)) {
    bad(`similarity must be in [0, 1], got ${o.similarity}`)
  }
  if (!Number.isInteger(o.maxChildren) || o.maxChildren < 2) bad(`maxChildren must be an integer >= 2, got ${o.maxChildren}`)
  if (!Number.isInteger(o.maxClusters) || o.maxClusters < 1) bad(`maxClusters must be an integer >= 1, got ${o.maxClusters}`)
  for (const d of o.extraDelimiters) {
    if (typeof d !== 'string' || d.length === 0) bad(`extraDelimiters must be non-empty strings, got ${JSON.stringify(d)}`)
  }
  if (typeof o.parametrizeNumericTokens !== 'boolean') bad('parametrizeNumericTokens must be a boolean')
  return o
}
