/**
 * Tag → source, as Fluent Bit matches: `*` matches any run of characters
 * (dots included), the rest literally. The first source whose pattern
 * matches wins; tags matching none pass through unscored. Results are cached
 * (tags are few), with the cache bounded.
 */
export interface Route<S> { patterns: readonly string[], source: S }

const toRegExp = (glob: string): RegExp =>
  new RegExp('^' + glob.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$')

export class Router<S> {
  private readonly compiled: Array<{ res: RegExp[], source: S }>
  private readonly cache = new Map<string, S | null>()

  constructor (routes: ReadonlyArray<Route<S>>, private readonly maxCache = 10_000) {
    this.compiled = routes.map(r => ({ res: r.patterns.map(toRegExp), source: r.source }))
  }

  route (tag: string): S | undefined {
    const hit = this.cache.get(tag)
    if (hit !== undefined) return hit ?? undefined
    const found = this.compiled.find(c => c.res.some(re => re.test(tag)))?.source ?? null
    if (this.cache.size >= this.maxCache) this.cache.clear()
    this.cache.set(tag, found)
    return found ?? undefined
  }
}
