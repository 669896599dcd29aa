-- wrk: the same POST every time: TARGET_PATH (default /token), form body BODY, and the
-- Authorization header AUTH when set (client_secret_basic client_credentials, introspection).
-- The run lasts RUN_SECS and ends through grants_drain.lua.
local D = dofile(os.getenv("LUA_DIR") .. "/grants_drain.lua")
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
if (os.getenv("AUTH") or "") ~= "" then headers["Authorization"] = os.getenv("AUTH") end
local measured

-- After wrk has set the Host header (it does so after loading the script).
function init(args)
  measured = wrk.format("POST", os.getenv("TARGET_PATH") or "/token", headers, os.getenv("BODY"))
end

function request()
  if D.checking() then return measured end
  return D.next(measured)
end

function response(status, headers, body)
  D.answer(body)
end
