#!/usr/bin/env bash
# Wall-clock throughput and latency of every grant: mcp-auth against node-oidc-provider.
#
#   bench/grants.sh            # measure, print one table and a summary line of the ratios
#   bench/grants.sh --write    # the same, then put the table (with the date and the load
#                              # average from /proc/loadavg) into bench/README.md, replacing
#                              # the section of an earlier run
#
# Env: DURATION=10s (per path, per round), CONNECTIONS=32, ROUNDS=2, PEER=0 leaves
# node-oidc-provider out, BIN_DIR=/path uses prebuilt binaries (auth-server,
# protected-mcp-server, examples/cc_assertions, examples/dpop_proofs) instead of building them
# with cargo (MCP_BIN=/path overrides the MCP server alone). OUR_RATE_CAP=20000 and
# PEER_RATE_CAP=8000 (requests/s) bound what is minted for the paths that spend one item per
# request: 1.5 x the server's cc-secret rate of the round x DURATION items, at most cap x
# DURATION (ID-JAGs: also at most what the IdP mints in 300 s, so none outlives its 600 s); a
# path that runs out of items ends early, and its rate is over the time it ran. Ports 21000
# (mcp-auth), 21100-21101 (peer and its admin listener), 21200 (MCP server), 21300 (mcp-auth as
# the enterprise IdP); OUR_PORT, PEER_PORT, MCP_PORT, IDP_PORT move them.
#
# Measured, each with `wrk -t1 -c$CONNECTIONS -d$DURATION --latency` on loopback: requests/s,
# p50, p99 and errors (non-2xx answers + socket errors) of
#   cc-secret   client_credentials, client_secret_basic (one static request)
#   cc-jwt      client_credentials, private_key_jwt: a new assertion (new jti) per request
#   cc-dpop     client_credentials, client_secret_basic with a new DPoP proof per request
#   code        authorization-code redemption with PKCE S256, one minted code per request
#   code-dpop   the same with a new DPoP proof per request (the tokens are DPoP-bound)
#   refresh     refresh-token rotation: one family per connection, each request spends the
#               token the previous one of its family got (bench/grants_refresh.lua)
#   introspect  introspection of a JWT access token by the resource's server client
#   revoke      revocation of a JWT access token, one minted token per request
#   connect-token  POST /connect/token by the resource's MCP server client for a user who has
#               connected an api_key connection (`crm`): the key from the vault (one static
#               request). The development user connects it first through the pages, as a browser
#               would (cookie jar, the connect link from connection_required, its CSRF form).
#   id-jag      token exchange at mcp-auth as the enterprise IdP ([extensions.xaa_idp], a second
#               `serve --dev` on IDP_PORT): the development user's ID token (authorization code
#               with `openid` for the IdP's confidential app) for an ID-JAG whose audience is
#               mcp-auth (one static request; each answer is a newly signed ID-JAG)
#   jwt-bearer  jwt-bearer redemption of an ID-JAG at mcp-auth ([extensions.xaa], the IdP
#               trusted over loopback http), one ID-JAG per request, minted at the IdP just
#               before (the IdP stays up, idle, during the run); one redemption beforehand puts
#               the IdP's keys into mcp-auth's cache
#   mcp-layer   `tools/call` of `echo` in an open session of the example MCP server
#               (protected-mcp-server), with the bearer layer and without it
#               (--dangerous-without-auth-layer): the layer's cost in requests/s and latency
# Runs end without cutting requests off (bench/grants_drain.lua): when its items run out or
# its time is up, each connection's next request is a GET of metadata, and the run stops once
# every measured request has its answer. wrk's own end (connections closed with requests in
# flight) has left mcp-auth's SQLite store locked until restart ("database is locked", 503);
# after each mcp-auth path a probe (/authorize must answer 302) reports that and restarts it
# (the IdP's too, after id-jag).
# Codes, tokens, assertions and proofs are made before each measured run (codes through
# mcp-auth's development profile and the peer's own model classes), so a run measures the
# redemptions only. Each round runs the peer alone, then mcp-auth alone (the order swaps every
# round), each from a fresh store (the Cross App Access paths: the IdP and mcp-auth started
# afresh together). The peer is bench/peer/grants-provider.mjs (node-oidc-provider,
# npm-installed into the scratch directory); it refuses JWT access tokens at introspection and
# revocation (unsupported_token_type), so those rows have no peer figures, and it has none of
# the grants of connect-token, id-jag and jwt-bearer ("peer: no such grant").
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WRITE=0
case "${1:-}" in
  --write) WRITE=1 ;;
  "") ;;
  *) echo "usage: bench/grants.sh [--write]" >&2; exit 2 ;;
esac
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-2}"
PEER="${PEER:-1}"
BIN_DIR="${BIN_DIR:-}"
OUR_RATE_CAP="${OUR_RATE_CAP:-20000}"
PEER_RATE_CAP="${PEER_RATE_CAP:-8000}"
OUR_PORT="${OUR_PORT:-21000}"
PEER_PORT="${PEER_PORT:-21100}"
PEER_ADMIN_PORT="$((PEER_PORT + 1))"
MCP_PORT="${MCP_PORT:-21200}"
IDP_PORT="${IDP_PORT:-21300}"
OUR="http://127.0.0.1:$OUR_PORT"
IDP_URL="http://127.0.0.1:$IDP_PORT"
PEER_URL="http://127.0.0.1:$PEER_PORT"
RESOURCE="http://127.0.0.1:$MCP_PORT/mcp"
REDIRECT="http://127.0.0.1:3000/callback"
enc() { sed 's/%/%25/g; s/:/%3A/g; s|/|%2F|g; s/ /%20/g' <<<"$1"; }
RESOURCE_ENC="$(enc "$RESOURCE")"
REDIRECT_ENC="$(enc "$REDIRECT")"
VERIFIER="grants-bench-verifier-0123456789abcdef0123456789abcdef0123456789"
CHALLENGE="$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')"
SCRATCH="$(mktemp -d /tmp/grants-bench.XXXXXX)"
PIDS=()

