/**
 * Stable error codes. Callers match on `code`, never on message text.
 * The README's "Error codes" table mirrors this file: keep them in step.
 * (Pattern: fastify lib/errors.js, undici core/errors.js.)
 */
export const ErrorCodes = {
  // configuration
  CONFIG_NOT_FOUND: 'Config file not found; pass --config FILE or create config/default.yaml.',
  CONFIG_PARSE: 'The config file is not valid YAML; the message gives line and column.',
  CONFIG_INVALID: 'One or more keys are invalid; every bad key path is listed.',
  // forward input
  FWD_FRAME_TOO_LARGE: 'A frame exceeded input.forward.max_frame_size; the connection was closed. Raise the limit or lower the sender chunk size.',
  FWD_DECOMPRESSED_TOO_LARGE: 'A gzip payload inflated past input.forward.max_decompressed_size; the connection was closed.',
  FWD_MALFORMED: 'Bytes that are not valid msgpack; the connection was closed (other connections carry on).',
  FWD_BAD_MESSAGE: 'Valid msgpack that is not a Forward message (Message, Forward, PackedForward, CompressedPackedForward); the frame was skipped.',
  FWD_BAD_ENTRY: 'An entry without a valid [time, record] shape; that entry was skipped and counted.',
  FWD_BAD_GZIP: 'A CompressedPackedForward payload that does not gunzip; the frame was skipped.',
  FWD_AUTH_SHARED_KEY: 'PING digest did not match the shared_key; connection closed without PONG (as Fluent Bit does).',
  FWD_AUTH_USER: 'Unknown user or wrong password; PONG false sent and connection closed.',
  FWD_HANDSHAKE: 'The peer sent something other than PING while a handshake was expected.',
  FWD_TOO_MANY_CONNECTIONS: 'input.forward.max_connections reached; the new connection was closed.',
  FWD_IDLE_TIMEOUT: 'No bytes for input.forward.idle_timeout; the connection was closed.',
  // forward output
  OUT_CONNECT: 'Could not connect to the downstream; retrying with backoff.',
  OUT_ACK_TIMEOUT: 'The downstream did not acknowledge a chunk in output.forward.ack_timeout; resending the same chunk.',
  OUT_HANDSHAKE: 'The downstream refused or failed the shared_key/user handshake; retrying with backoff.',
  OUT_PROTOCOL: 'The downstream answered something that is not an ack; reconnecting.',
  // process
  SHUTDOWN_TIMEOUT: 'Pending records were not all delivered before the shutdown grace period ended.',
  // log mining (plugin/mining)
  DRAIN_OPTIONS_INVALID: 'A Drain option is out of range; fix the preset or option named in the message.',
  MASK_RULE_INVALID: 'A mask regex does not compile or matches the empty string; fix the rule named in the message.',
  DRAIN_SNAPSHOT_CORRUPT: 'A parser snapshot is not valid JSON or not a snapshot; delete it and the parser relearns from traffic.',
  DRAIN_SNAPSHOT_VERSION: 'A parser snapshot has a format version this build cannot read; run the matching build or delete it.',
  DRAIN_SNAPSHOT_INVALID: 'A parser snapshot is inconsistent (not written by this code, or edited); delete it.',
  PRESETS_INVALID: 'The Drain presets YAML fails validation; fix the key at the path named in the message.',
  PRESET_UNKNOWN: 'No Drain preset has that name; use one listed in the message or add one to config/drain-presets.yaml.',
  // offline prepare (plugin/prepare)
  PREPARE_USAGE: 'Bad command line; the message names the option. Run `fluent-anomaly prepare --help`.',
  PREPARE_INPUT: 'The log file is missing, empty, or no line could be parsed with the chosen --format.',
  PREPARE_LABELS: 'The labels file is missing or has a row that is not "<line|key>,<label>" with a known label value.',
  PREPARE_EMBEDDER: 'The --embedder file is not a fluent-anomaly embedder, or the pretrained vectors package is missing.',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class FluentAnomalyError extends Error {
  readonly code: ErrorCode
  /** Whether the component that raised it can carry on (e.g. skip one frame) or must give up its resource (close the connection). */
  readonly recoverable: boolean
  constructor (code: ErrorCode, message: string, opts: { cause?: unknown, recoverable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'FluentAnomalyError'
    this.code = code
    this.recoverable = opts.recoverable ?? false
  }
}

export const isFluentAnomalyError = (e: unknown): e is FluentAnomalyError =>
  e instanceof FluentAnomalyError
