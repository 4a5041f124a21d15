/**
 * Stable template ids: the first 16 hex digits (64 bits) of SHA-256 over the
 * UTF-8 template text (`<*>` for every parameter, tokens joined by one space).
 *
 * Derived from content only, so the same template text gets the same id in every
 * Drain instance, after a snapshot/restore, in `prepare` and in the live sidecar,
 * and in any other language (Python: `hashlib.sha256(t.encode()).hexdigest()[:16]`).
 *
 * When Drain generalises a template (`change: 'changed'`), the template text and
 * therefore the id change: the new id is the hash of the new text and the old id
 * is reported once as `previousTemplateId`. Nothing else maps old ids to new ones,
 * which is why `prepare` assigns final ids with a second, non-learning pass.
 */
import { createHash } from 'node:crypto'

export function templateId(templateText: string): string {
  return createHash('sha256').update(templateText, 'utf8').digest('hex').slice(0, 16)
}

/**
 * Follows template-id changes to the current id of a cluster. Feed it every
 * `ParseResult`; `resolve(id)` gives the latest id the cluster behind `id` has.
 * This is how a consumer that kept ids from earlier lines (a bench, `prepare`)
 * groups them by final template without a second pass.
 */
export class TemplateIdAliases {
  private readonly next = new Map<string, string>()

  /** Records a result; returns its template id. */
  record(r: { templateId: string; previousTemplateId?: string }): string {
    if (r.previousTemplateId !== undefined && r.previousTemplateId !== r.templateId) {
      this.next.set(r.previousTemplateId, r.templateId)
    }
    return r.templateId
  }

  resolve(id: string): string {
    // Template text only gains `<*>`s, so a chain can't loop; the bound guards hand-fed input.
    for (let i = 0; i <= this.next.size; i++) {
      const n = this.next.get(id)
      if (n === undefined) return id
      id = n
    }
    return id
  }
}
