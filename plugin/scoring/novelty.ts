/**
 * `anomaly.new_template` (issue 16): true on the first record, per source, of
 * a template the bundle's parser snapshot does not hold, false on every other.
 * What CloudWatch / Datadog pattern alerts give an SRE: "a kind of line this
 * service never wrote before", whatever the model thinks of its window.
 *
 * Cheap on the hot path: the sidecar's Drain `match`es first and learns only
 * when nothing matches (features.ts), so a line whose template Drain already
 * holds (`learned` false) is either from the snapshot or already reported:
 * no lookup at all, unless a first record went out without anomaly fields.
 * Template ids hash the template text; the sidecar never generalises a
 * template it holds (match first), so a template keeps its id while the
 * source runs. A template that Drain's LRU evicted and learns again is not
 * new again (its id is remembered); nor is a snapshot template.
 */
export class TemplateNovelty {
  private readonly known: ReadonlySet<string>
  /** Ids reported new since start (bounded: the oldest is forgotten past `max`). */
  private readonly seen = new Set<string>()
  /** New ids whose first record went on without anomaly fields (no window key, not scored): the next record of the template is the first one reported. */
  private readonly unreported = new Set<string>()

  constructor (known: Iterable<string>, private readonly max = 100_000) {
    this.known = new Set(known)
  }

  /** Whether this record is the first of a template new to the source; `learned`: Drain had no template for the line. */
  check (templateId: string, learned: boolean): boolean {
    if (this.unreported.size !== 0 && this.unreported.delete(templateId)) return true
    if (!learned || this.known.has(templateId) || this.seen.has(templateId)) return false
    remember(this.seen, templateId, this.max)
    return true
  }

  /** The record `check` called first went on without anomaly fields: report the template on its next record instead. */
  unreport (templateId: string): void { remember(this.unreported, templateId, this.max) }
}

function remember (set: Set<string>, id: string, max: number): void {
  if (set.size >= max) set.delete(set.values().next().value as string)
  set.add(id)
}
