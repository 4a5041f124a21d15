/**
 * Streaming Drain log parser (He et al., "Drain: An Online Log Parsing Approach
 * with Fixed Depth Tree", ICWS 2017; behaviour follows Drain3 where they differ).
 *
 *   line ─▶ mask (one combined regex) ─▶ tokenize (hand scan)
 *        ─▶ token count ─▶ first (depth-3) tokens ─▶ leaf: clusters
 *        ─▶ most similar cluster ≥ similarity ? update template : new cluster
 *
 * Pure: no I/O, no timers, no clock. State is the prefix tree plus an LRU list of
 * clusters bounded by `maxClusters`; `snapshot()`/`restore()` round-trip it (the
 * file I/O lives in snapshot.ts).
 *
 * Template ids are a hash of the template text (template-id.ts): when a template is
 * generalised its id changes, and the result says so (`change: 'changed'`,
 * `previousTemplateId`).
 */
import { Masker, sanitize, isPlaceholderCode } from './masker.js'
import { WILDCARD, extractParams, render } from './params.js'
import { resolveDrainOptions, type DrainOptions } from './options.js'
import { Tokenizer } from './tokenize.js'
import { templateId } from './template-id.js'
import { fromSnapshot, toSnapshot, type DrainSnapshot } from './drain-snapshot.js'

export type { DrainOptions } from './options.js'
export type { DrainSnapshot } from './drain-snapshot.js'
export { WILDCARD } from './params.js'

export type ChangeType = 'created' | 'changed' | 'none'

export interface ParseResult {
  templateId: string
  /** Template text, `<*>` for each parameter. */
  template: string
  /** One value per `<*>` of `template`, in order: masked values and generalised tokens. */
  params: string[]
  change: ChangeType
  /** Only when `change === 'changed'`: the id the cluster had before this line. */
  previousTemplateId?: string
}

export interface TemplateInfo {
  templateId: string
  template: string
  /** Lines assigned to the cluster by `add`. */
  size: number
}

/** @internal */
export interface TreeNode {
  key: string
  parent: TreeNode | null
  children: Map<string, TreeNode> | null
  clusters: Cluster[] | null
}

/** @internal */
export interface Cluster {
  seq: number
  tokens: string[]
  text: string
  id: string
  size: number
  leaf: TreeNode
  prev: Cluster | null
  next: Cluster | null
}

export class Drain {
  readonly options: Readonly<Required<DrainOptions>>
  private readonly masker: Masker
  private readonly tok: Tokenizer
  /** @internal root of the tree: token count → node */
  lengths = new Map<number, TreeNode>()
  /** @internal LRU list: head = least recently used */
  head: Cluster | null = null
  /** @internal */
  tail: Cluster | null = null
  /** @internal */
  count = 0
  /** @internal */
  nextSeq = 1

  constructor(opts: Partial<DrainOptions> = {}) {
    this.options = Object.freeze(resolveDrainOptions(opts))
    this.masker = new Masker(this.options.masks)
    this.tok = new Tokenizer(this.options.extraDelimiters)
  }

  /** Number of clusters (templates) currently held. */
  get size(): number {
    return this.count
  }

  /** Parses `line` and learns from it. */
  add(line: string): ParseResult {
    const values = this.prepare(line)
    const tokens = this.tok.tokens
    let c = this.search(tokens)
    if (c === null) {
      if (this.count >= this.options.maxClusters) this.evict(this.head!)
      c = this.createCluster(tokens.slice(), 1)
      this.insert(c)
      return this.result(c, values, 'created')
    }
    c.size++
    this.touch(c)
    const t = c.tokens
    let changed = false
    for (let i = 0; i < t.length; i++) {
      if (t[i] !== tokens[i] && t[i] !== WILDCARD) {
        t[i] = WILDCARD
        changed = true
      }
    }
    if (!changed) return this.result(c, values, 'none')
    const text = render(t)
    // Two named placeholders generalised to `<*>` render the same: not a visible change.
    if (text === c.text) return this.result(c, values, 'none')
    const previous = c.id
    c.text = text
    c.id = templateId(text)
    const r = this.result(c, values, 'changed')
    r.previousTemplateId = previous
    return r
  }

  /**
   * Finds the cluster `add` would pick for `line`, without learning: no new
   * cluster, no template update, no LRU refresh. `null` when no cluster is similar
   * enough. Use it for a second pass that assigns final ids to lines already seen.
   */
  match(line: string): ParseResult | null {
    const values = this.prepare(line)
    const c = this.search(this.tok.tokens)
    return c === null ? null : this.result(c, values, 'none')
  }

  /** The templates held, oldest cluster first. */
  templates(): TemplateInfo[] {
    const out: { seq: number; info: TemplateInfo }[] = []
    for (let c = this.head; c !== null; c = c.next) {
      out.push({ seq: c.seq, info: { templateId: c.id, template: c.text, size: c.size } })
    }
    return out.sort((a, b) => a.seq - b.seq).map((x) => x.info)
  }

  snapshot(): DrainSnapshot {
    return toSnapshot(this)
  }

  static restore(s: DrainSnapshot): Drain {
    return fromSnapshot(s, (opts) => new Drain(opts))
  }

  // ── internals ────────────────────────────────────────────────────────────

