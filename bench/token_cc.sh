#!/usr/bin/env bash
# Token endpoint throughput, grant_type=client_credentials: mcp-auth (secret and private_key_jwt
# variants) against node-oidc-provider (secret variant), same machine, same run, alternating.
# Each round also measures the machine's limit: bench/baseline (`token-baseline`), a minimal axum
# ES256 token endpoint that parses the same form and signs the same claims, nothing else.
# Loopback only. Usage: bench/token_cc.sh [ROUNDS]   (env: DURATION=10s CONNECTIONS=32 PEER=1)
# Exits non-zero when the private_key_jwt p99 is over 3 x the client_secret_basic p99 of the
# same run (the replay claim must not add a latency tail). PEER=0 leaves node-oidc-provider out.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEER_SRC="$ROOT/../shared/peers/oidc-provider"
ROUNDS="${1:-2}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PEER="${PEER:-1}"
JWT_P99_LIMIT=3
OUR_PORT="${OUR_PORT:-19090}"
PEER_PORT="${PEER_PORT:-13000}"
BASE_PORT="${BASE_PORT:-19290}"
RESOURCE_URL="https://mcp.example.com/mcp"
RESOURCE_ENC="https%3A%2F%2Fmcp.example.com%2Fmcp"
SCRATCH="$(mktemp -d /tmp/mcp-auth-bench.XXXXXX)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ "$PEER" = 1 ]; then
  command -v node >/dev/null || { echo "node is required for the peer (or PEER=0)" >&2; exit 1; }
  [ -d "$PEER_SRC" ] || { echo "peer not found at $PEER_SRC (or PEER=0)" >&2; exit 1; }
fi

echo "== building auth-server (release) and the assertion tool"
(cd "$ROOT" && cargo build --release -q -p mcp-auth-server \
  && cargo build --release -q -p mcp-auth-ext-client-credentials --features client --example cc_assertions \
  && cargo build --release -q -p mcp-auth-bench-baseline)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/auth-server"
TOOL="$TARGET/release/examples/cc_assertions"
BASELINE="$TARGET/release/token-baseline"

if [ "$PEER" = 1 ]; then
  echo "== installing node-oidc-provider into $SCRATCH/peer"
  cp -r "$PEER_SRC" "$SCRATCH/peer"
  (cd "$SCRATCH/peer" && npm install --no-audit --no-fund --silent >/dev/null)
fi

echo "== provisioning mcp-auth"
cat > "$SCRATCH/auth.toml" <<TOML
bind = "127.0.0.1:$OUR_PORT"
database = "$SCRATCH/auth.db"
default_resource = "$RESOURCE_URL"

[[resources]]
resource = "$RESOURCE_URL"
scopes = ["mcp:tools", "mcp:resources"]
default_scopes = ["mcp:tools"]
TOML
export MCP_AUTH_CONFIG="$SCRATCH/auth.toml"
"$BIN" migrate >/dev/null
out="$("$BIN" client add --name bench-secret --grant client_credentials --scope mcp:tools --resource "$RESOURCE_URL")"
SECRET_ID="$(sed -n 's/^client_id: //p' <<<"$out")"
SECRET="$(sed -n 's/^client_secret: //p' <<<"$out")"
"$TOOL" keygen "$SCRATCH"
out="$("$BIN" client add --name bench-jwt --grant client_credentials --scope mcp:tools --resource "$RESOURCE_URL" --jwks "$SCRATCH/jwks.json")"
JWT_ID="$(sed -n 's/^client_id: //p' <<<"$out")"
AUTH="Basic $(printf '%s:%s' "$SECRET_ID" "$SECRET" | base64 -w0)"
export AUTH
"$BIN" client list

start_ours() {
  MCP_AUTH_LOG=warn "$BIN" serve --client-credentials >"$SCRATCH/ours.log" 2>&1 &
  OUR_PID=$!; PIDS+=("$OUR_PID")
  wait_port "$OUR_PORT"
}
start_baseline() {
  "$BASELINE" "127.0.0.1:$BASE_PORT" "$SECRET_ID" "$SECRET" "http://127.0.0.1:$OUR_PORT" "$RESOURCE_URL" \
    >"$SCRATCH/baseline.log" 2>&1 &
  BASE_PID=$!; PIDS+=("$BASE_PID")
  wait_port "$BASE_PORT"
}
start_peer() {
  (cd "$SCRATCH/peer" && NODE_ENV=production PORT="$PEER_PORT" ALG=ES256 exec node provider.mjs) >"$SCRATCH/peer.log" 2>&1 &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  wait_port "$PEER_PORT"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_port() {
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}

# Prints "rps p99_ms errors" for one wrk run.
measure() { # port lua
  local out
  out="$(RESOURCE="$RESOURCE_ENC" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$2" "http://127.0.0.1:$1")"
  echo "$out" >>"$SCRATCH/wrk.log"
  local rps p99 non2xx sock
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  sock="$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")"
  echo "$rps $p99 $(( ${non2xx:-0} + ${sock:-0} ))"
}

