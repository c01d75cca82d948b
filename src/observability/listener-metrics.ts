/**
 * Metrics of the proxy listener beyond single requests: Upgrade requests (WebSocket
 * tunnels) by how they ended, and connections closed over their PROXY protocol header by
 * why. Every label value is one of a fixed list, and every series starts at 0.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Counter, type Registry } from 'prom-client'
import type { TunnelOutcome } from '../pipeline/context.ts'
import { events, type ProxyProtocolRefused, type TunnelEnded } from './events.ts'

const outcomes: readonly TunnelOutcome[] = [
  'closed',
  'idle_timeout',
  'error',
  'shutdown',
  'over_limit',
  'backend_declined',
  'failed',
  'refused',
]
const refusals: readonly ProxyProtocolRefused['reason'][] = ['untrusted', 'malformed', 'missing', 'timeout']

/**
 * @example const stop = registerListenerMetrics(registry)
 */
export function registerListenerMetrics(registry: Registry): () => void {
  const tunnels = new Counter({
    name: 'edgecache_tunnels_total',
    help: 'Upgrade requests (WebSockets) by outcome: how their tunnel ended, or why none opened.',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const refused = new Counter({
    name: 'edgecache_proxy_protocol_refused_total',
    help: 'Connections closed over their PROXY protocol header (or its absence), by reason.',
    labelNames: ['reason'],
    registers: [registry],
  })
  for (const outcome of outcomes) tunnels.inc({ outcome }, 0)
  for (const reason of refusals) refused.inc({ reason }, 0)
  const onTunnel = (message: unknown) => {
    const m = message as TunnelEnded
    if (outcomes.includes(m.outcome)) tunnels.inc({ outcome: m.outcome })
  }
  const onRefused = (message: unknown) => {
    const m = message as ProxyProtocolRefused
    if (refusals.includes(m.reason)) refused.inc({ reason: m.reason })
  }
  subscribe(events.tunnelEnded.name as string, onTunnel)
  subscribe(events.proxyProtocolRefused.name as string, onRefused)
  return () => {
    unsubscribe(events.tunnelEnded.name as string, onTunnel)
    unsubscribe(events.proxyProtocolRefused.name as string, onRefused)
  }
}