  /** Masks and tokenizes `line` into `this.tok`; returns the masked values. */
  private prepare(line: string): string[] {
    let m = this.masker.mask(line)
    this.tok.scan(m.text)
    if (this.tok.totalPlaceholders !== m.values.length) {
      // The raw line carried private-use characters; neutralise them and redo.
      m = this.masker.mask(sanitize(line))
      this.tok.scan(m.text)
    }
    return m.values
  }

  private search(tokens: string[]): Cluster | null {
    const n = tokens.length
    let node = this.lengths.get(n)
    if (node === undefined) return null
    const maxDepth = this.options.depth - 2
    for (let depth = 1; depth < maxDepth && depth < n; depth++) {
      const children: Map<string, TreeNode> | null = node.children
      if (children === null) return null
      const next: TreeNode | undefined = children.get(tokens[depth - 1]!) ?? children.get(WILDCARD)
      if (next === undefined) return null
      node = next
    }
    const clusters = node.clusters
    if (clusters === null || clusters.length === 0) return null
    if (n === 0) return clusters[0]!
    let best: Cluster | null = null
    let bestSim = -1
    let bestParams = -1
    for (let j = 0; j < clusters.length; j++) {
      const c = clusters[j]!
      const t = c.tokens
      let sim = 0
      let params = 0
      for (let i = 0; i < n; i++) {
        const a = t[i]
        if (a === WILDCARD) params++
        else if (a === tokens[i]) sim++
      }
      if (sim > bestSim || (sim === bestSim && params > bestParams)) {
        best = c
        bestSim = sim
        bestParams = params
      }
    }
    return bestSim / n >= this.options.similarity ? best : null
  }

  /** @internal */
  createCluster(tokens: string[], size: number, seq = this.nextSeq++): Cluster {
    const text = render(tokens)
    return { seq, tokens, text, id: templateId(text), size, leaf: null as unknown as TreeNode, prev: null, next: null }
  }

  /** Adds a new cluster to the tree (Drain3 `add_seq_to_prefix_tree`) and to the LRU tail. */
  private insert(c: Cluster): void {
    const tokens = c.tokens
    const n = tokens.length
    const { depth: treeDepth, maxChildren, parametrizeNumericTokens } = this.options
    let node = this.lengths.get(n)
    if (node === undefined) {
      node = { key: String(n), parent: null, children: null, clusters: null }
      this.lengths.set(n, node)
    }
    const maxDepth = treeDepth - 2
    for (let depth = 1; depth < maxDepth && depth < n; depth++) {
      const token = tokens[depth - 1]!
      const children: Map<string, TreeNode> = (node.children ??= new Map())
      let next = children.get(token)
      if (next === undefined) {
        if (isParam(token, parametrizeNumericTokens)) {
          next = children.get(WILDCARD) ?? addChild(node, WILDCARD)
        } else if (children.has(WILDCARD)) {
          next = children.size < maxChildren ? addChild(node, token) : children.get(WILDCARD)!
        } else if (children.size + 1 < maxChildren) {
          next = addChild(node, token)
        } else if (children.size + 1 === maxChildren) {
          next = addChild(node, WILDCARD)
        } else {
          next = children.get(WILDCARD) ?? addChild(node, WILDCARD)
        }
      }
      node = next
    }
    ;(node.clusters ??= []).push(c)
    c.leaf = node
    this.link(c)
  }

  /** @internal appends `c` at the most-recently-used end. */
  link(c: Cluster): void {
    c.prev = this.tail
    c.next = null
    if (this.tail !== null) this.tail.next = c
    else this.head = c
    this.tail = c
    this.count++
  }

  private unlink(c: Cluster): void {
    if (c.prev !== null) c.prev.next = c.next
    else this.head = c.next
    if (c.next !== null) c.next.prev = c.prev
    else this.tail = c.prev
    c.prev = c.next = null
    this.count--
  }

  private touch(c: Cluster): void {
    if (this.tail === c) return
    this.unlink(c)
    this.link(c)
  }

  /** Removes `c` and prunes tree nodes left empty, so memory stays bounded. */
  private evict(c: Cluster): void {
    this.unlink(c)
    const list = c.leaf.clusters!
    list.splice(list.indexOf(c), 1)
    let node: TreeNode | null = c.leaf
    while (node !== null && (node.clusters === null || node.clusters.length === 0) && (node.children === null || node.children.size === 0)) {
      const parent: TreeNode | null = node.parent
      if (parent === null) this.lengths.delete(Number(node.key))
      else parent.children!.delete(node.key)
      node = parent
    }
  }

  private result(c: Cluster, values: string[], change: ChangeType): ParseResult {
    return { templateId: c.id, template: c.text, params: extractParams(c.tokens, this.tok, values), change }
  }
}

function addChild(parent: TreeNode, key: string): TreeNode {
  const child: TreeNode = { key, parent, children: null, clusters: null }
  parent.children!.set(key, child)
  return child
}

/** Tokens that never get their own tree child: wildcards, masked values, and (optionally) tokens with digits. */
function isParam(token: string, numeric: boolean): boolean {
  if (token === WILDCARD) return true
  if (token.length === 1 && isPlaceholderCode(token.charCodeAt(0))) return true
  if (!numeric) return false
  for (let i = 0; i < token.length; i++) {
    const ch = token.charCodeAt(i)
    if (ch >= 48 && ch <= 57) return true
  }
  return false
}