# Sanity: one token from each before measuring.
check() { # port auth body
  local code
  code="$(curl -s -o "$SCRATCH/check.json" -w '%{http_code}' -X POST "http://127.0.0.1:$1/token" \
    -H 'Content-Type: application/x-www-form-urlencoded' ${2:+-H "Authorization: $2"} --data "$3")"
  [ "$code" = 200 ] || { echo "sanity check on port $1 failed: $code $(cat "$SCRATCH/check.json")" >&2; exit 1; }
}

declare -a R_PEER R_SECRET R_JWT R_BASE
for round in $(seq 1 "$ROUNDS"); do
  if [ "$PEER" = 1 ]; then
    echo "== round $round: node-oidc-provider (client_secret_basic)"
    start_peer
    check "$PEER_PORT" "Basic YmVuY2gtY2xpZW50OmJlbmNoLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==" \
      "grant_type=client_credentials&scope=mcp%3Atools&resource=$RESOURCE_ENC"
    R_PEER+=("$(measure "$PEER_PORT" "$PEER_SRC/token_cc.lua")"); echo "   ${R_PEER[-1]}"
    stop "$PEER_PID"
  fi

  echo "== round $round: baseline (minimal ES256 token endpoint, client_secret_basic)"
  start_baseline
  check "$BASE_PORT" "$AUTH" "grant_type=client_credentials&scope=mcp%3Atools&resource=$RESOURCE_ENC"
  R_BASE+=("$(measure "$BASE_PORT" "$ROOT/bench/token_cc_secret.lua")"); echo "   ${R_BASE[-1]}"
  stop "$BASE_PID"

  echo "== round $round: mcp-auth (client_secret_basic)"
  start_ours
  check "$OUR_PORT" "$AUTH" "grant_type=client_credentials&scope=mcp%3Atools&resource=$RESOURCE_ENC"
  R_SECRET+=("$(measure "$OUR_PORT" "$ROOT/bench/token_cc_secret.lua")"); echo "   ${R_SECRET[-1]}"

  echo "== round $round: mcp-auth (private_key_jwt)"
  "$TOOL" sign "$SCRATCH" "$JWT_ID" "http://127.0.0.1:$OUR_PORT" 400000
  R_JWT+=("$(ASSERTIONS="$SCRATCH/assertions.txt" measure "$OUR_PORT" "$ROOT/bench/token_cc_jwt.lua")"); echo "   ${R_JWT[-1]}"
  stop "$OUR_PID"
done

summary() { # name results...
  local name="$1"; shift
  printf '%s\n' "$@" | awk -v n="$name" '{r+=$1; p+=$2; e+=$3; c++} END {printf "%-34s %10.0f req/s   p99 %7.2f ms   errors %d\n", n, r/c, p/c, e}'
}
mean() { printf '%s\n' "${@:2}" | awk -v f="$1" '{s+=$f; c++} END {print s/c}'; }

echo
echo "== results: $ROUNDS round(s), wrk -t1 -c$CONNECTIONS -d$DURATION, $(nproc) cores, loopback, load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$PEER" = 1 ] && summary "node-oidc-provider secret" "${R_PEER[@]}"
summary "baseline (machine's limit) secret" "${R_BASE[@]}"
summary "mcp-auth secret" "${R_SECRET[@]}"
summary "mcp-auth private_key_jwt" "${R_JWT[@]}"
OUR_RPS="$(mean 1 "${R_SECRET[@]}")"; OUR_P99="$(mean 2 "${R_SECRET[@]}")"
JWT_RPS="$(mean 1 "${R_JWT[@]}")"; JWT_P99="$(mean 2 "${R_JWT[@]}")"
BASE_RPS="$(mean 1 "${R_BASE[@]}")"
awk -v a="$OUR_RPS" -v b="$BASE_RPS" \
  'BEGIN {printf "secret vs baseline (the machine'"'"'s limit): %.0f %% of its requests/s (target >= 95 %%)\n", 100 * a / b}' 
if [ "$PEER" = 1 ]; then
  PEER_RPS="$(mean 1 "${R_PEER[@]}")"; PEER_P99="$(mean 2 "${R_PEER[@]}")"
  awk -v a="$OUR_RPS" -v b="$PEER_RPS" -v c="$OUR_P99" -v d="$PEER_P99" \
    'BEGIN {printf "secret vs peer: %.2fx requests/s (target >= 5), %.2fx p99 (target <= 0.3)\n", a/b, c/d}'
  awk -v a="$JWT_RPS" -v b="$PEER_RPS" -v c="$JWT_P99" -v d="$PEER_P99" \
    'BEGIN {printf "private_key_jwt vs peer secret: %.2fx requests/s, %.2fx p99\n", a/b, c/d}'
fi

# The latency check: the replay claim must not give private_key_jwt a tail of its own.
if awk -v j="$JWT_P99" -v s="$OUR_P99" -v k="$JWT_P99_LIMIT" 'BEGIN {
  printf "p99 check: private_key_jwt %.2f ms, client_secret_basic %.2f ms: %.2fx (limit %sx)\n", j, s, j/s, k
  exit !(j <= k * s) }'; then
  echo "p99 check: ok"
else
  echo "p99 check: FAILED, private_key_jwt p99 over ${JWT_P99_LIMIT}x the secret path's" >&2
  exit 1
fi
