/**
 * `GET /status` and `GET /status.json` on the admin listener. With node:cluster workers the
 * figures are the sum over every worker (cluster-status.ts), and a sum that cannot be had
 * answers 503 rather than one worker's figures. The page is one self-contained
 * HTML document: inline CSS and JS allowed by a per-response CSP nonce, no other origin,
 * no external asset. It shows the tracker's snapshot (embedded at render, then polled from
 * /status.json) and carries a purge form that POSTs JSON to /invalidate with the token the
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
  <p class="meta">worker pid <span id="pid">${pid}</span> · <span id="scope">${escapeHtml(scopeOf(snapshot))}</span> ·
    updated <span id="updated">now</span> <span id="poll-error" class="bad"></span></p>
</header>
<main>
<section class="cards" aria-label="summary">
  <div class="card"><div class="label">requests / s</div><div class="value" id="rps">–</div><div class="sub" id="rps-window"></div></div>
  <div class="card"><div class="label">hit ratio</div><div class="value" id="hit-ratio">–</div><div class="sub">hit + stale, last <span class="window">60</span> s</div></div>
  <div class="card"><div class="label">bytes saved</div><div class="value" id="bytes-saved">–</div><div class="sub">served from cache, last <span class="window">60</span> s · <span id="bytes-saved-total"></span> in all</div></div>
  <div class="card"><div class="label">latency p50 / p99</div><div class="value"><span id="p50">–</span> / <span id="p99">–</span></div><div class="sub">last <span class="window">60</span> s</div></div>
  <div class="card"><div class="label">requests</div><div class="value" id="requests-total">0</div><div class="sub"><span id="requests-window">0</span> in the last <span class="window">60</span> s</div></div>
</section>
<section>
  <h2>routes</h2>
  <table><thead><tr><th>route</th><th class="num">requests</th><th class="num">hit ratio</th><th class="num">p99</th></tr></thead>
  <tbody id="routes"></tbody></table>
</section>
<section class="pair">
  <div><h2>stores</h2>
  <table><thead><tr><th>store</th><th>state</th><th class="num">entries</th><th class="num">bytes</th><th class="num">tags</th><th class="num">errors</th></tr></thead>
  <tbody id="stores"></tbody></table></div>
  <div><h2>upstreams</h2>
  <table><thead><tr><th>upstream</th><th>state</th><th class="num">requests</th><th class="num">errors</th><th>last</th></tr></thead>
  <tbody id="upstreams"></tbody></table></div>
</section>
<section>
  <h2>recent purges</h2>
  <table><thead><tr><th>when</th><th>what</th><th class="num">purged</th><th>soft</th></tr></thead>
  <tbody id="purges"></tbody></table>
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
<script nonce="${n}">${script.replace('POLL_MS', String(pollMs))}</script>
</body>
</html>
`
}

/** Whose figures the page shows: this process's, or the sum over workers. The script has its twin. */
function scopeOf(snapshot: StatusSnapshot): string {
  if (snapshot.workers === undefined) return 'figures of this process'
  return `summed over ${snapshot.workers} workers (pids ${(snapshot.pids ?? []).join(', ')})`
}

const css = `
:root { color-scheme: light dark; --muted: #777; --line: #8884; --good: #2a7d2a; --bad: #c0392b; --warn: #b7791f; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem; max-width: 72rem; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.meta, .sub, .label { color: var(--muted); } .meta { margin: .25rem 0 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
.value { font-size: 1.5rem; font-variant-numeric: tabular-nums; white-space: nowrap; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
form { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; }
label { display: flex; flex-direction: column; gap: .2rem; } label.grow { flex: 1 1 16rem; }
input[type=checkbox] { align-self: start; }
.empty { color: var(--muted); font-style: italic; }
`

