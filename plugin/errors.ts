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
  // http input (plugin/input/): every one answers the request with this code and sends nothing of it on
  HTTP_BAD_JSON: 'The body is not a JSON object, a JSON array of objects, or NDJSON of objects (the message names the line or index); answered 400, nothing of that request was taken.',
  HTTP_BAD_TAG: 'The URL path is not a tag (one segment of letters, digits, ".", "_", "-"); answered 400. POST /app.hdfs tags records app.hdfs.',
  HTTP_BODY_TOO_LARGE: 'The body is over input.http.max_body_size; answered 413 (not retried by Vector: keep batch.max_bytes under the limit).',
  HTTP_DECOMPRESSED_TOO_LARGE: 'The body inflates past input.http.max_decompressed_size (gzip bomb guard); answered 413.',
  HTTP_BAD_ENCODING: 'Content-Encoding other than gzip / deflate / identity, a body that does not decompress, or bytes that are not UTF-8; answered 415 or 400.',
  HTTP_UNSUPPORTED_MEDIA_TYPE: 'Content-Type other than application/json, application/x-ndjson (or jsonlines) or text/plain; answered 415.',
  HTTP_UNAUTHORIZED: 'input.http.token is set and the request has no or a wrong "Authorization: Bearer" header; answered 401.',
  HTTP_BACKPRESSURE: 'The pipeline is full (max_pending_records, buffer.max_size or max_memory); answered 429 with Retry-After, the sender retries.',
  HTTP_ACK_TIMEOUT: 'The records were not durable within input.http.ack_timeout; answered 503 with Retry-After. They are still delivered, so a retry may duplicate them (at-least-once).',
  HTTP_SHUTTING_DOWN: 'The sidecar is stopping; answered 503 with Retry-After and Connection: close.',
  // forward output
  BUFFER_IO: 'Reading or writing the on-disk buffer (buffer.path) failed, e.g. the disk is full; chunks are acknowledged on delivery instead until writes work again.',
  BUFFER_LOCKED: 'Another running sidecar holds buffer.path; give each sidecar its own folder.',
  BUFFER_INVALID: 'buffer settings do not fit together (segment_size larger than max_size).',
  BUFFER_REPLAYED: 'At start, records an earlier run accepted and did not deliver were replayed from buffer.path (a warning: the downstream may see some twice).',
  FWD_FRAME_TIMEOUT: 'A sender started a frame and did not finish it within input.forward.frame_timeout; connection closed (its unacked chunks are resent by the sender).',
  OUT_CONNECT: 'Could not connect to the downstream; retrying with backoff.',
  OUT_ACK_TIMEOUT: 'The downstream did not acknowledge a chunk in output.forward.ack_timeout; resending the same chunk.',
  OUT_HANDSHAKE: 'The downstream refused or failed the shared_key/user handshake; retrying with backoff.',
  OUT_PROTOCOL: 'The downstream answered something that is not an ack; reconnecting.',
  // scoring
  WINDOW_POLICY_MISMATCH: 'A source\'s window setting differs from the policy its adapter was trained with (bundle manifest sources[<adapter>].window); the warning names each key, the trained value and the configured one. The model was not trained on these windows: remove the key from the config (the trained value is served), or retrain with `prepare --idle-timeout / --max-age / --max-length` set to what you serve.',
  WINDOW_INVALID: 'The window settings served for a source cannot work (session windows without a key pattern or field, a step larger than the size); the message names the key and whether its value came from the config, the bundle or the built-in defaults.',
  SCORE_EMIT_FAILED: 'Handing a scored window\'s records to the output threw (not expected: the output closes only after the windows are flushed); logged, the process goes on.',
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
  REPLAY_USAGE: 'Bad command line; the message names the option. Run `fluent-anomaly replay --help`.',
  REPLAY_INPUT: 'The log file or the labels file is missing.',
  REPLAY_LABELS: 'The labels file has a bad row, or is labelled by line when --label-format key was asked (or the reverse).',
  REPLAY_UNAVAILABLE: 'The sidecar is not reachable, --listen is taken, or not every record came back (the message says how many); check the sidecar\'s output points at --listen.',
  // model bundles and adapters (models/)
  BUNDLE_NOT_FOUND: 'The bundle folder or its manifest.json does not exist; point model.bundle at a folder the trainer wrote.',
  BUNDLE_MANIFEST_INVALID: 'manifest.json is not JSON or fails the schema; every bad key path is listed. Re-export the bundle with the trainer.',
  BUNDLE_FILE_MISSING: 'A file the manifest names (encoder, embedder) is missing; the bundle was half-copied.',
  BUNDLE_ENCODER_HASH: 'encoder.onnx does not hash to the manifest\'s sha256; the file was replaced or corrupted. Copy the whole bundle again.',
  BUNDLE_EMBEDDER_HASH: 'The embedder file does not hash to the manifest\'s sha256; copy the whole bundle again.',
  BUNDLE_ENCODER_INPUTS: 'encoder.onnx inputs differ from what the manifest declares; the manifest belongs to another encoder.',
  ADAPTER_NOT_FOUND: 'No adapter files for that source in the bundle (adapters/<source>.safetensors + .json).',
  ADAPTER_METADATA_INVALID: 'adapters/<source>.json is not JSON or fails the schema; the message lists the bad keys.',
  ADAPTER_ENCODER_MISMATCH: 'The adapter was trained against another encoder (both hashes in the message); train it again with `adapt --bundle` on this bundle.',
  ADAPTER_TENSOR_INVALID: 'An adapter tensor is missing, extra, of the wrong shape or dtype, or not finite; the message names it.',
  ADAPTER_REMOTE_CONFIG: 'A remote adapter option is invalid (URL not http: or https:, credentials in the URL, a bad source name, or a non-positive interval, timeout or size); the message names it.',
  ADAPTER_REMOTE_FETCH: 'The remote adapter document could not be fetched or written (network error, timeout, non-2xx status, larger than the size limit); the old adapter stays live and the next poll retries.',
  ADAPTER_REMOTE_INVALID: 'The remote adapter URL answered something other than {"metadata": {...}, "safetensors": "<base64>"}; the old adapter stays live until different content is published.',
  // scoring worker pool (worker-pool/)
  POOL_QUEUE_FULL: 'maxQueue windows are already waiting; stop reading (watch `full` / the \'drain\' event) or raise model.max_queue.',
  POOL_EP_FALLBACK: 'The asked execution provider (cuda, webgpu) could not start in a worker; it runs on CPU. The message says why (e.g. no CUDA libraries).',
  POOL_ENCODER_LOAD: 'A worker could not load encoder.onnx into an ONNX Runtime session (missing file, not ONNX, or inputs unlike the declared dims); nothing can be scored.',
  POOL_RUN_FAILED: 'ONNX Runtime failed on a batch (or its worker died); every window of that batch is rejected, other batches carry on.',
  POOL_BAD_INPUT: 'A window\'s arrays do not fit the encoder (length not a multiple of D or P, mask length, empty window, or tensors missing); nothing of that call was queued.',
  POOL_CLOSED: 'score() after close(), or close({ force: true }) dropped the windows still waiting.',
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