cleanup() {
  local status=$?
  if [ "$status" != 0 ] || [ "${KEEP_LOGS:-0}" = 1 ] || [ -n "${WEDGED[*]:-}" ]; then
    local keep
    keep="$(mktemp -d /tmp/grants-bench-logs.XXXXXX)"
    cp "$SCRATCH"/*.log "$keep/" 2>/dev/null || true
    echo "server and wrk logs kept in $keep" >&2
  fi
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

case "$DURATION" in
  *ms) echo "DURATION in whole seconds or minutes (10s, 1m)" >&2; exit 2 ;;
  *s) SECS="${DURATION%s}" ;;
  *m) SECS="$(( ${DURATION%m} * 60 ))" ;;
  *) SECS="$DURATION" ;;
esac
MINT_SECS="$(( SECS * 10 + 60 ))"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
if [ "$PEER" = 1 ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node and npm are required for the peer (or PEER=0)" >&2; exit 1
  fi
fi

if [ -n "$BIN_DIR" ]; then
  BIN="$BIN_DIR/auth-server"
  TOOL="$BIN_DIR/examples/cc_assertions"
  PROOFS_TOOL="$BIN_DIR/examples/dpop_proofs"
  MCP_BIN="${MCP_BIN:-$BIN_DIR/protected-mcp-server}"
else
  echo "== building (release): auth-server, protected-mcp-server, cc_assertions, dpop_proofs"
  (cd "$ROOT" && cargo build --release --locked -q -p mcp-auth-server --bin auth-server \
    && cargo build --release --locked -q -p protected-mcp-server --bin protected-mcp-server \
    && cargo build --release --locked -q -p mcp-auth-ext-client-credentials --features client --example cc_assertions \
    && cargo build --release --locked -q -p mcp-auth-conformance --example dpop_proofs)
  TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
  BIN="$TARGET/release/auth-server"
  TOOL="$TARGET/release/examples/cc_assertions"
  PROOFS_TOOL="$TARGET/release/examples/dpop_proofs"
  MCP_BIN="${MCP_BIN:-$TARGET/release/protected-mcp-server}"
fi

if [ "$PEER" = 1 ]; then
  echo "== installing node-oidc-provider (bench/peer/package.json) into $SCRATCH/peer"
  mkdir "$SCRATCH/peer"
  cp "$ROOT/bench/peer/package.json" "$ROOT/bench/peer/grants-provider.mjs" "$SCRATCH/peer/"
  (cd "$SCRATCH/peer" && npm install --no-audit --no-fund --silent >/dev/null)
  PEER_VERSION="$(node -p "require('$SCRATCH/peer/node_modules/oidc-provider/package.json').version")"
fi

echo "== provisioning mcp-auth (SQLite, development profile)"
field() { sed -n "s/^$1: //p"; }
VAULT_KEY="$(openssl rand -base64 32)"
CONNECTION=crm
API_KEY="bench-crm-key-0123456789abcdef"
# mcp-auth, the authorization server measured: the ID-JAGs of the IdP below are trusted, and
# the resource's MCP server client may fetch its users' `crm` API keys from the vault.
write_config() { # [introspection client id] [the resource's server client id]
  cat > "$SCRATCH/auth.toml" <<TOML
bind = "127.0.0.1:$OUR_PORT"
database = "$SCRATCH/auth.db"
default_resource = "$RESOURCE"
client_credentials = true

[tokens]
code_ttl = 600

[dpop]
enabled = true

[vault]
key = "$VAULT_KEY"

[[resources]]
resource = "$RESOURCE"
scopes = ["mcp:tools", "mcp:resources"]
default_scopes = ["mcp:tools"]
introspection_clients = [${1:+\"$1\"}]
server_clients = [${2:+\"$2\"}]

[extensions.xaa]
enabled = true

[[extensions.xaa.trusted_idps]]
issuer = "$IDP_URL"
jwks_uri = "$IDP_URL/jwks"
insecure_allow_http_loopback = true
TOML
  # A connection needs its resource's server client (checked at start).
  [ -z "${2:-}" ] || cat >>"$SCRATCH/auth.toml" <<TOML

[[connections]]
name = "$CONNECTION"
display_name = "Bench CRM"
kind = "api_key"
resources = ["$RESOURCE"]
TOML
  chmod 600 "$SCRATCH/auth.toml" # it holds the vault key
}
# mcp-auth as the enterprise IdP: ID tokens for its app, exchanged for ID-JAGs whose audience is
# the server above.
write_idp_config() { # [the app's client id here] [its client id at the server above]
  cat > "$SCRATCH/idp/auth.toml" <<TOML
issuer = "$IDP_URL"
bind = "127.0.0.1:$IDP_PORT"
database = "$SCRATCH/idp/auth.db"
default_resource = "$IDP_URL/userinfo"

[tokens]
code_ttl = 600

[[resources]]
resource = "$IDP_URL/userinfo"
scopes = ["profile"]
default_scopes = ["profile"]

[extensions.xaa_idp]
enabled = true
id_jag_lifetime = 600

[[extensions.xaa_idp.targets]]
audience = "$OUR"
resources = ["$RESOURCE"]
scopes = ["mcp:tools"]
client_ids = { ${1:+\"$1\" = \"$2\"} }
TOML
}
write_config
export MCP_AUTH_CONFIG="$SCRATCH/auth.toml"
# The admin commands below would each warn of the loopback IdP's plain-http keys.
export MCP_AUTH_LOG=error
"$BIN" migrate >/dev/null
out="$("$BIN" client add --name bench-secret --grant client_credentials --scope mcp:tools --resource "$RESOURCE")"
SECRET_ID="$(field client_id <<<"$out")"; SECRET="$(field client_secret <<<"$out")"
"$TOOL" keygen "$SCRATCH"
out="$("$BIN" client add --name bench-jwt --grant client_credentials --scope mcp:tools --resource "$RESOURCE" --jwks "$SCRATCH/jwks.json")"
JWT_ID="$(field client_id <<<"$out")"
out="$("$BIN" client add --name bench-public --public --redirect-uri "$REDIRECT")"
PUBLIC_ID="$(field client_id <<<"$out")"
out="$("$BIN" client add --name bench-rs --grant client_credentials --scope mcp:tools --resource "$RESOURCE")"
RS_ID="$(field client_id <<<"$out")"; RS_SECRET="$(field client_secret <<<"$out")"
JWT_BEARER=urn:ietf:params:oauth:grant-type:jwt-bearer
TOKEN_EXCHANGE=urn:ietf:params:oauth:grant-type:token-exchange
out="$("$BIN" client add --name bench-xaa-app --grant "$JWT_BEARER" --scope mcp:tools --resource "$RESOURCE")"
XAA_ID="$(field client_id <<<"$out")"; XAA_SECRET="$(field client_secret <<<"$out")"
out="$("$BIN" client add --name bench-mcp-server --auth-method client_secret_basic --grant "$TOKEN_EXCHANGE")"
CONNECT_ID="$(field client_id <<<"$out")"; CONNECT_SECRET="$(field client_secret <<<"$out")"
write_config "$RS_ID" "$CONNECT_ID"
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
AUTH="$(basic "$SECRET_ID" "$SECRET")"
RS_AUTH="$(basic "$RS_ID" "$RS_SECRET")"
XAA_AUTH="$(basic "$XAA_ID" "$XAA_SECRET")"
CONNECT_AUTH="$(basic "$CONNECT_ID" "$CONNECT_SECRET")"
PEER_AUTH="$(basic bench-secret bench-secret-0123456789abcdef0123456789abcdef)"
mkdir "$SCRATCH/pristine" && cp "$SCRATCH"/auth.db* "$SCRATCH/pristine/"

echo "== provisioning mcp-auth as the enterprise IdP (SQLite, development profile, port $IDP_PORT)"
idp() { MCP_AUTH_CONFIG="$SCRATCH/idp/auth.toml" "$BIN" "$@"; }
mkdir "$SCRATCH/idp"
write_idp_config
idp migrate >/dev/null
out="$(idp client add --name bench-xaa-app --redirect-uri "$REDIRECT" --auth-method client_secret_basic \
  --grant authorization_code --grant "$TOKEN_EXCHANGE")"
IDP_APP_ID="$(field client_id <<<"$out")"; IDP_APP_AUTH="$(basic "$IDP_APP_ID" "$(field client_secret <<<"$out")")"
write_idp_config "$IDP_APP_ID" "$XAA_ID"
mkdir "$SCRATCH/idp/pristine" && cp "$SCRATCH/idp"/auth.db* "$SCRATCH/idp/pristine/"

CC_BODY="grant_type=client_credentials&scope=mcp%3Atools&resource=$RESOURCE_ENC"
JWT_PREFIX="$CC_BODY&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="
AUTHORIZE="/authorize?response_type=code&client_id=$PUBLIC_ID&redirect_uri=$REDIRECT_ENC&scope=mcp%3Atools%20offline_access&resource=$RESOURCE_ENC&state=s&code_challenge=$CHALLENGE&code_challenge_method=S256"
code_prefix() { echo "grant_type=authorization_code&client_id=$1&redirect_uri=$REDIRECT_ENC&code_verifier=$VERIFIER&code="; }
refresh_prefix() { echo "grant_type=refresh_token&client_id=$1&refresh_token="; }
# The IdP's app signs the development user in with `openid` (the ID token is the subject token).
IDP_AUTHORIZE="/authorize?response_type=code&client_id=$IDP_APP_ID&redirect_uri=$REDIRECT_ENC&scope=openid&state=s&code_challenge=$CHALLENGE&code_challenge_method=S256"
# Token exchange at the IdP (ID token → ID-JAG for mcp-auth); the ID token follows.
JAG_PREFIX="grant_type=$(enc "$TOKEN_EXCHANGE")&requested_token_type=$(enc urn:ietf:params:oauth:token-type:id-jag)&subject_token_type=$(enc urn:ietf:params:oauth:token-type:id_token)&audience=$(enc "$OUR")&subject_token="
BEARER_PREFIX="grant_type=$(enc "$JWT_BEARER")&assertion="
# /connect/token for the `crm` connection; the user's access token follows.
CONNECT_PREFIX="grant_type=$(enc "$TOKEN_EXCHANGE")&subject_token_type=$(enc urn:ietf:params:oauth:token-type:access_token)&audience=$CONNECTION&subject_token="

wait_port() { # port pid log
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server on port $1 exited:" >&2; tail -20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "the server on port $1 did not start" >&2; exit 1
}
stop() { # pid: TERM, then KILL after 5 s
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
start_as() { # dir port log: `serve --dev` with dir/auth.toml, on a fresh copy of dir/pristine's store
  rm -f "$1"/auth.db*; cp "$1/pristine"/auth.db* "$1/"
  MCP_AUTH_CONFIG="$1/auth.toml" MCP_AUTH_LOG=warn "$BIN" serve --dev >>"$3" 2>&1 &
  AS_PID=$!; PIDS+=("$AS_PID")
  wait_port "$2" "$AS_PID" "$3"
}
start_ours() { start_as "$SCRATCH" "$OUR_PORT" "$SCRATCH/ours.log"; OUR_PID="$AS_PID"; }
start_idp() { start_as "$SCRATCH/idp" "$IDP_PORT" "$SCRATCH/idp.log"; IDP_PID="$AS_PID"; }
start_peer() {
  (cd "$SCRATCH/peer" && NODE_ENV=production PORT="$PEER_PORT" ADMIN_PORT="$PEER_ADMIN_PORT" \
    RESOURCE="$RESOURCE" REDIRECT="$REDIRECT" JWKS="$SCRATCH/jwks.json" exec node grants-provider.mjs) \
    >>"$SCRATCH/peer.log" 2>&1 &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  wait_port "$PEER_PORT" "$PEER_PID" "$SCRATCH/peer.log"
}

# One form POST; prints the status, the body is left in $SCRATCH/post.out.
post() { # url curl-options (the form: --data …)
  curl -s -o "$SCRATCH/post.out" -w '%{http_code}' -X POST "$1" \
    -H 'Content-Type: application/x-www-form-urlencoded' "${@:2}"
}
# One POST, which must answer 200; prints the body.
post200() { # url body [authorization] [extra header]
  local code
  code="$(post "$1" ${3:+-H "Authorization: $3"} ${4:+-H "$4"} --data "$2")"
  [ "$code" = 200 ] || { echo "POST $1 answered $code: $(head -c 300 "$SCRATCH/post.out")" >&2; exit 1; }
  cat "$SCRATCH/post.out"
}
# The JSON string member $1 of stdin, on a line of its own (answers end without a newline).
json_field() { { cat; echo; } | sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p"; }
# The code in the redirect of a GET of the authorization URL $1 (the development profile signs
# its user in and approves); with $2, the session cookie goes into that cookie jar.
authorize_code() { # url [cookie jar]
  local location
  location="$(curl -s -o /dev/null -w '%{redirect_url}' ${2:+-c "$2"} "$1")"
  sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$location" | grep . \
    || { echo "GET $1 redirected to no code: ${location:-no redirect}" >&2; exit 1; }
}

# One wrk run; prints "rps p50_ms p99_ms errors seconds". Env for the Lua script before the args.
ms_of_token() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1e6} else if (v ~ /ms$/) {sub(/ms$/,"",v); v/=1000} else if (v ~ /m$/) {sub(/m$/,"",v); v*=60} else if (v ~ /s$/) {sub(/s$/,"",v)}; printf "%.2f\n", v}'; }
ms() { awk '{v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /m$/) {sub(/m$/,"",v); v*=60000} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}'; }
# What ends a run without cutting requests off (bench/grants_drain.lua): a GET of the server's
# metadata, recognised in answers by a member name.
drain_env() { # port
  case "$1" in
    "$OUR_PORT" | "$IDP_PORT") echo "DRAIN_PATH=/.well-known/oauth-authorization-server" 'DRAIN_MARK="issuer"' ;;
    "$PEER_PORT") echo "DRAIN_PATH=/.well-known/openid-configuration" 'DRAIN_MARK="issuer"' ;;
    *) echo "DRAIN_PATH=/.well-known/oauth-protected-resource/mcp" 'DRAIN_MARK="authorization_servers"' ;;
  esac
}
measure() { # port lua [VAR=value...]
  local port="$1" lua="$2" out
  shift 2
  local -a drain
  read -r -a drain <<<"$(drain_env "$port")"
  # The scripts that end themselves get -d as a safety net only; grants_mcp.lua is a plain run.
  local limit="$((SECS + 10))s"
  [ "$lua" != grants_mcp.lua ] || limit="$DURATION"
  out="$(env LUA_DIR="$ROOT/bench" RUN_SECS="$SECS" CONNECTIONS="$CONNECTIONS" "${drain[@]}" "$@" \
    wrk -t1 -c"$CONNECTIONS" -d"$limit" --latency -s "$ROOT/bench/$lua" "http://127.0.0.1:$port")"
  printf '%s\n\n' "$out" >>"$SCRATCH/wrk.log"
  local rps p50 p99 non2xx sock secs
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%"' <<<"$out" | ms)"
  p99="$(awk '$1=="99%"' <<<"$out" | ms)"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  sock="$(awk '/Socket errors:/ {gsub(/,/,""); print $4+$6+$8+$10}' <<<"$out")"
  secs="$(awk '/requests in/ {sub(/,$/, "", $4); print $4}' <<<"$out" | ms_of_token)"
  echo "$rps ${p50:-0} ${p99:-0} $(( ${non2xx:-0} + ${sock:-0} )) $secs"
}
# Mint COUNT values with bench/grants_mint.lua into FILE.
mint() { # port file count [VAR=value...]
  local port="$1" file="$2" count="$3"
  shift 3
  local -a drain
  read -r -a drain <<<"$(drain_env "$port")"
  env LUA_DIR="$ROOT/bench" RUN_SECS="$MINT_SECS" CONNECTIONS="$CONNECTIONS" "${drain[@]}" OUT="$file" COUNT="$count" "$@" \
    wrk -t1 -c"$CONNECTIONS" -d"$((MINT_SECS + 10))s" -s "$ROOT/bench/grants_mint.lua" \
    "http://127.0.0.1:$port" >>"$SCRATCH/mint.log"
  local got
  got="$(wc -l <"$file")"
  [ "$got" -ge "$count" ] || echo "   (minted $got of $count)" >&2
}
proofs() { # file url count: DPoP proofs, one "proof<TAB>" a line
  "$PROOFS_TOOL" "$SCRATCH/proofs.raw" POST "$2" "$3"
  sed 's/$/\t/' "$SCRATCH/proofs.raw" >"$1"
}

declare -A RES
record() { # who path result
  RES["$1|$2"]+="$3"$'\n'
  echo "   $1 $2: $3   (req/s p50 p99 errors seconds)"
}

# Items to mint for a one-item-per-request path: 1.5 x (this round's cc-secret rate of the same
# server, its cheapest path) x DURATION, at least 2,000, at most cap x DURATION.
items_for() { # who cap
  local last
  last="$(printf '%s' "${RES["$1|cc-secret"]}" | tail -n 1 | cut -d' ' -f1)"
  awk -v r="$last" -v s="$SECS" -v cap="$2" 'BEGIN {n = int(1.5 * r * s); if (n < 2000) n = 2000;
    if (n > cap * s) n = cap * s; print n}'
}

run_peer() {
  echo "== round $1: node-oidc-provider $PEER_VERSION"
  start_peer
  post200 "$PEER_URL/token" "$CC_BODY" "$PEER_AUTH" >/dev/null
  record peer cc-secret "$(measure "$PEER_PORT" grants_static.lua BODY="$CC_BODY" AUTH="$PEER_AUTH")"
  local PEER_N
  PEER_N="$(items_for peer "$PEER_RATE_CAP")"

  "$TOOL" sign "$SCRATCH" bench-jwt "$PEER_URL" "$PEER_N"
  record peer cc-jwt "$(measure "$PEER_PORT" grants_lines.lua LINES="$SCRATCH/assertions.txt" BODY_PREFIX="$JWT_PREFIX")"

  proofs "$SCRATCH/lines.txt" "$PEER_URL/token" "$PEER_N"
  record peer cc-dpop "$(measure "$PEER_PORT" grants_lines.lua LINES="$SCRATCH/lines.txt" LINE_HEADER=DPoP \
    BODY_PREFIX="$CC_BODY" AUTH="$PEER_AUTH")"

  curl -sf "http://127.0.0.1:$PEER_ADMIN_PORT/codes?n=$PEER_N&challenge=$CHALLENGE" >"$SCRATCH/codes.txt"
  record peer code "$(measure "$PEER_PORT" grants_lines.lua LINES="$SCRATCH/codes.txt" \
    BODY_PREFIX="$(code_prefix bench-public)")"

  curl -sf "http://127.0.0.1:$PEER_ADMIN_PORT/codes?n=$PEER_N&challenge=$CHALLENGE" >"$SCRATCH/codes.txt"
  proofs "$SCRATCH/proofs.txt" "$PEER_URL/token" "$PEER_N"
  paste -d '' "$SCRATCH/proofs.txt" "$SCRATCH/codes.txt" >"$SCRATCH/lines.txt"
  record peer code-dpop "$(measure "$PEER_PORT" grants_lines.lua LINES="$SCRATCH/lines.txt" LINE_HEADER=DPoP \
    BODY_PREFIX="$(code_prefix bench-public)")"

  curl -sf "http://127.0.0.1:$PEER_ADMIN_PORT/refresh?n=$CONNECTIONS" >"$SCRATCH/refresh.txt"
  record peer refresh "$(measure "$PEER_PORT" grants_refresh.lua REFRESH="$SCRATCH/refresh.txt" \
    BODY_PREFIX="$(refresh_prefix bench-public)")"
  stop "$PEER_PID"
}

# After each mcp-auth path: /authorize must still answer 302 (it writes a session and a code).
# When it does not (seen: "database is locked" and 503 until restart), say so, count it and
# restart the server on a fresh store, so the next paths are still measured.
WEDGED=()
probe_as() { # ours|idp, path just measured
  local name url pid code
  case "$1" in
    ours) name=mcp-auth; url="$OUR$AUTHORIZE"; pid="$OUR_PID" ;;
    idp) name="mcp-auth (the IdP)"; url="$IDP_URL$IDP_AUTHORIZE"; pid="$IDP_PID" ;;
  esac
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url")"
  [ "$code" = 302 ] && return 0
  WEDGED+=("$name stopped answering after $2: /authorize answered $code ($(grep -E 'ERROR|WARN.*(503|store unavailable)' "$SCRATCH/$1.log" | tail -n 1 | cut -c1-200))")
  echo "   !! $name answered $code to /authorize after $2; restarting it on a fresh store" >&2
  stop "$pid"
  "start_$1"
}
probe_ours() { probe_as ours "$1"; }

run_ours() {
  echo "== round $1: mcp-auth"
  start_ours
  local token
  post200 "$OUR/token" "$CC_BODY" "$AUTH" >/dev/null
  record ours cc-secret "$(measure "$OUR_PORT" grants_static.lua BODY="$CC_BODY" AUTH="$AUTH")"
  probe_ours cc-secret
  local OUR_N
  OUR_N="$(items_for ours "$OUR_RATE_CAP")"

  "$TOOL" sign "$SCRATCH" "$JWT_ID" "$OUR" "$OUR_N"
  record ours cc-jwt "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/assertions.txt" BODY_PREFIX="$JWT_PREFIX")"
  probe_ours cc-jwt

  proofs "$SCRATCH/lines.txt" "$OUR/token" "$OUR_N"
  record ours cc-dpop "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/lines.txt" LINE_HEADER=DPoP \
    BODY_PREFIX="$CC_BODY" AUTH="$AUTH")"
  probe_ours cc-dpop

  mint "$OUR_PORT" "$SCRATCH/codes.txt" "$OUR_N" MINT_PATH="$AUTHORIZE"
  record ours code "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/codes.txt" \
    BODY_PREFIX="$(code_prefix "$PUBLIC_ID")")"
  probe_ours code

  mint "$OUR_PORT" "$SCRATCH/codes.txt" "$OUR_N" MINT_PATH="$AUTHORIZE"
  proofs "$SCRATCH/proofs.txt" "$OUR/token" "$OUR_N"
  paste -d '' "$SCRATCH/proofs.txt" "$SCRATCH/codes.txt" >"$SCRATCH/lines.txt"
  record ours code-dpop "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/lines.txt" LINE_HEADER=DPoP \
    BODY_PREFIX="$(code_prefix "$PUBLIC_ID")")"
  probe_ours code-dpop

  mint "$OUR_PORT" "$SCRATCH/codes.txt" "$CONNECTIONS" MINT_PATH="$AUTHORIZE"
  while read -r code; do
    post200 "$OUR/token" "$(code_prefix "$PUBLIC_ID")$code" | json_field refresh_token
  done <"$SCRATCH/codes.txt" >"$SCRATCH/refresh.txt"
  record ours refresh "$(measure "$OUR_PORT" grants_refresh.lua REFRESH="$SCRATCH/refresh.txt" \
    BODY_PREFIX="$(refresh_prefix "$PUBLIC_ID")")"
  probe_ours refresh

  token="$(post200 "$OUR/token" "$CC_BODY" "$AUTH" | json_field access_token)"
  post200 "$OUR/introspect" "token=$token" "$RS_AUTH" | grep -q '"active":true' \
    || { echo "introspection by the resource's server client did not answer active:true" >&2; exit 1; }
  record ours introspect "$(measure "$OUR_PORT" grants_static.lua TARGET_PATH=/introspect BODY="token=$token" AUTH="$RS_AUTH")"
  probe_ours introspect

  mint "$OUR_PORT" "$SCRATCH/tokens.txt" "$OUR_N" METHOD=POST MINT_PATH=/token MINT_BODY="$CC_BODY" \
    AUTH="$AUTH" FIELD=access_token
  record ours revoke "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/tokens.txt" TARGET_PATH=/revoke \
    BODY_PREFIX="token=" AUTH="$AUTH")"
  probe_ours revoke

  connect_user
  record ours connect-token "$(measure "$OUR_PORT" grants_static.lua TARGET_PATH=/connect/token \
    BODY="$CONNECT_PREFIX$CONNECT_TOKEN" AUTH="$CONNECT_AUTH")"
  probe_ours connect-token
  stop "$OUR_PID"
}

# The development user connects the `crm` API key through the pages, as a browser would: sign-in
# (the development profile, at /authorize) with a cookie jar, a user access token for the
# resource, /connect/token answering connection_required with its link, the link's form (its
# CSRF token) posted with the key; then /connect/token answers 200 with the key. Sets
# CONNECT_TOKEN, the user's access token.
connect_user() {
  local jar="$SCRATCH/cookies.txt" code link csrf
  rm -f "$jar"
  code="$(authorize_code "$OUR$AUTHORIZE" "$jar")"
  CONNECT_TOKEN="$(post200 "$OUR/token" "$(code_prefix "$PUBLIC_ID")$code" | json_field access_token)"
  code="$(post "$OUR/connect/token" -H "Authorization: $CONNECT_AUTH" --data "$CONNECT_PREFIX$CONNECT_TOKEN")"
  link="$(json_field url <"$SCRATCH/post.out")"
  if [ "$code" != 400 ] || ! grep -q '"connection_required"' "$SCRATCH/post.out" || [ -z "$link" ]; then
    echo "/connect/token before connecting answered $code: $(head -c 300 "$SCRATCH/post.out")" >&2; exit 1
  fi
  # The page's first form (the key); its sign-out form carries the same token.
  csrf="$(curl -s -b "$jar" "$link" | sed -n '/name="csrf_token"/{s/.*name="csrf_token" value="\([^"]*\)".*/\1/p;q}')"
  [ -n "$csrf" ] || { echo "the connect page $link has no csrf_token" >&2; exit 1; }
  code="$(post "$link" -b "$jar" --data-urlencode "csrf_token=$csrf" --data decision=approve \
    --data-urlencode "api_key=$API_KEY")"
  [ "$code" = 200 ] || { echo "the connect form answered $code: $(head -c 300 "$SCRATCH/post.out")" >&2; exit 1; }
  [ "$(post200 "$OUR/connect/token" "$CONNECT_PREFIX$CONNECT_TOKEN" "$CONNECT_AUTH" | json_field access_token)" = "$API_KEY" ] \
    || { echo "/connect/token after connecting did not answer the key" >&2; exit 1; }
}

