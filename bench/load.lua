-- wrk script for one Tessera operation (see bench/README.md).
--
--   wrk ... -s bench/load.lua <url> -- <mode> <template> <pool> <threads>
--
-- mode      create | verify | refresh
-- template  a file of three lines: the Authorization header value (or "-"), and the
--           request body split around the one value that varies per request
--           (body = line2 .. value .. line3)
-- pool      a file of one value a line (tokens for verify, refresh tokens for refresh;
--           "-" for create); thread k keeps the lines i with i % threads == k
-- threads   the -t given to wrk
--
-- refresh: refresh tokens rotate, so each thread keeps a FIFO queue of refresh tokens,
-- takes one per request and puts back the successor parsed from the response. A
-- response without one loses that session from the queue (and counts as an error).
--
-- done() prints one line "BENCH_RESULT key=value ..." for bench/run.py.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    lines[#lines + 1] = line
  end
  return lines
end

function init(args)
  mode = args[1]
  local template = read_lines(args[2])
  local nthreads = tonumber(args[4])
  headers = { ["Content-Type"] = "application/json" }
  if template[1] ~= "-" then
    headers["Authorization"] = template[1]
  end
  prefix, suffix = template[2], template[3]

  -- FIFO queue: pool[head .. tail - 1]
  pool, head, tail = {}, 1, 1
  if args[3] ~= "-" then
    local i = 0
    for line in io.lines(args[3]) do
      if line ~= "" then
        if i % nthreads == id then
          pool[tail] = line
          tail = tail + 1
        end
        i = i + 1
      end
    end
  end
  cursor = head
  counter = 0

  -- Per-thread counters, summed by done() through thread:get.
  non2xx = 0
  app_errors = 0
  pool_empty = 0
end

function request()
  local value
  if mode == "create" then
    counter = counter + 1
    value = "user-" .. id .. "-" .. counter
  elseif mode == "verify" then
    value = pool[cursor]
    cursor = cursor + 1
    if cursor >= tail then
      cursor = head
    end
  else
    if head < tail then
      value = pool[head]
      pool[head] = nil
      head = head + 1
    else
      -- Every session of this thread was lost to errors: send a token that cannot
      -- exist so the failure shows up in the error counts.
      pool_empty = pool_empty + 1
      value = "exhausted.0:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    end
  end
  return wrk.format("POST", nil, headers, prefix .. value .. suffix)
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if body == nil then
    app_errors = app_errors + 1
    return
  end
  local failed = body:find('"errors"', 1, true) ~= nil or body:find('"code"', 1, true) ~= nil
  if mode == "verify" then
    if body:find('"valid":%s*true') == nil then
      failed = true
    end
  elseif mode == "refresh" then
    local successor = body:match('"refreshToken":%s*"([^"]+)"')
    if successor then
      pool[tail] = successor
      tail = tail + 1
    else
      failed = true
    end
  elseif body:find('"refreshToken"', 1, true) == nil then
    failed = true
  end
  if failed then
    app_errors = app_errors + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, app_total, empty_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    app_total = app_total + thread:get("app_errors")
    empty_total = empty_total + thread:get("pool_empty")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%.0f duration_us=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f "
      .. "max_us=%.0f non2xx=%.0f socket_errors=%.0f timeouts=%.0f app_errors=%.0f "
      .. "pool_empty=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, non2xx_total,
    e.connect + e.read + e.write, e.timeout, app_total, empty_total
  ))
end
