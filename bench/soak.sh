#!/usr/bin/env bash
# Soak and faults (issue 26 §5, §6): a mixed load at a fixed rate (80 % of the measured peak)
# for SOAK_MINUTES against (a) one auth-server node on SQLite and (b) two nodes on one
# PostgreSQL database (load split across both), with protected-mcp-server's BearerAuthLayer in
# the mix; a 10 s database cut during (b); the example MCP server's memory per idle session;
# auth-server's start-up time. All on loopback.
#
# Usage: bench/soak.sh
#   env: SOAK_MINUTES=10  minutes of the fixed-rate soak, per store
#        RATE=            total req/s of the soak (default: 80 % of the measured peak)
#        PG=1             0 skips the PostgreSQL part (and the database cut)
#        BIN_DIR=         folder with auth-server and protected-mcp-server (default: build them)
#        CUT_SECONDS=10   length of the database cut; CUT_AT=25 its start within the cut minute
#        SESSIONS=5000    idle MCP sessions opened for the memory figure
#        PEAK_SECONDS=15  length of the unthrottled run that measures the peak
#        MINUTE_SECONDS=60  length of one measured "minute" (shorter only to try the script)
#        DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (a database soak_<pid> is created
#                         next to it and dropped at the end)
#        PORT_BASE=22000  ports PORT_BASE+10.. are used
#        README=1         0 leaves bench/README.md alone
#
# Measured and checked, per store: 0 errors during the soak; p99 of the last minute within
# 1.5 x the first minute's (per load part); VmRSS (/proc/PID/status, every second) mean of the
# last minute within 10 % of the second minute's (per process); the AS's peak RSS (VmHWM).
# The database cut (PostgreSQL, through bench/soak/pg_proxy.py): answers are 503 with
# Retry-After (no 500, none slower than 5 s), each node answers 200 within 5 s after the cut,
# no code is redeemed twice, refresh families still rotate. Then (RSS after - RSS before) /
# SESSIONS of protected-mcp-server over SESSIONS idle sessions (target <= 16 KB), and the time
# from exec to the first 200 of /.well-known/oauth-authorization-server, best of 5 (target
# < 100 ms). Prints a summary table and writes it into the "## Soak" section of
# bench/README.md. Exits non-zero when a check fails. Needs wrk (installed when missing),
# python3, curl, and psql when PG=1.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HELP="$ROOT/bench/soak"
SOAK_MINUTES="${SOAK_MINUTES:-10}"
MINUTE_SECONDS="${MINUTE_SECONDS:-60}"
RATE="${RATE:-}"
PG="${PG:-1}"
CUT_SECONDS="${CUT_SECONDS:-10}"
CUT_AT="${CUT_AT:-25}"
SESSIONS="${SESSIONS:-5000}"
PEAK_SECONDS="${PEAK_SECONDS:-15}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
PORT_BASE="${PORT_BASE:-22000}"
README="${README:-1}"
AS_A=$((PORT_BASE + 10)) AS_B=$((PORT_BASE + 11)) MCP_PORT=$((PORT_BASE + 20))
PROXY_PORT=$((PORT_BASE + 30)) STARTUP_PORT=$((PORT_BASE + 40))
ISSUER="http://127.0.0.1:$AS_A"
MCP_URL="http://127.0.0.1:$MCP_PORT/mcp"
REDIRECT="http://127.0.0.1:$((PORT_BASE + 99))/callback"
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
RESOURCE_ENC="$(urlenc "$MCP_URL")"
REDIRECT_ENC="$(urlenc "$REDIRECT")"
AS_CONN=64 MCP_CONN=32          # soak connections (split across the AS nodes)
PEAK_AS_CONN=32 PEAK_MCP_CONN=16
PG_DB="soak_$$"
SCRATCH="$(mktemp -d /tmp/mcp-auth-soak.XXXXXX)"
PIDS=()
FAILED=0