# Cross App Access, both roles: mcp-auth as the enterprise IdP exchanging the development user's
# ID token for ID-JAGs (token exchange), then mcp-auth redeeming ID-JAGs (jwt-bearer), minted at
# the IdP beforehand, which is idle during that run.
id_token() { # the development user's, for the IdP's app
  local code
  code="$(authorize_code "$IDP_URL$IDP_AUTHORIZE")"
  post200 "$IDP_URL/token" "$(code_prefix "$IDP_APP_ID")$code" "$IDP_APP_AUTH" | json_field id_token
}
id_jag() { # id token: one exchange at the IdP, which must answer 200; prints the ID-JAG
  post200 "$IDP_URL/token" "$JAG_PREFIX$1" "$IDP_APP_AUTH" | json_field access_token
}
run_xaa() {
  echo "== round $1: Cross App Access: mcp-auth as the IdP (port $IDP_PORT), then as the authorization server"
  start_idp
  start_ours
  local subject jag n
  subject="$(id_token)"
  id_jag "$subject" >/dev/null
  record ours id-jag "$(measure "$IDP_PORT" grants_static.lua BODY="$JAG_PREFIX$subject" AUTH="$IDP_APP_AUTH")"
  probe_as idp id-jag

  # As many ID-JAGs as the other one-item paths get, but no more than the IdP mints in about
  # 300 s at the rate just measured: the last is spent well within its 600 s.
  n="$(awk -v n="$(items_for ours "$OUR_RATE_CAP")" -v r="$(printf '%s' "${RES["ours|id-jag"]}" | tail -n 1 | cut -d' ' -f1)" \
    'BEGIN {m = int(r * 300); if (m < 2000) m = 2000; print (n < m) ? n : m}')"
  subject="$(id_token)"
  mint "$IDP_PORT" "$SCRATCH/jags.txt" "$n" METHOD=POST MINT_PATH=/token MINT_BODY="$JAG_PREFIX$subject" \
    AUTH="$IDP_APP_AUTH" FIELD=access_token
  # One redemption first: it must answer 200, and it puts the IdP's keys into mcp-auth's cache.
  jag="$(id_jag "$subject")"
  post200 "$OUR/token" "$BEARER_PREFIX$jag" "$XAA_AUTH" >/dev/null
  record ours jwt-bearer "$(measure "$OUR_PORT" grants_lines.lua LINES="$SCRATCH/jags.txt" \
    BODY_PREFIX="$BEARER_PREFIX" AUTH="$XAA_AUTH")"
  probe_ours jwt-bearer
  stop "$OUR_PID"
  stop "$IDP_PID"
}

