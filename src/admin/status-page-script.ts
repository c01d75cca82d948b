/**
 * The status page's browser side, as one string the page carries in its nonced script
 * element (status-page.ts). It renders a /status.json snapshot into the page, draws the
 * last hour's charts as inline SVG, polls for the next snapshot and sends the purge form.
 *
 * Rules it keeps, for the page's CSP and escaping: every node is made with
 * createElement/createElementNS and filled with textContent or setAttribute, never
 * innerHTML; no inline handlers (addEventListener only); no eval; nothing from another
 * origin. The SVG namespace is read from the page's own <svg> elements (the HTML parser
 * puts them in it), so the page text names no URL at all.
 *
 * Plain ES2017 without template literals or `${`, so it sits inside this template literal
 * as it is; `POLL_MS` is replaced with the poll interval.
 */
export const statusPageScript = String.raw`
'use strict';
(function () {
  var POLL = POLL_MS;
  var SOURCES = {
    admin: 'admin API',
    cli: 'CLI',
    'purge-method': 'PURGE method',
    'unsafe-method': 'unsafe method (RFC 9111 §4.4)'
  };
  var last = null;

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
  function num(v) { return el('td', v, 'num'); }
  function percent(r) { return r === null ? '–' : (r * 100).toFixed(1) + ' %'; }
  // A store a thousandth full is not empty: say how little rather than 0.0 %.
  function fillPercent(r) { return r !== null && r > 0 && r < 0.001 ? '< 0.1 %' : percent(r); }
  function ms(v) {
    if (v === null) return '–';
    if (v === 0) return '0 ms';
    if (v < 0.1) return v.toFixed(3) + ' ms';
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 1000) return v.toFixed(v < 10 ? 1 : 0) + ' ms';
    return (v / 1000).toFixed(2) + ' s';
  }
  function rate(v) { return v < 10 ? v.toFixed(v === 0 ? 0 : 2) : v < 100 ? v.toFixed(1) : v.toFixed(0); }
  function bytes(n) {
    if (n === null) return '–';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }
  // UTC, ISO 8601, to the second: 2026-12-03T22:10:00Z.
  function time(epochMs) {
    return epochMs === null ? '–' : new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  function duration(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    if (d > 0) return d + ' d ' + h + ' h';
    if (h > 0) return h + ' h ' + m + ' min';
    if (m > 0) return m + ' min ' + s + ' s';
    return s + ' s';
  }
  function stateCell(state) {
    var cls = state === 'up' ? 'good' : state === 'unknown' || state === 'mixed' ? 'warn' : 'bad';
    return el('td', state, cls);
  }
  function source(s) { return Object.prototype.hasOwnProperty.call(SOURCES, s) ? SOURCES[s] : String(s); }

  // ---- charts ----------------------------------------------------------------------
  // The smallest 1, 2 or 5 × 10^n at or above v: a round top for the y axis.
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }
  function svgNode(svg, tag, attrs, text) {
    var node = document.createElementNS(svg.namespaceURI, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  // One chart: series are lists of [epochMs, value or null]; null breaks the line.
  function drawChart(svg, from, to, series, yMax, label) {
    var W = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 600);
    var H = 150, left = 52, right = 8, top = 10, bottom = 22;
    var plotW = W - left - right, plotH = H - top - bottom;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var nodes = [];
    [0, 0.5, 1].forEach(function (f) {
      var y = (top + (1 - f) * plotH).toFixed(1);
      nodes.push(svgNode(svg, 'line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      nodes.push(svgNode(svg, 'text', { x: left - 6, y: y, class: 'ylabel', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, label(f * yMax)));
    });
    var minutes = Math.round((to - from) / 60000);
    nodes.push(svgNode(svg, 'text', { x: left, y: H - 6, class: 'xlabel', 'text-anchor': 'start' }, '−' + minutes + ' min'));
    nodes.push(svgNode(svg, 'text', { x: left + plotW / 2, y: H - 6, class: 'xlabel', 'text-anchor': 'middle' }, '−' + Math.round(minutes / 2) + ' min'));
    nodes.push(svgNode(svg, 'text', { x: W - right, y: H - 6, class: 'xlabel', 'text-anchor': 'end' }, 'now'));
    series.forEach(function (s) {
      var d = [];
      var points = 0, run = 0;
      s.values.forEach(function (p) {
        if (p[1] === null) {
          if (run === 1) d.push('h0');
          run = 0;
          return;
        }
        var x = left + Math.max(0, Math.min(1, (p[0] - from) / (to - from))) * plotW;
        var y = top + (1 - Math.min(p[1], yMax) / yMax) * plotH;
        d.push((run === 0 ? 'M' : 'L') + x.toFixed(1) + ' ' + y.toFixed(1));
        run++;
        points++;
      });
      // A lone point is a zero-length segment: the round line cap draws it as a dot.
      if (run === 1) d.push('h0');
      nodes.push(svgNode(svg, 'path', { d: d.join(' '), class: 'series ' + s.cls, 'data-points': points }));
    });
    svg.replaceChildren.apply(svg, nodes);
  }
  function drawCharts(s) {
    var h = s.history;
    var step = h.intervalSeconds * 1000;
    var now = Math.floor(s.at / step) * step;
    var from = now - h.seconds * 1000 + step;
    var bySlot = {};
    h.samples.forEach(function (x) { bySlot[x.at] = x; });
    // Every interval of the hour: one without a sample had no request (zero per second),
    // unless it was before the figures start.
    var rps = [], hit = [], p50 = [], p99 = [];
    var maxRps = 0, maxMs = 0;
    for (var t = from; t <= now; t += step) {
      var x = bySlot[t];
      var counted = t + step > s.startedAt;
      var r = x ? x.requestsPerSecond : counted ? 0 : null;
      rps.push([t, r]);
      hit.push([t, x ? x.hitRatio : null]);
      p50.push([t, x ? x.p50Ms : null]);
      p99.push([t, x ? x.p99Ms : null]);
      if (r !== null && r > maxRps) maxRps = r;
      if (x && x.p99Ms !== null && x.p99Ms > maxMs) maxMs = x.p99Ms;
    }
    var current = bySlot[now];
    drawChart($('chart-rps'), from, now, [{ values: rps, cls: 's1' }], niceCeil(maxRps), rate);
    drawChart($('chart-hit'), from, now, [{ values: hit, cls: 's1' }], 1, function (v) { return Math.round(v * 100) + ' %'; });
    drawChart($('chart-latency'), from, now, [{ values: p50, cls: 's1' }, { values: p99, cls: 's2' }], niceCeil(maxMs), ms);
    $('chart-rps-now').textContent = rate(current ? current.requestsPerSecond : 0);
    $('chart-hit-now').textContent = percent(current ? current.hitRatio : null);
    $('chart-p50-now').textContent = ms(current ? current.p50Ms : null);
    $('chart-p99-now').textContent = ms(current ? current.p99Ms : null);
    $('history-range').textContent = time(from) + ' to ' + time(now + step) + ', one point per ' + h.intervalSeconds + ' s';
  }

  // ---- the page ----------------------------------------------------------------------
  function render(s) {
    last = s;
    $('pid').textContent = String(s.pid);
    $('scope').textContent = s.workers === undefined ? 'figures of this process'
      : 'summed over ' + s.workers + ' workers (pids ' + (s.pids || []).join(', ') + ')';
    $('updated').textContent = time(s.at);
    $('version').textContent = s.version;
    $('node').textContent = s.node;
    $('uptime').textContent = duration(s.uptimeSeconds);
    $('started').textContent = time(s.startedAt);
    document.querySelectorAll('.window').forEach(function (n) { n.textContent = String(s.windowSeconds); });
    $('rps').textContent = s.window.requestsPerSecond.toFixed(1);
    $('rps-window').textContent = 'average over ' + s.rateSeconds + ' s';
    $('hit-ratio').textContent = percent(s.window.hitRatio);
    $('bytes-saved').textContent = bytes(s.window.bytesFromCache);
    $('bytes-saved-total').textContent = bytes(s.totals.bytesFromCache);
    $('p50').textContent = ms(s.window.p50Ms);
    $('p99').textContent = ms(s.window.p99Ms);
    $('errors-5xx').textContent = String(s.window.errors5xx);
    $('errors-4xx').textContent = String(s.window.errors4xx);
    $('requests-total').textContent = String(s.totals.requests);
    $('requests-window').textContent = String(s.window.requests);
    drawCharts(s);
    fill('routes', s.routes.map(function (r) {
      return row([el('td', r.name, 'wrap'), num(r.requests), num(percent(r.hitRatio)), num(ms(r.p99Ms)),
        el('td', r.errors5xx, r.errors5xx > 0 ? 'num bad' : 'num'), num(r.errors4xx), num(bytes(r.bytes))]);
    }), 7, 'no requests in the window');
    fill('stores', s.stores.map(function (st) {
      return row([el('td', st.name), stateCell(st.state), num(st.entries), num(bytes(st.bytes)), num(bytes(st.maxBytes)),
        num(fillPercent(st.fill)), num(bytes(st.fileBytes)), num(st.evictions), num(st.evictionsTotal), num(st.tags), num(st.errors)]);
    }), 11, 'no store');
    fill('upstreams', s.upstreams.map(function (u) {
      var lastSeen = u.lastAt === null ? '–' : (u.lastError !== null ? u.lastError : 'HTTP ' + u.lastStatus) + ' at ' + time(u.lastAt);
      return row([el('td', u.name), stateCell(u.state), num(u.requests), num(u.errors), el('td', lastSeen)]);
    }), 5, 'no upstream');
    fill('servers', s.servers.map(function (v) {
      var lastError = v.lastError === null ? '–' : v.lastError + (v.lastAt === null ? '' : ' at ' + time(v.lastAt));
      return row([el('td', v.upstream), el('td', v.url + (v.backup ? ' (backup)' : ''), 'wrap'), num(v.weight),
        stateCell(v.state), num(v.active), num(v.connections), num(v.requests),
        el('td', v.failures, v.failures > 0 ? 'num bad' : 'num'), num(v.ejections), el('td', lastError, 'wrap')]);
    }), 10, 'no server');
    fill('purges', s.purges.map(function (p) {
      return row([el('td', time(p.at)), el('td', source(p.source)), el('td', p.summary, 'wrap'), num(p.purged), el('td', p.soft ? 'yes' : 'no')]);
    }), 5, 'no purge since start');
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

  // The charts are drawn to the width they have, so a turned phone gets them redrawn.
  window.addEventListener('resize', function () { if (last !== null) drawCharts(last); });

  $('purge-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var result = $('purge-result');
    var values = $('purge-value').value.split(/[\s,]+/).filter(function (v) { return v !== ''; });
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