cleanup() {
  local rc=$? pid log
  if [ "$rc" != 0 ]; then
    for log in "$SCRATCH"/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $(basename "$log")" >&2
      grep -v DEVELOPMENT "$log" | tail -n 15 >&2
    done
  fi
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
  done
  if [ "$PG" = 1 ]; then
    psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
[ "$PG" = 1 ] && { command -v psql >/dev/null || { echo "psql is required (or PG=0)" >&2; exit 1; }; }

if [ -z "${BIN_DIR:-}" ]; then
  echo "== building auth-server and protected-mcp-server (release)"
  (cd "$ROOT" && cargo build --release -q -p mcp-auth-server --bin auth-server \
    && cargo build --release -q -p protected-mcp-server --bin protected-mcp-server)
  BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
AS_BIN="$BIN_DIR/auth-server"
MCP_BIN="$BIN_DIR/protected-mcp-server"
for b in "$AS_BIN" "$MCP_BIN"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

py() { python3 "$HELP/soak.py" "$@"; }
field() { sed -n "s/^$1: //p"; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_url() { # url pid log
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "server exited; log:" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "no answer from $1" >&2; exit 1
}

# config NAME DATABASE PORT: one node's configuration (every node has node A's issuer).
config() {
  cat >"$SCRATCH/$1.toml" <<TOML
bind = "127.0.0.1:$3"
issuer = "$ISSUER"
database = "$2"
session_secret = "soak-session-secret-0123456789abcdef-0123456789"
default_resource = "$MCP_URL"
client_credentials = true

[tokens]
access_token_ttl = 3600
code_ttl = 600

[[resources]]
resource = "$MCP_URL"
scopes = ["mcp:tools"]
default_scopes = ["mcp:tools"]
TOML
}

# provision CONFIG: the confidential and the public client; sets SECRET_ID SECRET PUBLIC_ID.
provision() {
  local out
  MCP_AUTH_LOG=warn "$AS_BIN" --config "$SCRATCH/$1.toml" migrate >/dev/null
  out="$(MCP_AUTH_LOG=warn "$AS_BIN" --config "$SCRATCH/$1.toml" client add --name soak-machine \
    --grant client_credentials --scope mcp:tools --resource "$MCP_URL")"
  SECRET_ID="$(field client_id <<<"$out")"; SECRET="$(field client_secret <<<"$out")"
  out="$(MCP_AUTH_LOG=warn "$AS_BIN" --config "$SCRATCH/$1.toml" client add --name soak-public \
    --public --redirect-uri "$REDIRECT")"
  PUBLIC_ID="$(field client_id <<<"$out")"
  export SECRET_ID SECRET PUBLIC_ID REDIRECT RESOURCE="$MCP_URL"
  AUTH="Basic $(printf '%s:%s' "$SECRET_ID" "$SECRET" | base64 -w0)"
}

# start_as CONFIG PORT: a node with the development profile; sets LAST_PID.
start_as() {
  MCP_AUTH_LOG=warn "$AS_BIN" --config "$SCRATCH/$1.toml" serve --dev >>"$SCRATCH/$1.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  wait_url "http://127.0.0.1:$2/readyz" "$LAST_PID" "$SCRATCH/$1.log"
}

MCP_HAS_CAPS=0
mcp_help="$("$MCP_BIN" --help)"
[[ "$mcp_help" == *--max-sessions* ]] && MCP_HAS_CAPS=1
# start_mcp [MAX_SESSIONS PER_PRINCIPAL]: protected-mcp-server on MCP_PORT; sets MCP_PID.
start_mcp() {
  local caps=()
  [ "$MCP_HAS_CAPS" = 1 ] && [ -n "${1:-}" ] && caps=(--max-sessions "$1" --max-sessions-per-principal "$2")
  MCP_LOG=warn "$MCP_BIN" --issuer "$ISSUER" --bind "127.0.0.1:$MCP_PORT" "${caps[@]}" \
    >>"$SCRATCH/mcp.log" 2>&1 &
  MCP_PID=$!; PIDS+=("$MCP_PID")
  wait_url "http://127.0.0.1:$MCP_PORT/.well-known/oauth-protected-resource/mcp" "$MCP_PID" "$SCRATCH/mcp.log"
}

# run_parts DIR NAME SECONDS: one wrk run per load part at once (unthrottled when a part's
# period is 0); results in DIR/m<NAME>.<part>.out.
declare -A PORT_OF CONN_OF PERIOD_OF TARGET_OF
run_parts() {
  local dir="$1" name="$2" secs="$3" p pids=()
  for p in "${PARTS[@]}"; do
    if [ "$p" = mcp ]; then
      OUT="$dir/m$name.$p.out" TOKEN="$TOKEN" SESSIONS="$dir/sessions" PERIOD_MS="${PERIOD_OF[$p]}" \
        wrk -t1 -c"${CONN_OF[$p]}" -d"${secs}s" --timeout 5s -s "$HELP/mcp_mix.lua" \
        "http://127.0.0.1:${PORT_OF[$p]}" >/dev/null &
    else
      OUT="$dir/m$name.$p.out" AUTH="$AUTH" RESOURCE="$RESOURCE_ENC" PUBLIC_ID="$PUBLIC_ID" \
        REDIRECT="$REDIRECT_ENC" TOKEN="$TOKEN" CODES="$dir/codes.$p" POOL_IN="$dir/pool.$p" \
        POOL_OUT="$dir/pool.$p.next" PERIOD_MS="${PERIOD_OF[$p]}" \
        wrk -t1 -c"${CONN_OF[$p]}" -d"${secs}s" --timeout 5s -s "$HELP/as_mix.lua" \
        "http://127.0.0.1:${PORT_OF[$p]}" >/dev/null &
    fi
    pids+=($!)
  done
  wait "${pids[@]}"
  for p in "${PARTS[@]}"; do
    [ -f "$dir/pool.$p.next" ] && mv "$dir/pool.$p.next" "$dir/pool.$p"
  done
  return 0
}
rate_of() { awk '{for (i=1;i<=NF;i++) {split($i,a,"="); v[a[1]]=a[2]}} END {printf "%.1f", v["requests"]/(v["duration_us"]/1e6)}' "$1"; }
# mint DIR SECONDS: codes for each AS part for SECONDS at its target rate (1 request in 20), +30 %.
mint() {
  local p n
  for p in "${PARTS[@]}"; do
    [ "$p" = mcp ] && continue
    n="$(awk -v r="${TARGET_OF[$p]}" -v s="$2" 'BEGIN {printf "%d", r / 20 * s * 1.3 + 50}')"
    py mint "http://127.0.0.1:${PORT_OF[$p]}" "$n" "$1/codes.$p"
  done
}
# adjust DIR NAME: correct each part's per-connection wait from the rate just measured.
adjust() {
  local p
  for p in "${PARTS[@]}"; do
    PERIOD_OF[$p]="$(awk -v w="${PERIOD_OF[$p]}" -v c="${CONN_OF[$p]}" -v t="${TARGET_OF[$p]}" \
      -v m="$(rate_of "$1/m$2.$p.out")" \
      'BEGIN {n = w + c * 1000 / t - c * 1000 / m; if (n < 0) n = 0; printf "%.3f", n}')"
  done
}

# soak PHASE LABEL AS_PORTS...: peak, calibration, SOAK_MINUTES minutes (and with PG the cut
# minute); the AS nodes and the MCP server are running.
soak() {
  local phase="$1" label="$2"; shift 2
  local dir="$SCRATCH/$phase" nodes=("$@") i p peak total rss_pid
  mkdir -p "$dir"
  PARTS=()
  if [ "${#nodes[@]}" = 1 ]; then PARTS=(as); PORT_OF[as]="${nodes[0]}"
  else PARTS=(as_a as_b); PORT_OF[as_a]="${nodes[0]}"; PORT_OF[as_b]="${nodes[1]}"; fi
  PARTS+=(mcp); PORT_OF[mcp]="$MCP_PORT"

  TOKEN="$(py cc-token "$ISSUER")"
  TOKEN="$TOKEN" py mcp-sessions "$MCP_URL" 4 "$dir/sessions"
  for p in "${PARTS[@]}"; do
    [ "$p" = mcp ] || py families "http://127.0.0.1:${PORT_OF[$p]}" 200 "$dir/pool.$p"
  done
  local labels=() n=0
  if [ "${#AS_PIDS[@]}" = 1 ]; then labels=("as=${AS_PIDS[0]}")
  else for p in "${AS_PIDS[@]}"; do labels+=("as_$n=$p"); n=$((n + 1)); done; fi
  labels+=("mcp=$MCP_PID")
  py rss "$dir/rss" "${labels[@]}" &
  rss_pid=$!; PIDS+=("$rss_pid")

  echo "== $label: peak, ${PEAK_SECONDS}s unthrottled"
  for p in "${PARTS[@]}"; do
    PERIOD_OF[$p]=0
    if [ "$p" = mcp ]; then CONN_OF[$p]="$PEAK_MCP_CONN"; else CONN_OF[$p]=$((PEAK_AS_CONN / (${#PARTS[@]} - 1))); fi
    TARGET_OF[$p]=4000
  done
  mint "$dir" "$PEAK_SECONDS"
  run_parts "$dir" peak "$PEAK_SECONDS"
  total=0
  for p in "${PARTS[@]}"; do
    peak="$(rate_of "$dir/mpeak.$p.out")"
    echo "   $p: $peak req/s ($(cat "$dir/mpeak.$p.out"))"
    total="$(awk -v a="$total" -v b="$peak" 'BEGIN {print a + b}')"
  done
  local goal="${RATE:-$(awk -v t="$total" 'BEGIN {printf "%.0f", 0.8 * t}')}"
  echo "$(printf '%.0f' "$total") ($(for p in "${PARTS[@]}"; do printf '%s %.0f ' "$p" "$(rate_of "$dir/mpeak.$p.out")"; done| sed 's/ $//'))" >"$dir/peak"
  for p in "${PARTS[@]}"; do
    TARGET_OF[$p]="$(awk -v g="$goal" -v t="$total" -v r="$(rate_of "$dir/mpeak.$p.out")" 'BEGIN {printf "%.1f", g * r / t}')"
    if [ "$p" = mcp ]; then CONN_OF[$p]="$MCP_CONN"; else CONN_OF[$p]=$((AS_CONN / (${#PARTS[@]} - 1))); fi
    PERIOD_OF[$p]="$(awk -v c="${CONN_OF[$p]}" -v t="${TARGET_OF[$p]}" 'BEGIN {printf "%.3f", 0.9 * c * 1000 / t}')"
  done
  echo "   peak $total req/s; soak target $goal req/s: $(for p in "${PARTS[@]}"; do printf '%s %s ' "$p" "${TARGET_OF[$p]}"; done)"

  echo "== $label: calibration, 10s"
  mint "$dir" 10
  run_parts "$dir" cal 10
  adjust "$dir" cal
  : >"$dir/windows"
  for i in $(seq 1 "$SOAK_MINUTES"); do
    mint "$dir" "$MINUTE_SECONDS"
    local start end
    start="$(date +%s.%N)"
    run_parts "$dir" "$i" "$MINUTE_SECONDS"
    end="$(date +%s.%N)"
    echo "$i $start $end" >>"$dir/windows"
    echo "   minute $i: $(for p in "${PARTS[@]}"; do printf '%s %s/s ' "$p" "$(rate_of "$dir/m$i.$p.out")"; done)"
    adjust "$dir" "$i"
  done
  if [ "$phase" = pg ]; then
    echo "== $label: the database cut (${CUT_SECONDS}s, ${CUT_AT}s into one more minute of load)"
    mint "$dir" "$MINUTE_SECONDS"
    local start end fault_pid
    start="$(date +%s.%N)"
    py fault "http://127.0.0.1:${nodes[0]}" "http://127.0.0.1:${nodes[1]}" "$PROXY_PID" "$CUT_AT" \
      "$CUT_SECONDS" "$dir/fault.json" >"$dir/fault.log" 2>&1 &
    fault_pid=$!; PIDS+=("$fault_pid")
    run_parts "$dir" cut "$MINUTE_SECONDS"
    end="$(date +%s.%N)"
    echo "cut $start $end" >>"$dir/windows"
    wait "$fault_pid" || { echo "the fault checker failed:" >&2; cat "$dir/fault.log" >&2; FAILED=1; }
    cat "$dir/fault.log"
  fi
  stop "$rss_pid"
  py report "$dir" "$label" | tee "$dir/report.txt"
  grep -q FAILED "$dir/report.txt" && FAILED=1
  return 0
}

echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); binaries from $BIN_DIR"

# (a) one node on SQLite.
config sqlite "$SCRATCH/auth.db" "$AS_A"
provision sqlite
start_as sqlite "$AS_A"; AS_PIDS=("$LAST_PID")
start_mcp
soak sqlite "SQLite, 1 node" "$AS_A"
stop "$MCP_PID"

# The example MCP server's memory per idle session, on a fresh server.
per=8 n="$SESSIONS"
if [ "$MCP_HAS_CAPS" = 1 ]; then
  per=$((SESSIONS + 100))
  start_mcp $((SESSIONS + 100)) "$per"
  py cc-token "$ISSUER" >"$SCRATCH/idle_tokens"
else
  n=$(( SESSIONS < 900 ? SESSIONS : 900 ))
  echo "   $MCP_BIN has no --max-sessions: $n sessions (its cap is 1,000, 8 per principal)"
  start_mcp
  : >"$SCRATCH/idle_tokens"
  for _ in $(seq 1 $(( (n + 20 + 7) / 8 ))); do
    out="$(MCP_AUTH_LOG=warn "$AS_BIN" --config "$SCRATCH/sqlite.toml" client add --name soak-idle \
      --grant client_credentials --scope mcp:tools --resource "$MCP_URL")"
    SECRET_ID="$(field client_id <<<"$out")" SECRET="$(field client_secret <<<"$out")" \
      py cc-token "$ISSUER" >>"$SCRATCH/idle_tokens"
  done
fi
echo "== idle MCP sessions: $n"
py idle-sessions "$MCP_URL" "$MCP_PID" "$n" "$SCRATCH/idle_tokens" "$per" | tee "$SCRATCH/sessions.txt"
stop "$MCP_PID"
stop "${AS_PIDS[0]}"

# Start-up to ready, SQLite, warm disk (a warm-up run first).
echo "== start-up to the first 200 of /.well-known/oauth-authorization-server (best of 5)"
sed "s/^bind = .*/bind = \"127.0.0.1:$STARTUP_PORT\"/" "$SCRATCH/sqlite.toml" >"$SCRATCH/startup.toml"
MCP_AUTH_LOG=warn py startup "$AS_BIN" "http://127.0.0.1:$STARTUP_PORT/.well-known/oauth-authorization-server" 5 \
  --config "$SCRATCH/startup.toml" serve | tee "$SCRATCH/startup.txt"

# (b) two nodes on PostgreSQL, through the proxy.
if [ "$PG" = 1 ]; then
  psql "$DATABASE_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
  pg_target="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.port or 5432)' "$DATABASE_URL")"
  python3 "$HELP/pg_proxy.py" "$PROXY_PORT" "$pg_target" 14400 >"$SCRATCH/proxy.log" 2>&1 &
  PROXY_PID=$!; PIDS+=("$PROXY_PID")
  sleep 0.5
  pg_url="postgres://postgres@127.0.0.1:$PROXY_PORT/$PG_DB"
  config pg_a "$pg_url" "$AS_A"
  config pg_b "$pg_url" "$AS_B"
  provision pg_a
  start_as pg_a "$AS_A"; pa=$LAST_PID
  start_as pg_b "$AS_B"; pb=$LAST_PID
  AS_PIDS=("$pa" "$pb")
  start_mcp
  soak pg "PostgreSQL, 2 nodes" "$AS_A" "$AS_B"
  echo "   proxy: $(tr '\n' ';' <"$SCRATCH/proxy.log")"
  python3 - "$SCRATCH/pg/fault.json" <<'PY' || FAILED=1
import json, sys
f = json.load(open(sys.argv[1]))
bad = []
if set(f["statuses_during_cut"]) - {"503", "200", "400"}: bad.append("statuses other than 503/200/400 during the cut")
if f["503_without_retry_after"]: bad.append("503 without Retry-After")
if f["answers_over_limit"]: bad.append("answers slower than the limit (or none)")
if any(r is None or r > 5 for r in f["recovery_s"]): bad.append("a node not back within 5 s")
if f["codes_redeemed_twice"] or f["codes_second_redemption_accepted"]: bad.append("a code redeemed twice")
if f["families_rotating_after"] != f["families"]: bad.append("refresh families lost")
for b in bad: print(f"  check (database cut): {b}: FAILED")
print("  check (database cut): " + ("FAILED" if bad else "ok"))
sys.exit(1 if bad else 0)
PY
  stop "$MCP_PID"; stop "$pa"; stop "$pb"
fi

echo
echo "== summary"
readme="$SCRATCH/README.md"
cp "$ROOT/bench/README.md" "$readme"
py final "$SCRATCH" "$readme" "$SOAK_MINUTES$([ "$MINUTE_SECONDS" != 60 ] && echo " (minutes of ${MINUTE_SECONDS}s)")" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$(basename "$BIN_DIR") ($( [ "$MCP_HAS_CAPS" = 1 ] && echo "protected-mcp-server with --max-sessions" || echo "protected-mcp-server without --max-sessions"))"
[ "$README" = 1 ] && cp "$readme" "$ROOT/bench/README.md"
if [ "$FAILED" = 1 ]; then echo "== some checks FAILED" >&2; exit 1; fi
echo "== all checks passed"
