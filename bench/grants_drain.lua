-- Ending a wrk run (-t1) without cutting requests off. wrk closes its connections at the end
-- of a run with requests still in flight, and mcp-auth has been seen to lose its SQLite store
-- to that ("database is locked" until restart), which would spoil the next path. So a run
-- ends itself: when its items run out (`start()`) or RUN_SECS have passed (`due()`), every
-- connection's next request is DRAIN_PATH (a GET of metadata), and once every measured
-- request sent has its answer, the thread stops and wrk gets SIGINT, which ends the run at
-- once and reports over the time actually spent. A few drain answers (about one per
-- connection) are in wrk's totals. Used through dofile(LUA_DIR .. "/grants_drain.lua").
local D = {}
local secs = tonumber(os.getenv("RUN_SECS") or "0")
local mark = os.getenv("DRAIN_MARK") or '"issuer"'
local drain_request
local started, drain_since
local checked, draining, finished = false, false, false
local sent, answered = 0, 0

-- wrk calls request() once before the run to check it: that request is never sent.
function D.checking()
  if checked then return false end
  checked = true
  started = os.time()
  return true
end

function D.due()
  return secs > 0 and os.time() - started >= secs
end

function D.start()
  if not draining then
    draining = true
    drain_since = os.time()
  end
end

local function finish()
  if finished then return end
  finished = true
  wrk.thread:stop()
  -- system() ignores SIGINT while its shell runs: send it from a detached child, a moment later.
  os.execute("(sleep 0.02; kill -INT $PPID) &")
end

-- The next request: `measured` (a string from wrk.format) or, once draining, the drain request.
function D.next(measured)
  -- Built here, not when the script loads: wrk sets the Host header only after loading it.
  drain_request = drain_request or wrk.format("GET", os.getenv("DRAIN_PATH") or "/")
  if not draining and D.due() then D.start() end
  if draining then
    if answered >= sent or os.time() - drain_since > 2 then finish() end
    return drain_request
  end
  sent = sent + 1
  return measured
end

-- Count an answer; true when it answers a measured request.
function D.answer(body)
  if body and body:find(mark, 1, true) then
    if draining and answered >= sent then finish() end
    return false
  end
  answered = answered + 1
  if draining and sent == answered then finish() end
  return true
end

function D.draining()
  return draining
end

return D
