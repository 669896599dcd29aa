-- wrk (-t1): refresh-token rotation. REFRESH holds one refresh token a line, one family per
-- connection; each request spends a token of the pool and its answer's new refresh token
-- goes back into it, so every family is used by one request at a time and each request
-- spends the token the previous one got. BODY_PREFIX ends in "refresh_token=". The run lasts
-- RUN_SECS and ends through grants_drain.lua.
local D = dofile(os.getenv("LUA_DIR") .. "/grants_drain.lua")
local prefix = os.getenv("BODY_PREFIX")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local pool = {}
local told = false
for line in io.lines(os.getenv("REFRESH")) do
  if line ~= "" then pool[#pool + 1] = line end
end

function request()
  if D.checking() then return wrk.format("POST", "/token", headers, prefix .. "check") end
  if D.draining() or D.due() then return D.next(nil) end
  -- An empty pool means a family was lost to a failed request: that request is an error.
  local token = table.remove(pool) or "pool-empty"
  return D.next(wrk.format("POST", "/token", headers, prefix .. token))
end

function response(status, headers, body)
  if not D.answer(body) then return end
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then pool[#pool + 1] = token end
  elseif not told then
    told = true
    io.stderr:write("refresh: first failure: ", status, " ", body:sub(1, 300), "\n")
  end
end
