-- wrk (-t1): one POST to TARGET_PATH (default /token) per line of the file LINES, each line
-- used once; the run ends when the file runs out (bounded by its lines) or after RUN_SECS,
-- through grants_drain.lua, its rate over the time actually spent.
-- The body is BODY_PREFIX .. line; with LINE_HEADER set, a line is "VALUE<TAB>SUFFIX": VALUE
-- goes into that header (a DPoP proof) and SUFFIX after BODY_PREFIX. AUTH, when set, is the
-- Authorization header of every request.
local D = dofile(os.getenv("LUA_DIR") .. "/grants_drain.lua")
local target = os.getenv("TARGET_PATH") or "/token"
local prefix = os.getenv("BODY_PREFIX") or ""
local line_header = os.getenv("LINE_HEADER") or ""
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
if (os.getenv("AUTH") or "") ~= "" then headers["Authorization"] = os.getenv("AUTH") end
local file = assert(io.open(os.getenv("LINES"), "r"))

function request()
  if D.checking() then return wrk.format("POST", target, headers, prefix) end
  local line = not D.draining() and file:read("*l")
  if not line then
    D.start()
    return D.next(nil)
  end
  if line_header ~= "" then
    local value, suffix = line:match("^([^\t]*)\t(.*)$")
    headers[line_header] = value
    line = suffix
  end
  return D.next(wrk.format("POST", target, headers, prefix .. line))
end

function response(status, headers, body)
  D.answer(body)
end
