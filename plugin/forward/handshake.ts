/**
 * Secure-forward handshake: HELO (server) → PING (client) → PONG (server).
 * https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1#handshake-messages
 *
 * Every digest is over raw bytes: Fluent Bit sends nonce, auth salt and PING
 * salt as msgpack str holding random (non-UTF-8) bytes, Fluentd as bin or hex
 * str. Decoding them as UTF-8 would corrupt the digest, so callers pass bytes.
 * Behaviour on failure copies Fluent Bit in_forward (captures `badkey`,
 * `badpass`): wrong shared key → close without PONG; wrong user/password →
 * `["PONG", false, "username/password mismatch", "", ""]`, then close.
 */
import { createHash, randomBytes } from 'node:crypto'
import { sameSecret } from '../secret.js'
import { encode } from './codec.js'

export interface ServerSecurity {
  sharedKey: string
  selfHostname: string
  /** Empty: no user authentication (the auth salt is still sent, as Fluent Bit does). */
  users: ReadonlyArray<{ username: string, password: string }>
}

export interface ClientSecurity {
  sharedKey: string
  selfHostname: string
  username: string
  password: string
}

const sha512hex = (...parts: Array<Uint8Array | string>): string => {
  const h = createHash('sha512')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}


export interface HeloState { nonce: Buffer, authSalt: Buffer, frame: Buffer }

/** HELO with a fresh nonce and auth salt, sent as bin (Fluentd's choice; both peers accept it). */
export function createHelo (nonce: Buffer = randomBytes(16), authSalt: Buffer = randomBytes(16)): HeloState {
  return { nonce, authSalt, frame: encode(['HELO', { nonce, auth: authSalt, keepalive: true }]) }
}

export type PingVerdict =
  | { ok: true, pong: Buffer, clientHostname: string, username: string }
  | { ok: false, code: 'FWD_AUTH_SHARED_KEY' | 'FWD_AUTH_USER' | 'FWD_HANDSHAKE', reason: string, pong?: Buffer }

/**
 * Check a PING (its six elements as raw bytes) against our HELO.
 * `[PING, client_hostname, shared_key_salt, hex(sha512(salt + client_hostname + nonce + key)), username, password_digest]`
 */
export function verifyPing (elements: Uint8Array[], helo: HeloState, sec: ServerSecurity): PingVerdict {
  if (elements.length !== 6) return { ok: false, code: 'FWD_HANDSHAKE', reason: `PING must have 6 elements, got ${elements.length}` }
  const [, hostname, salt, digest, username, passDigest] = elements
  const expected = sha512hex(salt, hostname, helo.nonce, sec.sharedKey)
  const clientHostname = Buffer.from(hostname).toString('utf8')
  if (!sameSecret(expected, digest)) {
    return { ok: false, code: 'FWD_AUTH_SHARED_KEY', reason: `shared_key mismatch from ${clientHostname}` }
  }
  const user = Buffer.from(username).toString('utf8')
  if (sec.users.length > 0) {
    const match = sec.users.find(u => u.username === user)
    const want = match === undefined ? undefined : sha512hex(helo.authSalt, match.username, match.password)
    if (want === undefined || !sameSecret(want, passDigest)) {
      return {
        ok: false,
        code: 'FWD_AUTH_USER',
        reason: `username/password mismatch for user "${user}" from ${clientHostname}`,
        pong: encode(['PONG', false, 'username/password mismatch', '', '']),
      }
    }
  }
  const serverDigest = sha512hex(salt, sec.selfHostname, helo.nonce, sec.sharedKey)
  return { ok: true, clientHostname, username: user, pong: encode(['PONG', true, '', sec.selfHostname, serverDigest]) }
}

/** Client side: build the PING for a HELO's nonce and auth salt. */
export function createPing (sec: ClientSecurity, nonce: Uint8Array, authSalt: Uint8Array | undefined): { frame: Buffer, salt: string } {
  // A 32-char hex salt, as Fluentd sends: valid UTF-8, so any receiver reads it.
  const salt = randomBytes(16).toString('hex')
  const digest = sha512hex(salt, sec.selfHostname, nonce, sec.sharedKey)
  const passDigest = authSalt === undefined ? '' : sha512hex(authSalt, sec.username, sec.password)
  return { salt, frame: encode(['PING', sec.selfHostname, salt, digest, sec.username, passDigest]) }
}

/** Client side: check the PONG (mutual authentication, as Fluent Bit out_forward does). */
export function checkPong (pong: unknown, sec: ClientSecurity, salt: string, nonce: Uint8Array): { ok: true } | { ok: false, reason: string } {
  if (!Array.isArray(pong) || pong.length !== 5 || pong[0] !== 'PONG') return { ok: false, reason: 'expected a 5-element PONG' }
  const [, authOk, reason, serverHostname, digest] = pong as [string, unknown, unknown, unknown, unknown]
  if (authOk !== true) return { ok: false, reason: `authentication refused by downstream: ${String(reason)}` }
  const want = sha512hex(salt, String(serverHostname), nonce, sec.sharedKey)
  if (typeof digest !== 'string' || digest !== want) return { ok: false, reason: 'downstream PONG digest mismatch (wrong shared_key on one side?)' }
  return { ok: true }
}