# An MCP session: initialize, then notifications/initialized; prints the session id.
mcp_session() { # [authorization]
  local id
  id="$(curl -s -D - -o /dev/null -X POST "$RESOURCE" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' ${1:+-H "Authorization: $1"} \
    --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"grants-bench","version":"1"}}}' \
    | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:" {print $2}')"
  [ -n "$id" ] || { echo "no MCP session from $RESOURCE" >&2; exit 1; }
  curl -s -o /dev/null -X POST "$RESOURCE" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $id" \
    -H 'MCP-Protocol-Version: 2025-06-18' ${1:+-H "Authorization: $1"} \
    --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$id"
}
start_mcp() { # [--dangerous-without-auth-layer]
  MCP_LOG=warn "$MCP_BIN" --issuer "$OUR" --bind "127.0.0.1:$MCP_PORT" "$@" >>"$SCRATCH/mcp.log" 2>&1 &
  MCP_PID=$!; PIDS+=("$MCP_PID")
  wait_port "$MCP_PORT" "$MCP_PID" "$SCRATCH/mcp.log"
}
LAYER_SKIP=""
if ! "$MCP_BIN" --help >/dev/null 2>&1 || ! "$MCP_BIN" --dangerous-without-auth-layer --help >/dev/null 2>&1; then
  LAYER_SKIP="$MCP_BIN has no --dangerous-without-auth-layer switch"
