-- wrk: POST /token grant_type=client_credentials with a private_key_jwt client assertion.
-- Each request uses the next pre-signed assertion from the file ASSERTIONS (fresh jti each);
-- run with -t1 so one Lua state walks the list once.
local assertions = {}
local next_index = 0
local resource = os.getenv("RESOURCE") or "https%3A%2F%2Fmcp.example.com%2Fmcp"
local prefix = "grant_type=client_credentials&scope=mcp%3Atools&resource=" .. resource ..
  "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
  for line in io.lines(os.getenv("ASSERTIONS")) do
    assertions[#assertions + 1] = line
  end
end

function request()
  next_index = next_index + 1
  local a = assertions[((next_index - 1) % #assertions) + 1]
  return wrk.format("POST", "/token", headers, prefix .. a)
end
