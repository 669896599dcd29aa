-- wrk (-t1): mints what a measured run spends, before it. Sends METHOD (default GET) to
-- MINT_PATH with MINT_BODY and AUTH, and writes to OUT one value per answer: the `code` of a
-- 302's Location, or the JSON string FIELD of a 200. Stops after COUNT values.
local want = tonumber(os.getenv("COUNT"))
local field = os.getenv("FIELD") or "code"
local out = assert(io.open(os.getenv("OUT"), "w"))
local got = 0
out:setvbuf("line")
wrk.method = os.getenv("METHOD") or "GET"
wrk.path = os.getenv("MINT_PATH")
wrk.body = os.getenv("MINT_BODY")
if wrk.body then wrk.headers["Content-Type"] = "application/x-www-form-urlencoded" end
if (os.getenv("AUTH") or "") ~= "" then wrk.headers["Authorization"] = os.getenv("AUTH") end

function response(status, headers, body)
  if got >= want then return end
  local value
  if status == 302 then
    value = (headers["location"] or headers["Location"] or ""):match("[?&]code=([^&]+)")
  elseif status == 200 then
    value = body:match('"' .. field .. '"%s*:%s*"([^"]+)"')
  end
  if value then
    out:write(value, "\n")
    got = got + 1
    if got >= want then
      wrk.thread:stop()
      os.execute("(sleep 0.02; kill -INT $PPID) &") -- end the run now, not after -d
    end
  end
end
