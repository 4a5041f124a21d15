/**
 * Errors raised by the log-mining code, with stable `code`s that callers match on.
 *
 * | code                     | raised when                                           | how to fix                                                        |
 * |--------------------------|-------------------------------------------------------|-------------------------------------------------------------------|
 * | DRAIN_OPTIONS_INVALID    | a Drain option is out of range                        | fix the preset / option named in the message                      |
 * | MASK_RULE_INVALID        | a mask regex does not compile or matches ""           | fix the regex of the rule named in the message                    |
 * | DRAIN_SNAPSHOT_CORRUPT   | a snapshot file is not valid JSON / not a snapshot    | delete the file: the parser relearns templates from live traffic  |
 * | DRAIN_SNAPSHOT_VERSION   | a snapshot has a format version this build can't read | run the matching build, or delete the snapshot to start afresh    |
 * | DRAIN_SNAPSHOT_INVALID   | a snapshot's content is inconsistent                  | delete the file (it was not written by this code, or was edited)  |
 * | PRESETS_INVALID          | the presets YAML fails validation                     | fix the key at the path named in the message                      |
 * | PRESET_UNKNOWN           | `presetFor(name)` names no preset                     | use one of the names listed in the message, or add a preset      |
 *
 * The codes are also listed, with the project's others, in plugin/errors.ts;
 * MiningError is a FluentAnomalyError, so `isFluentAnomalyError(e)` holds.
 */
import { FluentAnomalyError } from '../errors.js'

export type MiningErrorCode =
  | 'DRAIN_OPTIONS_INVALID'
  | 'MASK_RULE_INVALID'
  | 'DRAIN_SNAPSHOT_CORRUPT'
  | 'DRAIN_SNAPSHOT_VERSION'
  | 'DRAIN_SNAPSHOT_INVALID'
  | 'PRESETS_INVALID'
  | 'PRESET_UNKNOWN'

export class MiningError extends FluentAnomalyError {
  declare readonly code: MiningErrorCode
  constructor(code: MiningErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'MiningError'
  }
}
