/**
 * `GET /status` and `GET /status.json` on the admin listener. With node:cluster workers the
 * figures are the sum over every worker (cluster-status.ts), and a sum that cannot be had
 * answers 503 rather than one worker's figures. The page is one self-contained
 * HTML document: inline CSS and JS allowed by a per-response CSP nonce, no other origin,
 * no external asset. It shows the tracker's snapshot (embedded at render, then polled from
 * /status.json), the last hour as inline SVG charts drawn by the page's own script
 * (status-page-script.ts), and carries a purge form that POSTs JSON to /invalidate with the token the
 * operator types; the token stays in that field and is never stored or shown.
 *
 * Escaping: the server puts data in the page only as JSON inside a non-executing script
 * element, with `<`, `>`, `&` and the JS line separators escaped, so no value can close the
 * element. The browser script builds every node with textContent, never innerHTML.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { EdgecacheError } from '../errors.ts'
import type { StatusSource } from './cluster-status.ts'
import type { AdminLog } from './invalidate.ts'
import { sendError, sendJson } from './json-reply.ts'
import { statusPageScript } from './status-page-script.ts'
import type { StatusSnapshot } from './status-snapshot.ts'

export interface StatusPageDeps {
  /** The figures: this process's, or the sum over workers (cluster-status.ts). */
  readonly status: StatusSource
  /** Told when the workers' sum cannot be had. */
  readonly log: Pick<AdminLog, 'warn'>
  /** Milliseconds between two polls of /status.json. @default 1500 */
  readonly pollMs?: number
}

export interface StatusPageHandlers {
  /** `GET /status`: the HTML page. */
  page(req: IncomingMessage, res: ServerResponse): Promise<void>
  /** `GET /status.json`: the snapshot. */
  json(req: IncomingMessage, res: ServerResponse): Promise<void>
}

/**
 * @example
 * const status = createStatusPageHandlers({ status: createClusterStatus(tracker), log })
 * // in the admin route table: ['/status', { GET: status.page }], ['/status.json', { GET: status.json }]
 */
export function createStatusPageHandlers(deps: StatusPageDeps): StatusPageHandlers {
  const pollMs = deps.pollMs ?? 1500
  if (!Number.isSafeInteger(pollMs) || pollMs < 100) {
    throw new Error(`status page: pollMs must be an integer of at least 100, got ${pollMs}`)
  }
  // The workers' sum could not be had (a worker did not answer in time): say so rather than
  // show one worker's figures as if they were the whole.
  const snapshot = async (res: ServerResponse): Promise<StatusSnapshot | undefined> => {
    try {
      return await deps.status.snapshot()
    } catch (err) {
      deps.log.warn({ err }, 'status snapshot failed')
      sendError(res, new EdgecacheError('EC_ERR_ADMIN_STATUS_UNAVAILABLE'))
      return undefined
    }
  }
  return {
    async page(_req, res) {
      const s = await snapshot(res)
      if (s === undefined) return
      const nonce = randomBytes(16).toString('base64')
      const html = renderStatusPage(s, nonce, pollMs)
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(html),
        'content-security-policy': contentSecurityPolicy(nonce),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      })
      res.end(html)
    },
    async json(_req, res) {
      const s = await snapshot(res)
      if (s === undefined) return
      sendJson(res, 200, s, { 'x-content-type-options': 'nosniff' })
    },
  }
}

/** Only this origin, for fetches and the form; scripts and styles only with the nonce. */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** Text for an HTML text node or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * JSON that is safe inside a `<script type="application/json">` element: nothing in it can
 * end the element or open a comment, and it still parses to the same value.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** The whole page for one snapshot. Exported for tests. */
