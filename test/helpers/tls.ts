/** A throwaway self-signed CA and a localhost certificate, made with the openssl CLI in a temp dir. */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki { dir: string, ca: string, cert: string, key: string, clientCert: string, clientKey: string, caPem: Buffer }

export function makePki (): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fa-tls-'))
  const p = (f: string): string => join(dir, f)
  const ossl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'pipe' }) }
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=fluent-anomaly test CA')
  writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  for (const name of ['server', 'client']) {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${name === 'server' ? 'localhost' : 'test-client'}`)
    ossl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p('ext.cnf'))
  }
  return { dir, ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key'), clientCert: p('client.pem'), clientKey: p('client.key'), caPem: readFileSync(p('ca.pem')) }
}
