-- Prints wrk's summary as one JSON line, so bench/http/load.ts need not parse wrk's text.
-- Times are in microseconds; errors.status counts responses with a status of 400 or more.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"p50Us":%.1f,"p99Us":%.1f,"meanUs":%.1f,"maxUs":%.1f,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

-- With WRK_UNIQUE_PATHS set (LoadOptions.uniquePaths), each request asks for a path no
-- request asked before: WRK_UNIQUE_PATHS .. '/' .. thread .. '-' .. n, with a counter per
-- thread (each wrk thread has a Lua state of its own). Only then is `request` defined:
-- without it wrk sends one request built once, and the other cases cost wrk no Lua call.
local prefix = os.getenv('WRK_UNIQUE_PATHS')
if prefix ~= nil then
  local threads = 0
  -- Runs in wrk's main Lua state, once per thread; `thread:set` makes a global in the thread's state.
  setup = function(thread)
    threads = threads + 1
    thread:set('thread_index', threads)
  end
  local n = 0
  request = function()
    n = n + 1
    return wrk.format(nil, prefix .. '/' .. thread_index .. '-' .. n)
  end
end
