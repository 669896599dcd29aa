#!/usr/bin/env bash
# The TypeScript MCP SDK v2 client's DPoP support (RFC 9449, SEP-1932) against auth-server and
# the layer (issue 24 §5), with real processes on loopback:
#   - auth-server on 127.0.0.1 with `[dpop] enabled = true`, dynamic registration on (the
#     default) and the user alice;
#   - protected-mcp-server on 127.0.0.1 with `--dpop required`;
#   - client.mjs: the SDK registers, authorizes (the scripted browser signs in and approves),
#     redeems the code with a DPoP proof, and calls `echo` with DPoP; the token presented
#     without its proof is refused.
# Needs the debug binaries (`cargo build --bins` at the workspace root), `npm ci` here and
# python3 (free ports). Exits non-zero on any failure; stops every process it started on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
BIN="${MCP_AUTH_BIN_DIR:-$ROOT/target/debug}"
PASSWORD="correct horse battery"
[[ -d "$HERE/node_modules/@modelcontextprotocol/client" ]] || { echo "run 'npm ci' in $HERE first" >&2; exit 1; }
for b in auth-server protected-mcp-server; do
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

read -r AS_PORT MCP_PORT < <(timeout 20 python3 -c '
import socket
ports = []
while len(ports) < 2:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    if p not in ports:
        ports.append(p)
print(*ports)')
ISSUER="http://127.0.0.1:$AS_PORT"
MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"
echo "AS: $ISSUER  MCP: $MCP_URL"

cat >"$WORK/as.toml" <<EOF
bind = "127.0.0.1:$AS_PORT"
database = "$WORK/as.db"
default_resource = "$MCP_URL"

[dpop]
enabled = true

[[resources]]
resource = "$MCP_URL"
scopes = ["mcp:tools"]
default_scopes = ["mcp:tools"]
EOF
as_cli() { MCP_AUTH_LOG=warn timeout 30 "$BIN/auth-server" --config "$WORK/as.toml" "$@" 2>>"$WORK/cli.log"; }
as_cli migrate >/dev/null
as_cli user add alice <<<"$PASSWORD" >/dev/null

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

MCP_AUTH_LOG=info start auth-server "mcp-auth authorization server listening on " \
  "$BIN/auth-server" --config "$WORK/as.toml" serve
MCP_ISSUER="$ISSUER" MCP_BIND="127.0.0.1:$MCP_PORT" MCP_PUBLIC_URL="$MCP_URL" MCP_DPOP=required \
  MCP_LOG=warn start mcp-server "protected MCP server listening on " "$BIN/protected-mcp-server"

cd "$HERE"
echo "TypeScript SDK v2 client with DPoP:"
timeout 120 node client.mjs "$MCP_URL" "$ISSUER" alice "$PASSWORD"
