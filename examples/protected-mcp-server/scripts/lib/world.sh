# The world both real-client scripts run in, with real processes on loopback (sourced, not run),
# set up as auth-server/tests/elicitation_e2e.rs `start_world` does:
#   - a third-party auth-server on 127.0.0.2 (the users USERS; a confidential client for our AS
#     whose redirect URI is our /connect/callback) and its calendar-api on 127.0.0.2;
#   - our auth-server on 127.0.0.1 ([vault] with key id KEY_ID, [[connections]] calendar, the
#     MCP server's client in server_clients, a public MCP client named MCP_CLIENT_NAME, the
#     users USERS) and protected-mcp-server on 127.0.0.1 with list_events on.
# Each database is created with `auth-server migrate` before the admin commands use it.
# The caller sets BIN (the binaries' folder), USERS (array), KEY_ID, MCP_CLIENT_NAME and
# PASSWORD; afterwards ISSUER, TP, MCP_URL, API_URL and MCP_CLIENT_ID name the world, WORK is
# its scratch folder, and on exit every process is stopped (with the last log lines on failure)
# and WORK removed. Needs python3 (free ports) and coreutils.
EXCHANGE="urn:ietf:params:oauth:grant-type:token-exchange"
TP_HOST=127.0.0.2

for b in auth-server protected-mcp-server calendar-api; do
  [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b: run 'cargo build --bins' first" >&2; exit 1; }
done

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for log in "$WORK"/*.log; do
      [[ -f "$log" ]] || continue
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 20 "$log" >&2
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four ports free on both 127.0.0.1 and 127.0.0.2 (browsers keep cookies per host, so the third
# party lives on another loopback address).
read -r AS_PORT TP_PORT MCP_PORT API_PORT < <(timeout 20 python3 -c '
import socket
def free(host, port):
    s = socket.socket()
    try:
        s.bind((host, port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
ports = []
while len(ports) < 4:
    p = free("127.0.0.1", 0)
    if p and p not in ports and free("127.0.0.2", p):
        ports.append(p)
print(*ports)')

ISSUER="http://127.0.0.1:$AS_PORT"
TP="http://$TP_HOST:$TP_PORT"
MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"
API_URL="http://$TP_HOST:$API_PORT/api"
echo "our AS: $ISSUER  third party: $TP  MCP: $MCP_URL  calendar API: $API_URL"

as_cli() { # config args...; password (if any) on stdin
  local config="$1"; shift
  MCP_AUTH_LOG=warn timeout 30 "$BIN/auth-server" --config "$config" "$@" 2>>"$WORK/cli.log"
}
field() { sed -n "s/^$1: //p"; }
rand_key() { head -c 32 /dev/urandom | base64; }

# The third party: its users, and our AS as a confidential client.
cat >"$WORK/tp.toml" <<EOF
bind = "$TP_HOST:$TP_PORT"
database = "$WORK/tp.db"
default_resource = "$API_URL"

[[resources]]
resource = "$API_URL"
scopes = ["calendar:read"]
default_scopes = ["calendar:read"]
EOF
as_cli "$WORK/tp.toml" migrate >/dev/null
out="$(as_cli "$WORK/tp.toml" client add --name "MCP connector" \
  --redirect-uri "$ISSUER/connect/callback" --resource "$API_URL" </dev/null)"
CONNECTOR_ID="$(field client_id <<<"$out")"
CONNECTOR_SECRET="$(field client_secret <<<"$out")"
[[ -n "$CONNECTOR_ID" && -n "$CONNECTOR_SECRET" ]] || { echo "no connector client: $out" >&2; exit 1; }
for user in "${USERS[@]}"; do
  as_cli "$WORK/tp.toml" user add "$user" <<<"$PASSWORD" >/dev/null
done

# Our AS, first without the server client (its id comes from `client add`).
VAULT_KEY="$(rand_key)"
as_toml() {
  cat <<EOF
bind = "127.0.0.1:$AS_PORT"
database = "$WORK/as.db"
default_resource = "$MCP_URL"

[vault]
key = "$VAULT_KEY"
key_id = "$KEY_ID"

[[resources]]
resource = "$MCP_URL"
scopes = ["mcp:tools"]
default_scopes = ["mcp:tools"]
server_clients = [$1]

[[connections]]
name = "calendar"
display_name = "Example Calendar"
issuer = "$TP"
client_id = "$CONNECTOR_ID"
client_secret = "$CONNECTOR_SECRET"
scopes = ["calendar:read"]
resource_indicator = "$API_URL"
resources = ["$MCP_URL"]
allow_insecure_http = true
EOF
}
as_toml "" >"$WORK/as.toml"
as_cli "$WORK/as.toml" migrate >/dev/null
out="$(as_cli "$WORK/as.toml" client add --name "Calendar MCP server" --grant "$EXCHANGE" </dev/null)"
SERVER_ID="$(field client_id <<<"$out")"
SERVER_SECRET="$(field client_secret <<<"$out")"
[[ -n "$SERVER_ID" && -n "$SERVER_SECRET" ]] || { echo "no server client: $out" >&2; exit 1; }
out="$(as_cli "$WORK/as.toml" client add --name "$MCP_CLIENT_NAME" --public \
  --redirect-uri "http://127.0.0.1:7777/callback" </dev/null)"
MCP_CLIENT_ID="$(field client_id <<<"$out")"
[[ -n "$MCP_CLIENT_ID" ]] || { echo "no MCP client: $out" >&2; exit 1; }
as_toml "\"$SERVER_ID\"" >"$WORK/as.toml"
for user in "${USERS[@]}"; do
  as_cli "$WORK/as.toml" user add "$user" <<<"$PASSWORD" >/dev/null
done

# start NAME "ready line prefix" command... : run in the background, wait (30 s at most) until
# its stdout has the ready line.
start() {
  local name="$1" ready="$2"; shift 2
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=("$!")
  local pid=$!
  for _ in $(seq 300); do
    if grep -qs "^$ready" "$WORK/$name.out"; then echo "started $name"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "$name exited" >&2; cat "$WORK/$name.out" >&2; return 1; }
    sleep 0.1
  done
  echo "$name did not start within 30 s" >&2
  return 1
}

MCP_AUTH_LOG=info start third-party "mcp-auth authorization server listening on " \
  "$BIN/auth-server" --config "$WORK/tp.toml" serve
MCP_AUTH_LOG=info start our-as "mcp-auth authorization server listening on " \
  "$BIN/auth-server" --config "$WORK/as.toml" serve
CALENDAR_API_ISSUER="$TP" CALENDAR_API_BIND="$TP_HOST:$API_PORT" CALENDAR_API_PUBLIC_URL="$API_URL" \
  CALENDAR_API_LOG=warn start calendar-api "calendar API listening on " "$BIN/calendar-api"
MCP_ISSUER="$ISSUER" MCP_BIND="127.0.0.1:$MCP_PORT" MCP_PUBLIC_URL="$MCP_URL" \
  MCP_CONNECT_CLIENT_ID="$SERVER_ID" MCP_CONNECT_CLIENT_SECRET="$SERVER_SECRET" \
  MCP_REQUEST_STATE_KEY="$(rand_key)" MCP_CALENDAR_API_URL="$API_URL" MCP_LOG=warn \
  start mcp-server "protected MCP server listening on " "$BIN/protected-mcp-server"