fi
run_layer() {
  [ -z "$LAYER_SKIP" ] || return 0
  echo "== round $1: protected-mcp-server, with and without the bearer layer"
  start_ours
  local token session bearer
  token="$(post200 "$OUR/token" "$CC_BODY" "$AUTH" | json_field access_token)"
  bearer="Bearer $token"
  start_mcp
  session="$(mcp_session "$bearer")"
  record ours mcp-layer-on "$(measure "$MCP_PORT" grants_mcp.lua SESSION="$session" AUTH="$bearer")"
  stop "$MCP_PID"
  start_mcp --dangerous-without-auth-layer
  session="$(mcp_session)"
  record ours mcp-layer-off "$(measure "$MCP_PORT" grants_mcp.lua SESSION="$session" AUTH=)"
  stop "$MCP_PID"
  stop "$OUR_PID"
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
for round in $(seq 1 "$ROUNDS"); do
  if [ "$PEER" = 1 ] && [ $((round % 2)) = 1 ]; then run_peer "$round"; fi
  run_ours "$round"
  run_xaa "$round"
  run_layer "$round"
  if [ "$PEER" = 1 ] && [ $((round % 2)) = 0 ]; then run_peer "$round"; fi
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# Means over the rounds: "rps p50 p99 errors(sum)", or nothing.
stat() { # who path
  local r="${RES["$1|$2"]:-}"
  [ -n "$r" ] || return 0
  awk 'NF {r+=$1; a+=$2; b+=$3; e+=$4; c++} END {printf "%.0f %.2f %.2f %d\n", r/c, a/c, b/c, e}' <<<"$r"
}
LABELS=(
  "cc-secret|client_credentials, client_secret_basic"
  "cc-jwt|client_credentials, private_key_jwt (new assertion each)"
  "cc-dpop|client_credentials, secret + DPoP proof (bound token)"
  "code|authorization code + PKCE redemption"
  "code-dpop|authorization code + PKCE + DPoP proof"
  "refresh|refresh_token rotation (family per connection)"
  "introspect|introspection of a JWT access token (RS client)"
  "revoke|revocation of a JWT access token"
  "connect-token|/connect/token from the vault (api_key, connected user)"
  "id-jag|token exchange at the IdP role (ID token → ID-JAG)"
  "jwt-bearer|jwt-bearer, a new ID-JAG per request (IdP keys cached; IdP idle, same machine)"
  "mcp-layer-on|MCP tools/call, through the bearer layer"
  "mcp-layer-off|MCP tools/call, without the layer"
)
# Rows the peer has no figures for, and why (introspect and revoke: see the header).
declare -A NO_PEER=(
  [connect-token]="peer: no such grant"
  [id-jag]="peer: no such grant"
  [jwt-bearer]="peer: no such grant"
)
TABLE="$SCRATCH/table.md"
SUMMARY="ratios mcp-auth/peer (req/s, p99):"
{
  echo "| path | mcp-auth req/s | p50 ms | p99 ms | errors | peer req/s | p50 ms | p99 ms | errors | req/s ratio | p99 ratio |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for entry in "${LABELS[@]}"; do
    key="${entry%%|*}"; label="${entry#*|}"
    o="$(stat ours "$key")"; p="$(stat peer "$key")"
    nopeer="${NO_PEER[$key]:-—}"
    if [ -z "$o" ]; then
      case "$key" in mcp-layer-*) reason="${LAYER_SKIP:-not run}" ;; *) reason="not run" ;; esac
      echo "| $label | not measured: $reason | | | | $nopeer | — | — | — | — | — |"
      continue
    fi
    read -r orps op50 op99 oerr <<<"$o"
    if [ -n "$p" ]; then
      read -r prps pp50 pp99 perr <<<"$p"
      rr="$(awk -v a="$orps" -v b="$prps" 'BEGIN {printf "%.2fx", a/b}')"
      pr="$(awk -v a="$op99" -v b="$pp99" 'BEGIN {printf "%.2fx", (b>0)?a/b:0}')"
      echo "| $label | $orps | $op50 | $op99 | $oerr | $prps | $pp50 | $pp99 | $perr | $rr | $pr |"
      SUMMARY+=" $key ${rr}/${pr};"
    else
      echo "| $label | $orps | $op50 | $op99 | $oerr | $nopeer | — | — | — | — | — |"
    fi
  done
} >"$TABLE"
on="$(stat ours mcp-layer-on)"; off="$(stat ours mcp-layer-off)"
LAYER_LINE=""
if [ -n "$on" ] && [ -n "$off" ]; then
  LAYER_LINE="$(awk -v on="$on" -v off="$off" 'BEGIN {split(on, a, " "); split(off, b, " ");
    printf "bearer layer: %.2fx the requests/s of the bare MCP server, adds %.2f ms at p50 and %.2f ms at p99", a[1]/b[1], a[2]-b[2], a[3]-b[3]}')"
  SUMMARY+=" layer on/off req/s $(awk -v on="$on" -v off="$off" 'BEGIN {split(on, a, " "); split(off, b, " "); printf "%.2fx", a[1]/b[1]}');"
