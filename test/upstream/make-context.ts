/**
 * Builds RequestContext objects for the upstream tests, as the server would, without a
 * socket: a GET for / from 192.0.2.10 unless the test says otherwise.
 */
import { createFacts, type RequestContext } from '../../src/pipeline/context.ts'

export function makeContext(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    scheme: 'http',
    host: 'shop.example',
    target: '/',
    httpVersion: '1.1',
    headers: {},
    clientAddress: '192.0.2.10',
    body: undefined,
    receivedAt: 0,
    signal: new AbortController().signal,
    facts: createFacts(),
    ...overrides,
  }
}
