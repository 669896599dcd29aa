-- wrk (-t1): one POST to TARGET_PATH (default /token) per line of the file LINES, each line
-- used once; the run ends when the file runs out (bounded by its lines), its rate over the
-- time actually spent.
-- The body is BODY_PREFIX .. line; with LINE_HEADER set, a line is "VALUE<TAB>SUFFIX": VALUE
-- goes into that header (a DPoP proof) and SUFFIX after BODY_PREFIX. AUTH, when set, is the
-- Authorization header of every request.
local target = os.getenv("TARGET_PATH") or "/token"
local prefix = os.getenv("BODY_PREFIX") or ""
local line_header = os.getenv("LINE_HEADER") or ""
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local file

-- Stop this thread and end the run now: wrk's SIGINT handler cuts its sleep short, so it
-- reports the requests done over the time actually spent, not over -d.
local finished = false
local function finish()
  wrk.thread:stop()
  if finished then return end
  finished = true
  -- (system() ignores SIGINT while its shell runs: send it from a detached child, a moment later)
  os.execute("(sleep 0.02; kill -INT $PPID) &")
end

function init(args)
  file = assert(io.open(os.getenv("LINES"), "r"))
  local auth = os.getenv("AUTH") or ""
  if auth ~= "" then headers["Authorization"] = auth end
end

function request()
  local line = file:read("*l")
  if not line then
    finish()
    return wrk.format("GET", "/lines-exhausted")
  end
  if line_header ~= "" then
    local value, suffix = line:match("^([^\t]*)\t(.*)$")
    headers[line_header] = value
    line = suffix
  end
  return wrk.format("POST", target, headers, prefix .. line)
end