fi
[ "$PEER" = 1 ] || SUMMARY+=" (peer left out)"

ERRORS_OURS="$(cat "$SCRATCH/ours.log" "$SCRATCH/idp.log" 2>/dev/null | grep -Eci '(^| )(ERROR|panicked)' || true)"
ERRORS_PEER=0
[ ! -f "$SCRATCH/peer.log" ] || ERRORS_PEER="$(grep -c 'server_error' "$SCRATCH/peer.log" || true)"
HEADER="$ROUNDS round(s), wrk -t1 -c$CONNECTIONS -d$DURATION per path and round, $(nproc) cores, loopback; started $STARTED; load average before $LOAD_BEFORE, after $LOAD_AFTER"
echo
echo "== results: $HEADER"
cat "$TABLE"
[ -z "$LAYER_LINE" ] || echo "$LAYER_LINE"
echo "server log lines at error level: mcp-auth $ERRORS_OURS, peer server_error $ERRORS_PEER"
for w in "${WEDGED[@]:-}"; do [ -z "$w" ] || echo "$w; restarted"; done
echo "$SUMMARY"

if [ "$WRITE" = 1 ]; then
  README="$ROOT/bench/README.md"
  {
    echo "<!-- grants.sh:begin (written by bench/grants.sh --write) -->"
    echo "### Results of \`grants.sh\`"
    echo
    echo "$HEADER; node-oidc-provider ${PEER_VERSION:-left out}."
    echo
    cat "$TABLE"
    echo
    [ -z "$LAYER_LINE" ] || { echo "$LAYER_LINE."; echo; }
    echo "Server log lines at error level during the run: mcp-auth $ERRORS_OURS, peer \`server_error\` $ERRORS_PEER."
    for w in "${WEDGED[@]:-}"; do [ -z "$w" ] || { echo; echo "$w; restarted on a fresh store."; }; done
    echo
    echo "\`$SUMMARY\`"
    echo "<!-- grants.sh:end -->"
  } >"$SCRATCH/section.md"
  if grep -q '<!-- grants.sh:begin' "$README"; then
    awk -v f="$SCRATCH/section.md" '
      /<!-- grants.sh:begin/ {while ((getline l < f) > 0) print l; skip=1; next}
      /<!-- grants.sh:end -->/ {skip=0; next}
      !skip {print}' "$README" >"$SCRATCH/readme.new"
  else
    { cat "$README"; echo; cat "$SCRATCH/section.md"; } >"$SCRATCH/readme.new"
  fi
  cp "$SCRATCH/readme.new" "$README"
  echo "== wrote the results into $README"
fi
