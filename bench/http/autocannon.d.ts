/** The part of autocannon's API bench/http/load.ts uses (autocannon ships no types). */
declare module 'autocannon' {
  /** The request autocannon is about to build: `path` is the part setupRequest changes here. */
  interface RequestData {
    path: string
    [field: string]: unknown
  }
  interface Options {
    url: string
    connections?: number
    duration?: number
    pipelining?: number
    timeout?: number
    headers?: Record<string, string>
    /** Requests sent in turn on each connection; a setupRequest makes each request anew. */
    requests?: { setupRequest?: (request: RequestData, context: object) => RequestData }[]
  }
  interface Result {
    /** Seconds actually spent. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    requests: { total: number }
    throughput: { total: number }
  }
  interface Instance {
    /** `responseTimeMs` is measured with process.hrtime, unlike the result's whole-ms histogram. */
    on(
      event: 'response',
      listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void,
    ): Instance
    stop(): void
  }
  function autocannon(options: Options, done: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
