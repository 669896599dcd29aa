-- wrk: the authorization server's part of the soak's mixed load (bench/soak.sh), one thread.
-- A cycle of 20 requests: 7 client_credentials (client_secret_basic), 6 introspections of an
-- access token, 6 refresh-token rotations, 1 authorization-code redemption (PKCE).
-- Environment:
--   AUTH        "Basic ..." of the confidential client (client_credentials, introspection)
--   RESOURCE    the resource indicator, URL-encoded
--   PUBLIC_ID   the public client of the codes and refresh tokens
--   REDIRECT    its redirect URI, URL-encoded
--   TOKEN       the access token introspected
--   CODES       file: one "code verifier" a line, each redeemed once (minted beforehand)
--   POOL_IN     file: refresh tokens to rotate, one a line (may be absent)
--   POOL_OUT    file: the refresh tokens not yet used when the run ends (for the next run)
--   PERIOD_MS   per-connection wait before each request, milliseconds (0: unthrottled)
--   OUT         file: one line of results (statuses, latency percentiles) written by done()
-- Every refresh or code answer carries a new refresh token, which goes back into the pool, so
-- each family keeps rotating; with no token in the pool a refresh slot sends a
-- client_credentials request instead. Statuses are counted; a 503 without Retry-After is
-- counted apart.

local auth = os.getenv("AUTH")
local resource = os.getenv("RESOURCE")
local public_id = os.getenv("PUBLIC_ID")
local redirect = os.getenv("REDIRECT")
local period = tonumber(os.getenv("PERIOD_MS") or "0")
local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local basic = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth }

local cc_body = "grant_type=client_credentials&scope=mcp%3Atools&resource=" .. resource
local introspect_body = "token=" .. (os.getenv("TOKEN") or "")
local cycle = { "cc", "intro", "refresh", "cc", "intro", "refresh", "cc", "intro", "refresh", "code",
                "cc", "intro", "refresh", "cc", "intro", "refresh", "cc", "intro", "refresh", "cc" }

codes = {}
pool = {}        -- a queue (pool_head .. pool_tail), so that every family rotates in turn
pool_head = 1
pool_tail = 0
statuses = {}
kinds = {}
no_retry_after = 0
local next_code = 1
local slot = 0
local acc = 0

local function lines(path)
  local out = {}
  if not path or path == "" then return out end
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  return out
end

function init(args)
  codes = lines(os.getenv("CODES"))
  pool = lines(os.getenv("POOL_IN"))
  pool_tail = #pool
end

local function push(token)
  pool_tail = pool_tail + 1
  pool[pool_tail] = token
end

local function count(kind)
  kinds[kind] = (kinds[kind] or 0) + 1
end

function request()
  slot = slot % #cycle + 1
  local kind = cycle[slot]
  if kind == "code" and next_code <= #codes then
    local code, verifier = codes[next_code]:match("^(%S+) (%S+)$")
    next_code = next_code + 1
    count("code")
    return wrk.format("POST", "/token", form,
      "grant_type=authorization_code&client_id=" .. public_id .. "&code=" .. code ..
      "&redirect_uri=" .. redirect .. "&code_verifier=" .. verifier)
  elseif kind == "refresh" and pool_head <= pool_tail then
    local token = pool[pool_head]
    pool[pool_head] = nil
    pool_head = pool_head + 1
    count("refresh")
    return wrk.format("POST", "/token", form,
      "grant_type=refresh_token&client_id=" .. public_id .. "&refresh_token=" .. token)
  elseif kind == "intro" then
    count("intro")
    return wrk.format("POST", "/introspect", basic, introspect_body)
  end
  count("cc")
  return wrk.format("POST", "/token", basic, cc_body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then push(token) end
  elseif status == 503 and not (headers["retry-after"] or headers["Retry-After"]) then
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
  local st, kd, missing, left = {}, {}, 0, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("kinds")) do kd[k] = (kd[k] or 0) + v end
    missing = missing + t:get("no_retry_after")
    local p = t:get("pool")
    for i = t:get("pool_head"), t:get("pool_tail") do
      if p[i] then left[#left + 1] = p[i] end
    end
  end
  local path = os.getenv("POOL_OUT")
  if path and path ~= "" then
    local f = io.open(path, "w")
    for _, v in ipairs(left) do f:write(v, "\n") end
    f:close()
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = "s" .. k .. "=" .. v end
  for k, v in pairs(kd) do parts[#parts + 1] = "k_" .. k .. "=" .. v end
  local e = summary.errors
  local f = io.open(os.getenv("OUT"), "w")
  f:write(string.format(
    "requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d no_retry_after=%d pool=%d %s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.timeout, missing, #left, table.concat(parts, " ")))
  f:close()
end
