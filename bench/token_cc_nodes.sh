#!/usr/bin/env bash
# Token endpoint throughput (grant_type=client_credentials) by store and node count (issue 13):
# one node on SQLite, one node on PostgreSQL, two nodes on PostgreSQL; private_key_jwt against
# client_secret_basic on the same node. Same run, alternating. Loopback only.
#
# Usage: bench/token_cc_nodes.sh [ROUNDS]
#   env: DURATION=10s CONNECTIONS=32 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
#        BIN=path/to/auth-server (skip the build and use that binary)
# The PostgreSQL variants use a fresh schema bench_<pid> in DATABASE_URL's database, dropped at
# the end. Needs wrk, psql, taskset.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-2}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT_A="${PORT_A:-19091}"
PORT_B="${PORT_B:-19092}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
SCHEMA="bench_$$"
RESOURCE_URL="https://mcp.example.com/mcp"
RESOURCE_ENC="https%3A%2F%2Fmcp.example.com%2Fmcp"
ISSUER="http://127.0.0.1:$PORT_A"
SCRATCH="$(mktemp -d /tmp/mcp-auth-bench-nodes.XXXXXX)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

for tool in wrk psql taskset curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

if [ -z "${BIN:-}" ]; then
  echo "== building auth-server (release) and the assertion tool"
  (cd "$ROOT" && cargo build --release -q -p mcp-auth-server \
    && cargo build --release -q -p mcp-auth-ext-client-credentials --features client --example cc_assertions)
  BIN="$ROOT/target/release/auth-server"
fi
TOOL="$ROOT/target/release/examples/cc_assertions"

psql "$DATABASE_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
PG_URL="$DATABASE_URL?options=-c%20search_path%3D$SCHEMA"
case "$DATABASE_URL" in *\?*) PG_URL="$DATABASE_URL&options=-c%20search_path%3D$SCHEMA" ;; esac

# config NAME DATABASE PORT: a configuration file; both stores share the issuer (node A's
# address), so one set of assertions serves every variant.
config() {
  cat > "$SCRATCH/$1.toml" <<TOML
bind = "127.0.0.1:$3"
issuer = "$ISSUER"
database = "$2"
session_secret = "bench-session-secret-0123456789abcdef"
default_resource = "$RESOURCE_URL"

[[resources]]
resource = "$RESOURCE_URL"
scopes = ["mcp:tools", "mcp:resources"]
default_scopes = ["mcp:tools"]
TOML
}
config sqlite "$SCRATCH/auth.db" "$PORT_A"
config pg_a "$PG_URL" "$PORT_A"
config pg_b "$PG_URL" "$PORT_B"

echo "== provisioning (one secret client and one private_key_jwt client per store)"
"$TOOL" keygen "$SCRATCH"
provision() { # config -> sets SECRET_AUTH_<store> and JWT_ID_<store>
  local out id secret
  "$BIN" --config "$SCRATCH/$1.toml" migrate >/dev/null
  out="$("$BIN" --config "$SCRATCH/$1.toml" client add --name bench-secret --grant client_credentials --scope mcp:tools --resource "$RESOURCE_URL")"
  id="$(sed -n 's/^client_id: //p' <<<"$out")"
  secret="$(sed -n 's/^client_secret: //p' <<<"$out")"
  printf -v "AUTH_$1" '%s' "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
  out="$("$BIN" --config "$SCRATCH/$1.toml" client add --name bench-jwt --grant client_credentials --scope mcp:tools --resource "$RESOURCE_URL" --jwks "$SCRATCH/jwks.json")"
  printf -v "JWT_$1" '%s' "$(sed -n 's/^client_id: //p' <<<"$out")"
}
provision sqlite
provision pg_a

# start CONFIG PORT [CPU]: start a node (pinned to CPU when given); sets LAST_PID.
start() {
  local pin=()
  [ -n "${3:-}" ] && pin=(taskset -c "$3")
  MCP_AUTH_LOG=warn "${pin[@]}" "$BIN" --config "$SCRATCH/$1.toml" serve --client-credentials \
    >>"$SCRATCH/nodes.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$2/healthz" && return 0
    sleep 0.1
  done
  echo "node on port $2 did not start" >&2; cat "$SCRATCH/nodes.log" >&2; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# wrk_run PORT LUA CONNECTIONS AUTH [ASSERTIONS]: prints "rps errors".
wrk_run() {
  local out rps non2xx sock
  out="$(AUTH="$4" ASSERTIONS="${5:-}" RESOURCE="$RESOURCE_ENC" \
    wrk -t1 -c"$3" -d"$DURATION" --latency -s "$2" "http://127.0.0.1:$1")"
  echo "$out" >>"$SCRATCH/wrk.log"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  sock="$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")"
  echo "$rps $(( ${non2xx:-0} + ${sock:-0} ))"
}
SECRET_LUA="$ROOT/bench/token_cc_secret.lua"
JWT_LUA="$ROOT/bench/token_cc_jwt.lua"

