/**
 * Reads a request body up to a limit before anything goes upstream, as nginx's
 * `proxy_request_buffering` does: a slow upload then trickles into edgecache's memory, not
 * into an origin connection, so a few slow clients cannot hold every connection of a pool.
 * A body that ends within the limit becomes one Buffer; a longer one is handed back as the
 * same stream with what was read put back in front, and streams upstream as before.
 * Knows nothing of sockets: waiting is bounded by the server's request timeout, which fails
 * the body (408) and so this read.
 */
import type { Readable } from 'node:stream'

/**
 * Resolves with the whole body as a Buffer when it ends within `limitBytes`, else with
 * `body` itself, unread (what was read is unshifted back). Rejects when the body fails
 * first: the client went away, its body broke a limit, or it took too long.
 *
 * @example
 * const body = await bufferRequestBody(ctx.body, 1024 * 1024)
 * const forwarded = Buffer.isBuffer(body) ? forwardOf(ctx, { body }) : ctx
 */
export function bufferRequestBody(body: Readable, limitBytes: number): Promise<Buffer | Readable> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let bytes = 0
    const stop = () => {
      body.off('readable', onReadable)
      body.off('end', onEnd)
      body.off('error', onError)
      body.off('close', onClose)
    }
    const onReadable = () => {
      for (let chunk: Buffer | null = body.read(); chunk !== null; chunk = body.read()) {
        chunks.push(chunk)
        bytes += chunk.length
        if (bytes > limitBytes) {
          stop()
          // Put back in front, and let the upstream read it from the start; 'end' has not
          // been emitted, since the stream still held this chunk.
          body.unshift(chunks.length === 1 ? chunk : Buffer.concat(chunks, bytes))
          resolve(body)
          return
        }
      }
    }
    const onEnd = () => {
      stop()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes))
    }
    const onError = (err: Error) => {
      stop()
      reject(err)
    }
    // Destroyed without an error: the exchange abandoned the body (its client went away).
    const onClose = () => {
      stop()
      reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
    }
    body.on('readable', onReadable)
    body.on('end', onEnd)
    body.on('error', onError)
    body.on('close', onClose)
  })
}