// The browser side. Plain ES2017 with no template literals, so it sits inside this one.
const script = `
'use strict';
(function () {
  var POLL = POLL_MS;
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }
  function fill(id, rows, columns, emptyText) {
    if (rows.length === 0) {
      var td = el('td', emptyText, 'empty');
      td.colSpan = columns;
      rows = [row([td])];
    }
    $(id).replaceChildren.apply($(id), rows);
  }
  function percent(r) { return r === null ? '–' : (r * 100).toFixed(1) + ' %'; }
  function ms(v) {
    if (v === null) return '–';
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 1000) return v.toFixed(v < 10 ? 1 : 0) + ' ms';
    return (v / 1000).toFixed(2) + ' s';
  }
  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }
  function time(epochMs) { return epochMs === null ? '–' : new Date(epochMs).toLocaleTimeString(); }
  function stateCell(state) {
    var cls = state === 'up' ? 'good' : state === 'unknown' ? 'warn' : 'bad';
    return el('td', state, cls);
  }

  function render(s) {
    $('pid').textContent = String(s.pid);
    $('scope').textContent = s.workers === undefined ? 'figures of this process'
      : 'summed over ' + s.workers + ' workers (pids ' + (s.pids || []).join(', ') + ')';
    $('updated').textContent = time(s.at);
    document.querySelectorAll('.window').forEach(function (n) { n.textContent = String(s.windowSeconds); });
    $('rps').textContent = s.window.requestsPerSecond.toFixed(1);
    $('rps-window').textContent = 'average over ' + s.rateSeconds + ' s';
    $('hit-ratio').textContent = percent(s.window.hitRatio);
    $('bytes-saved').textContent = bytes(s.window.bytesFromCache);
    $('bytes-saved-total').textContent = bytes(s.totals.bytesFromCache);
    $('p50').textContent = ms(s.window.p50Ms);
    $('p99').textContent = ms(s.window.p99Ms);
    $('requests-total').textContent = String(s.totals.requests);
    $('requests-window').textContent = String(s.window.requests);
    fill('routes', s.routes.map(function (r) {
      return row([el('td', r.name), el('td', r.requests, 'num'), el('td', percent(r.hitRatio), 'num'), el('td', ms(r.p99Ms), 'num')]);
    }), 4, 'no requests in the window');
    fill('stores', s.stores.map(function (st) {
      return row([el('td', st.name), stateCell(st.state), el('td', st.entries, 'num'), el('td', bytes(st.bytes), 'num'),
        el('td', st.tags, 'num'), el('td', st.errors, 'num')]);
    }), 6, 'no store');
    fill('upstreams', s.upstreams.map(function (u) {
      var last = u.lastAt === null ? '–' : (u.lastError !== null ? u.lastError : 'HTTP ' + u.lastStatus) + ' at ' + time(u.lastAt);
      return row([el('td', u.name), stateCell(u.state), el('td', u.requests, 'num'), el('td', u.errors, 'num'), el('td', last)]);
    }), 5, 'no upstream');
    fill('purges', s.purges.map(function (p) {
      return row([el('td', time(p.at)), el('td', p.summary), el('td', p.purged, 'num'), el('td', p.soft ? 'yes' : 'no')]);
    }), 4, 'no purge since start');
  }

  var timer = null;
  function poll() {
    clearTimeout(timer);
    fetch('status.json', { cache: 'no-store', credentials: 'omit' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (s) { render(s); $('poll-error').textContent = ''; })
      .catch(function (err) { $('poll-error').textContent = 'cannot reach status.json: ' + err.message; })
      .then(function () { timer = setTimeout(poll, POLL); });
  }

  $('purge-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var result = $('purge-result');
    var values = $('purge-value').value.split(/[\\s,]+/).filter(function (v) { return v !== ''; });
    if (values.length === 0) { result.textContent = 'give at least one value'; result.className = 'bad'; return; }
    var body = { soft: $('purge-soft').checked };
    body[$('purge-kind').value === 'urls' ? 'urls' : 'tags'] = values;
    var button = $('purge-submit');
    button.disabled = true;
    result.textContent = 'purging…';
    result.className = '';
    fetch('invalidate', {
      method: 'POST',
      cache: 'no-store',
      credentials: 'omit',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + $('purge-token').value },
      body: JSON.stringify(body)
    })
      .then(function (res) {
        return res.json().then(function (answer) {
          if (!res.ok) throw new Error(answer && answer.error ? answer.error : 'HTTP ' + res.status);
          result.textContent = 'purged ' + answer.purged + (answer.purged === 1 ? ' entry' : ' entries') + (answer.soft ? ' (soft)' : '');
          result.className = 'good';
        }, function () { throw new Error('HTTP ' + res.status); });
      })
      .catch(function (err) { result.textContent = 'purge failed: ' + err.message; result.className = 'bad'; })
      .then(function () { button.disabled = false; poll(); });
  });

  try { render(JSON.parse($('initial').textContent)); } catch (err) { $('poll-error').textContent = String(err); }
  timer = setTimeout(poll, POLL);
})();
`
