/**
 * An HTTP request body, capped: the HTTP input's records and the admin
 * adapter upload. Past the cap the rest is read and dropped (not kept), and
 * the caller answers the refusal on the same connection.
 */
import type http from 'node:http'

/** The body, at most `max` bytes; rejects with `tooLarge()` beyond. */
export function readBody (req: http.IncomingMessage, max: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let n = 0
    let over = false
    req.on('data', (c: Buffer) => {
      if (over) return
      n += c.length
      if (n > max) {
        over = true
        chunks.length = 0
        reject(tooLarge())
      } else chunks.push(c)
    })
    req.once('end', () => { if (!over) resolve(Buffer.concat(chunks, n)) })
    req.once('close', () => { if (!req.complete) reject(new Error('the client closed the connection before the body ended')) })
  })
}
