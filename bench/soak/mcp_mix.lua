-- wrk: the resource-server part of the soak's mixed load (bench/soak.sh), one thread:
-- `tools/call` of `echo` on protected-mcp-server, through its BearerAuthLayer (ES256 token
-- check, scope policy, session binding), over MCP sessions opened beforehand.
-- Environment:
--   TOKEN       the bearer access token (for the MCP server's URL, scope mcp:tools)
--   SESSIONS    file: one "session-id protocol-version" a line, used in turn
--   PERIOD_MS   per-connection wait before each request, milliseconds (0: unthrottled)
--   OUT         file: one line of results written by done()

local period = tonumber(os.getenv("PERIOD_MS") or "0")
local token = os.getenv("TOKEN")
local body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"soak"}}}'
local requests_by_session = {}
statuses = {}
no_retry_after = 0
local n = 0
local acc = 0

function init(args)
  local f = assert(io.open(os.getenv("SESSIONS"), "r"))
  for line in f:lines() do
    local id, version = line:match("^(%S+) (%S+)$")
    if id then
      requests_by_session[#requests_by_session + 1] = wrk.format("POST", "/mcp", {
        ["Content-Type"] = "application/json",
        ["Accept"] = "application/json, text/event-stream",
        ["Authorization"] = "Bearer " .. token,
        ["Mcp-Session-Id"] = id,
        ["MCP-Protocol-Version"] = version,
      }, body)
    end
  end
  f:close()
end

function request()
  n = n % #requests_by_session + 1
  return requests_by_session[n]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and not (headers["retry-after"] or headers["Retry-After"]) then
    no_retry_after = no_retry_after + 1
  end
end

function delay()
  if period <= 0 then return 0 end
  acc = acc + period
  local d = math.floor(acc)
  acc = acc - d
  return d
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local st, missing = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
    missing = missing + t:get("no_retry_after")
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = "s" .. k .. "=" .. v end
  local e = summary.errors
  local f = io.open(os.getenv("OUT"), "w")
  f:write(string.format(
    "requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d no_retry_after=%d pool=0 %s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.timeout, missing, table.concat(parts, " ")))
  f:close()
end
