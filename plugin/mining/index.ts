/**
 * Log mining: masking, tokenizing and the streaming Drain parser (pure), plus the
 * presets loader and snapshot files (I/O). One import for the rest of the plugin.
 */
export { Drain, WILDCARD, type ChangeType, type DrainOptions, type DrainSnapshot, type ParseResult, type TemplateInfo } from './drain.js'
export { DEFAULT_DRAIN_OPTIONS, resolveDrainOptions } from './options.js'
export { BUILTIN_MASKS, DEFAULT_MASKS, Masker, type MaskRule, type MaskedLine } from './masker.js'
export { Tokenizer, tokenize } from './tokenize.js'
export { templateId, TemplateIdAliases } from './template-id.js'
export { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from './drain-snapshot.js'
export { saveSnapshot, loadSnapshot } from './snapshot.js'
export { loadPresets, buildPresets, presetFor, shippedPresetsPath, type Preset, type Presets } from './presets.js'
export { compileLogFormat, type LogFormat } from './log-format.js'
export { groupingAccuracy, type GroupingScore } from './grouping-metrics.js'
export { MiningError, type MiningErrorCode } from './errors.js'
