/**
 * Drain state as plain JSON-able data, versioned. The tree is stored as is (not
 * rebuilt from the templates) because its shape depends on the order lines came
 * in (`maxChildren` overflow), and a restored parser must route exactly like the
 * one that was saved. Clusters are listed least recently used first, so the LRU
 * order survives too.
 */
import { MiningError } from './errors.js'
import type { DrainOptions } from './options.js'
import type { Cluster, Drain, TreeNode } from './drain.js'

export const SNAPSHOT_FORMAT = 'fluent-anomaly/drain-snapshot'
export const SNAPSHOT_VERSION = 1

export interface SnapshotCluster {
  seq: number
  /** Informational and checked on restore: must equal the hash of the template. */
  templateId: string
  template: string
  /** Internal tokens; masked values are private-use placeholder characters. */
  tokens: string[]
  size: number
}

export interface SnapshotNode {
  key: string
  children?: SnapshotNode[]
  /** Cluster `seq`s held by a leaf, in match order. */
  clusters?: number[]
}

export interface DrainSnapshot {
  format: typeof SNAPSHOT_FORMAT
  version: number
  options: Required<DrainOptions>
  nextSeq: number
  /** Least recently used first. */
  clusters: SnapshotCluster[]
  /** Token-count layer of the prefix tree. */
  tree: SnapshotNode[]
}

export function toSnapshot(d: Drain): DrainSnapshot {
  const clusters: SnapshotCluster[] = []
  for (let c = d.head; c !== null; c = c.next) {
    clusters.push({ seq: c.seq, templateId: c.id, template: c.text, tokens: [...c.tokens], size: c.size })
  }
  const node = (n: TreeNode): SnapshotNode => {
    const out: SnapshotNode = { key: n.key }
    if (n.children !== null && n.children.size > 0) out.children = [...n.children.values()].map(node)
    if (n.clusters !== null && n.clusters.length > 0) out.clusters = n.clusters.map((c) => c.seq)
    return out
  }
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    options: structuredClone({ ...d.options }),
    nextSeq: d.nextSeq,
    clusters,
    tree: [...d.lengths.values()].map(node),
  }
}

const invalid = (msg: string, cause?: unknown): never => {
  throw new MiningError('DRAIN_SNAPSHOT_INVALID', msg, cause === undefined ? undefined : { cause })
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** Checks the header of a parsed snapshot: format marker, then version. */
export function checkSnapshotHeader(s: unknown): asserts s is DrainSnapshot {
  if (!isObject(s) || s.format !== SNAPSHOT_FORMAT) {
    throw new MiningError('DRAIN_SNAPSHOT_CORRUPT', `not a Drain snapshot (expected "format": "${SNAPSHOT_FORMAT}")`)
  }
  if (s.version !== SNAPSHOT_VERSION) {
    throw new MiningError(
      'DRAIN_SNAPSHOT_VERSION',
      `Drain snapshot version ${JSON.stringify(s.version)} is not supported; this build reads version ${SNAPSHOT_VERSION}`,
    )
  }
}

export function fromSnapshot(s: DrainSnapshot, make: (o: Partial<DrainOptions>) => Drain): Drain {
  checkSnapshotHeader(s)
  let d: Drain
  try {
    d = make(s.options)
  } catch (err) {
    return invalid(`bad options: ${(err as Error).message}`, err)
  }
  if (!Array.isArray(s.clusters) || !Array.isArray(s.tree)) invalid('"clusters" and "tree" must be arrays')
  if (s.clusters.length > d.options.maxClusters) invalid(`${s.clusters.length} clusters exceed maxClusters ${d.options.maxClusters}`)
  const bySeq = new Map<number, Cluster>()
  for (const sc of s.clusters) {
    if (!isObject(sc) || !Number.isInteger(sc.seq) || !Number.isInteger(sc.size) || !Array.isArray(sc.tokens)) {
      invalid(`bad cluster entry ${JSON.stringify(sc)?.slice(0, 200)}`)
    }
    if (!sc.tokens.every((t) => typeof t === 'string') || bySeq.has(sc.seq)) invalid(`bad or duplicate cluster ${sc.seq}`)
    const c = d.createCluster([...sc.tokens], sc.size, sc.seq)
    if (c.id !== sc.templateId) invalid(`cluster ${sc.seq}: template id ${sc.templateId} does not match its template (${c.id})`)
    bySeq.set(sc.seq, c)
  }
  const placed = new Set<number>()
  const build = (sn: SnapshotNode, parent: TreeNode | null, length: number, level: number): TreeNode => {
    if (!isObject(sn) || typeof sn.key !== 'string') return invalid('bad tree node')
    if (level > d.options.depth - 2) invalid(`tree deeper than depth ${d.options.depth}`)
    const node: TreeNode = { key: sn.key, parent, children: null, clusters: null }
    if (sn.children !== undefined) {
      node.children = new Map()
      for (const child of sn.children) node.children.set(child.key, build(child, node, length, level + 1))
    }
    if (sn.clusters !== undefined) {
      node.clusters = sn.clusters.map((seq) => {
        const c = bySeq.get(seq)
        if (c === undefined || placed.has(seq)) return invalid(`tree names unknown or repeated cluster ${seq}`)
        if (c.tokens.length !== length) invalid(`cluster ${seq} has ${c.tokens.length} tokens but sits under length ${length}`)
        placed.add(seq)
        c.leaf = node
        return c
      })
    }
    return node
  }
  for (const sn of s.tree) {
    const length = Number(sn?.key)
    if (!Number.isInteger(length) || length < 0 || d.lengths.has(length)) invalid(`bad token-count node ${JSON.stringify(sn?.key)}`)
    d.lengths.set(length, build(sn, null, length, 1))
  }
  if (placed.size !== bySeq.size) invalid(`${bySeq.size - placed.size} clusters are not in the tree`)
  for (const c of bySeq.values()) d.link(c) // Map keeps insertion order: least recently used first
  let maxSeq = 0
  for (const seq of bySeq.keys()) if (seq > maxSeq) maxSeq = seq
  if (!Number.isInteger(s.nextSeq) || s.nextSeq <= maxSeq) invalid(`nextSeq ${s.nextSeq} must exceed every cluster seq`)
  d.nextSeq = s.nextSeq
  return d
}
