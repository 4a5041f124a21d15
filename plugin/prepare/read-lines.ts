/**
 * Streams a text file line by line (UTF-8, `\n` or `\r\n`), in 1 MiB chunks,
 * reporting bytes read so a progress bar can follow. Memory stays bounded by
 * the chunk size plus one line, whatever the file size; a final line without
 * a newline is still returned. Empty lines are returned too (the caller skips
 * them), so line numbers match the file.
 */
import { createReadStream } from 'node:fs'
import { StringDecoder } from 'node:string_decoder'

export async function * readLines (file: string, onBytes?: (bytes: number) => void): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  let bytes = 0
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    bytes += (chunk as Buffer).length
    const text = rest + decoder.write(chunk as Buffer)
    const lines = text.split('\n')
    rest = lines.pop() as string
    for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1)
    onBytes?.(bytes)
    yield lines
  }
  rest += decoder.end()
  if (rest.endsWith('\r')) rest = rest.slice(0, -1)
  if (rest !== '') yield [rest]
}