export function renderStatusPage(snapshot: StatusSnapshot, nonce: string, pollMs = 1500): string {
  const n = escapeHtml(nonce)
  const pid = escapeHtml(String(snapshot.pid))
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>edgecache status · pid ${pid}</title>
<style nonce="${n}">${css}</style>
</head>
<body>
<header>
  <h1>edgecache status</h1>
  <p class="meta">edgecache <span id="version">${escapeHtml(snapshot.version)}</span> on Node.js <span id="node">${escapeHtml(snapshot.node)}</span> ·
    up <span id="uptime">${snapshot.uptimeSeconds} s</span> since <span id="started">${escapeHtml(isoSeconds(snapshot.startedAt))}</span></p>
  <p class="meta">worker pid <span id="pid">${pid}</span> · <span id="scope">${escapeHtml(scopeOf(snapshot))}</span> ·
    updated <span id="updated">${escapeHtml(isoSeconds(snapshot.at))}</span> <span id="poll-error" class="bad"></span></p>
</header>
<main>
<section class="cards" aria-label="summary">
  <div class="card"><div class="label">requests / s</div><div class="value" id="rps">–</div><div class="sub" id="rps-window"></div></div>
  <div class="card"><div class="label">hit ratio</div><div class="value" id="hit-ratio">–</div><div class="sub">hit + stale, last <span class="window">60</span> s</div></div>
  <div class="card"><div class="label">bytes saved</div><div class="value" id="bytes-saved">–</div><div class="sub">served from cache, last <span class="window">60</span> s · <span id="bytes-saved-total"></span> in all</div></div>
  <div class="card"><div class="label">latency p50 / p99</div><div class="value"><span id="p50">–</span> / <span id="p99">–</span></div><div class="sub">last <span class="window">60</span> s</div></div>
  <div class="card"><div class="label">errors 5xx / 4xx</div><div class="value"><span id="errors-5xx">0</span> / <span id="errors-4xx">0</span></div><div class="sub">answers, last <span class="window">60</span> s</div></div>
  <div class="card"><div class="label">requests</div><div class="value" id="requests-total">0</div><div class="sub"><span id="requests-window">0</span> in the last <span class="window">60</span> s</div></div>
</section>
<section aria-labelledby="history-title">
  <h2 id="history-title">last hour</h2>
  <p class="sub" id="history-range"></p>
  <div class="charts">
    <figure><figcaption>requests / s · now <span id="chart-rps-now">–</span></figcaption>
      <svg id="chart-rps" class="plot" role="img" aria-label="requests per second over the last hour"></svg></figure>
    <figure><figcaption>hit ratio · now <span id="chart-hit-now">–</span></figcaption>
      <svg id="chart-hit" class="plot" role="img" aria-label="hit ratio over the last hour"></svg></figure>
    <figure><figcaption>latency <span class="key s1">p50</span> <span id="chart-p50-now">–</span> · <span class="key s2">p99</span> <span id="chart-p99-now">–</span></figcaption>
      <svg id="chart-latency" class="plot" role="img" aria-label="latency p50 and p99 over the last hour"></svg></figure>
  </div>
</section>
<section>
  <h2>routes</h2>
  <div class="scroll"><table><thead><tr><th>route</th><th class="num">requests</th><th class="num">hit ratio</th><th class="num">p99</th><th class="num">5xx</th><th class="num">4xx</th><th class="num">bytes</th></tr></thead>
  <tbody id="routes"></tbody></table></div>
</section>
<section>
  <h2>stores</h2>
  <div class="scroll"><table><thead><tr><th>store</th><th>state</th><th class="num">entries</th><th class="num">bytes</th><th class="num">capacity</th><th class="num">fill</th><th class="num">file</th><th class="num">evicted <span class="window">60</span> s</th><th class="num">evicted in all</th><th class="num">tags</th><th class="num">errors</th></tr></thead>
  <tbody id="stores"></tbody></table></div>
</section>
<section>
  <h2>upstreams</h2>
  <div class="scroll"><table><thead><tr><th>upstream</th><th>state</th><th class="num">requests</th><th class="num">errors</th><th>last</th></tr></thead>
  <tbody id="upstreams"></tbody></table></div>
</section>
<section>
  <h2>servers</h2>
  <div class="scroll"><table><thead><tr><th>pool</th><th>server</th><th class="num">weight</th><th>state</th><th class="num">in flight</th><th class="num">connections</th><th class="num">requests <span class="window">60</span> s</th><th class="num">failures <span class="window">60</span> s</th><th class="num">ejections</th><th>last error</th></tr></thead>
  <tbody id="servers"></tbody></table></div>
</section>
<section>
  <h2>recent purges</h2>
  <div class="scroll"><table><thead><tr><th>when (UTC)</th><th>source</th><th>what</th><th class="num">purged</th><th>soft</th></tr></thead>
  <tbody id="purges"></tbody></table></div>
</section>
<section>
  <h2>purge</h2>
  <form id="purge-form" method="post" autocomplete="off">
    <label>admin token <input id="purge-token" name="token" type="password" autocomplete="off" required spellcheck="false"></label>
    <label>by <select id="purge-kind" name="kind"><option value="tags">tag</option><option value="urls">URL</option></select></label>
    <label class="grow">value(s), space-separated <input id="purge-value" name="value" type="text" autocomplete="off" required spellcheck="false"></label>
    <label><input id="purge-soft" name="soft" type="checkbox"> soft (mark stale)</label>
    <button id="purge-submit" type="submit">purge</button>
  </form>
  <p id="purge-result" role="status"></p>
</section>
</main>
<script type="application/json" id="initial">${jsonForScript(snapshot)}</script>
<script nonce="${n}">${statusPageScript.replace('POLL_MS', String(pollMs))}</script>
</body>
</html>
`
}

/** UTC, ISO 8601, to the second (2026-12-03T22:10:00Z), as the page's script writes times too. */
function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Whose figures the page shows: this process's, or the sum over workers. The script has its twin. */
function scopeOf(snapshot: StatusSnapshot): string {
  if (snapshot.workers === undefined) return 'figures of this process'
  return `summed over ${snapshot.workers} workers (pids ${(snapshot.pids ?? []).join(', ')})`
}

// Narrow screens first: one column, tables that scroll sideways inside their own box (the
// page itself never does), charts drawn to the width they get.
const css = `
:root { color-scheme: light dark; --muted: #777; --line: #8884; --good: #2a7d2a; --bad: #c0392b; --warn: #b7791f;
  --s1: #2b6cb0; --s2: #c05621; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: .75rem; max-width: 72rem; overflow-wrap: anywhere; }
@media (min-width: 40rem) { body { padding: 1rem 1.5rem; } }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.meta, .sub, .label { color: var(--muted); } .meta { margin: .25rem 0; } header { margin-bottom: 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(10rem, 100%), 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; min-width: 0; }
.value { font-size: 1.5rem; font-variant-numeric: tabular-nums; } .value span { white-space: nowrap; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(20rem, 100%), 1fr)); gap: 1rem; }
figure { margin: 0; min-width: 0; } figcaption { color: var(--muted); margin-bottom: .25rem; }
.plot { display: block; width: 100%; height: 150px; }
.plot .grid { stroke: var(--line); stroke-width: 1; }
.plot text { fill: var(--muted); font-size: 11px; }
.plot .series { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.s1 { stroke: var(--s1); } .s2 { stroke: var(--s2); stroke-dasharray: 5 3; }
.key.s1 { color: var(--s1); } .key.s2 { color: var(--s2); } .key { font-weight: 600; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 10rem; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
form { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; }
label { display: flex; flex-direction: column; gap: .2rem; min-width: 0; } label.grow { flex: 1 1 14rem; }
input[type=text], input[type=password] { max-width: 100%; }
input[type=checkbox] { align-self: start; }
.empty { color: var(--muted); font-style: italic; }
`
