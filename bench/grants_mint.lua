-- wrk (-t1): mints what a measured run spends, before it. Sends METHOD (default GET) to
-- MINT_PATH with MINT_BODY and AUTH, and writes to OUT one value per answer: the `code` of a
-- 302's Location, or the JSON string FIELD of a 200. After COUNT values the run ends through
-- grants_drain.lua (no request cut off).
local D = dofile(os.getenv("LUA_DIR") .. "/grants_drain.lua")
local want = tonumber(os.getenv("COUNT"))
local field = os.getenv("FIELD") or "code"
local out = assert(io.open(os.getenv("OUT"), "w"))
local got = 0
out:setvbuf("line")
local headers = {}
local body = os.getenv("MINT_BODY")
if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
if (os.getenv("AUTH") or "") ~= "" then headers["Authorization"] = os.getenv("AUTH") end
local measured

-- After wrk has set the Host header (it does so after loading the script).
function init(args)
  measured = wrk.format(os.getenv("METHOD") or "GET", os.getenv("MINT_PATH"), headers, body)
end

function request()
  if D.checking() then return measured end
  return D.next(measured)
end

function response(status, headers, body)
  if not D.answer(body) or got >= want then return end
  local value
  if status == 302 then
    value = (headers["location"] or headers["Location"] or ""):match("[?&]code=([^&]+)")
  elseif status == 200 then
    value = body:match('"' .. field .. '"%s*:%s*"([^"]+)"')
  end
  if value then
    out:write(value, "\n")
    got = got + 1
    if got >= want then D.start() end
  end
end