# jwt STORE PORT: fresh assertions (new jtis) for STORE's client, then measure.
jwt() {
  local id_var="JWT_$1"
  "$TOOL" sign "$SCRATCH" "${!id_var}" "$ISSUER" 400000 >/dev/null
  wrk_run "$2" "$JWT_LUA" "$CONNECTIONS" "" "$SCRATCH/assertions.txt"
}

declare -A R
add() { R["$1"]="${R["$1"]:-} $2"; }
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round"
  start sqlite "$PORT_A"; pid=$LAST_PID
  r="$(wrk_run "$PORT_A" "$SECRET_LUA" "$CONNECTIONS" "$AUTH_sqlite")"; add sqlite_secret "${r%% *}"; echo "   sqlite secret: $r"
  r="$(jwt sqlite "$PORT_A")"; add sqlite_jwt "${r%% *}"; echo "   sqlite jwt: $r"
  stop "$pid"

  start pg_a "$PORT_A"; pid=$LAST_PID
  r="$(wrk_run "$PORT_A" "$SECRET_LUA" "$CONNECTIONS" "$AUTH_pg_a")"; add pg_secret "${r%% *}"; echo "   pg secret: $r"
  r="$(jwt pg_a "$PORT_A")"; add pg_jwt "${r%% *}"; echo "   pg jwt: $r"
  stop "$pid"

  start pg_a "$PORT_A" 0; pid=$LAST_PID
  r="$(wrk_run "$PORT_A" "$SECRET_LUA" "$CONNECTIONS" "$AUTH_pg_a")"; add pg_one_pinned "${r%% *}"; echo "   pg one node on core 0: $r"
  stop "$pid"

  start pg_a "$PORT_A" 0; pa=$LAST_PID
  start pg_b "$PORT_B" 1; pb=$LAST_PID
  half=$(( CONNECTIONS / 2 ))
  wrk_run "$PORT_A" "$SECRET_LUA" "$half" "$AUTH_pg_a" >"$SCRATCH/two_a" &
  wa=$!
  wrk_run "$PORT_B" "$SECRET_LUA" "$half" "$AUTH_pg_a" >"$SCRATCH/two_b" &
  wb=$!
  wait "$wa" "$wb"
  total="$(awk '{s+=$1; e+=$2} END {print s, e}' "$SCRATCH/two_a" "$SCRATCH/two_b")"
  add pg_two_pinned "${total%% *}"; echo "   pg two nodes on cores 0 and 1: $total"
  stop "$pa"; stop "$pb"
done

mean() { awk '{s=0; for (i=1;i<=NF;i++) s+=$i; print s/NF}' <<<"${R[$1]}"; }
echo
echo "== results: $ROUNDS round(s), wrk -t1 -c$CONNECTIONS -d$DURATION, $(nproc) cores, loopback"
for k in sqlite_secret sqlite_jwt pg_secret pg_jwt pg_one_pinned pg_two_pinned; do
  printf '%-16s %10.0f req/s   (rounds:%s)\n' "$k" "$(mean "$k")" "${R[$k]}"
done
ratio() { awk -v a="$(mean "$1")" -v b="$(mean "$2")" -v t="$3" -v n="$4" 'BEGIN {printf "%-44s %.2f (target %s)\n", n, a/b, t}'; }
ratio sqlite_jwt sqlite_secret ">= 0.60" "private_key_jwt / secret, SQLite:"
ratio pg_jwt pg_secret ">= 0.60" "private_key_jwt / secret, PostgreSQL:"
ratio pg_secret sqlite_secret ">= 0.80" "one PostgreSQL node / one SQLite node:"
ratio pg_two_pinned pg_one_pinned ">= 1.6" "two pinned PostgreSQL nodes / one pinned:"
