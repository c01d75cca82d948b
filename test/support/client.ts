/**
 * A small HTTP client for integration tests (undici, its own keep-alive agent), and a
 * bounded wait for conditions that become true in the background.
 */
import { Agent, request } from 'undici'

export interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: Buffer
  readonly text: string
  /** A header's value as one string. */
  header(name: string): string | undefined
}

let agent: Agent | undefined

export async function send(
  url: string,
  options: {
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    /** Gives up on the request when it aborts (undici otherwise waits 300 s for headers). */
    signal?: AbortSignal
  } = {},
): Promise<Reply> {
  agent ??= new Agent({ keepAliveTimeout: 1_000 })
  const res = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
    signal: options.signal,
    dispatcher: agent,
  })
  const body = Buffer.from(await res.body.arrayBuffer())
  const headers = res.headers as Record<string, string | string[] | undefined>
  return {
    status: res.statusCode,
    headers,
    body,
    text: body.toString(),
    header(name) {
      const v = headers[name]
      return Array.isArray(v) ? v.join(', ') : v
    },
  }
}

/** Closes the client's connections; the next `send` opens new ones. */
export async function closeClient(): Promise<void> {
  const closing = agent
  agent = undefined
  await closing?.close()
}

/**
 * Resolves once `check` returns true; rejects after `timeoutMs`. For work edgecache does in
 * the background (a refresh, a store commit): the bound is generous, the poll is the check.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
