#!/usr/bin/env bash
# Run the `as` and `client-credentials` checks of mcp-auth-conformance against node-oidc-provider
# (../shared/peers/oidc-provider), started on loopback, and print the results.
#
#   bench/conformance-oidc-provider.sh            # env PORT=3000 SPEC=2026-07-28
#
# The peer configuration has one confidential client, `bench-client`, with the
# client_credentials grant only and no redirect URI: with it the checker cannot run the
# code-flow checks (they are skipped with that reason, and that run exits 2: a client that may
# not use the flow under test). A second run uses a copy of the configuration with one public
# authorization-code client added (`conformance-code`) and the peer's development sign-in pages
# on (`devInteractions`), which the checker fills with `--login-form`. Exit status: that of the
# second `as` run (0 when no check failed, 1 when the peer broke a rule, 2 when it could not
# run).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-3000}"
SPEC="${SPEC:-2026-07-28}"
SECRET='bench-secret-0123456789abcdef0123456789abcdef'
PEER_SRC="${PEER_SRC:-../shared/peers/oidc-provider}"

cargo build --quiet --locked -p mcp-auth-conformance --bin mcp-auth-conformance
BIN="$(pwd)/target/debug/mcp-auth-conformance"

scratch="$(mktemp -d)"
peer_pid=""
code_pid=""
cleanup() {
  for p in $peer_pid $code_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

cp -r "$PEER_SRC" "$scratch/peer"
(cd "$scratch/peer" && npm install --no-audit --no-fund --silent >/dev/null)
(cd "$scratch/peer" && NODE_ENV=production PORT="$PORT" ALG=ES256 exec node provider.mjs >"$scratch/peer.log" 2>&1) &
peer_pid=$!
issuer="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" 2>/dev/null && break
  sleep 0.2
done
curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" || { cat "$scratch/peer.log"; exit 1; }

# The variant with an authorization-code client and the development sign-in pages.
cp -r "$scratch/peer" "$scratch/peer-code"
python3 - "$scratch/peer-code/provider.mjs" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("devInteractions: { enabled: false }", "devInteractions: { enabled: true }")
s = s.replace("  clients: [{", """  clients: [{
    client_id: 'conformance-code',
    grant_types: ['authorization_code'],
    redirect_uris: ['http://127.0.0.1:53682/callback'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  }, {""", 1)
open(p, "w").write(s)
PY
CODE_PORT=$((PORT + 1))
(cd "$scratch/peer-code" && NODE_ENV=production PORT="$CODE_PORT" ALG=ES256 exec node provider.mjs >"$scratch/peer-code.log" 2>&1) &
code_pid=$!
code_issuer="http://127.0.0.1:$CODE_PORT"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$code_issuer/.well-known/openid-configuration" 2>/dev/null && break
  sleep 0.2
done

echo "== mcp-auth-conformance as --issuer $issuer --client-id bench-client (spec $SPEC)"
"$BIN" --spec-version "$SPEC" as --issuer "$issuer" --client-id bench-client \
  --client-secret "$SECRET" --resource "https://mcp.example.com/mcp" || true

echo
echo "== mcp-auth-conformance client-credentials --issuer $issuer --client-id bench-client"
"$BIN" --spec-version "$SPEC" client-credentials --issuer "$issuer" --client-id bench-client \
  --client-secret "$SECRET" --resource "https://mcp.example.com/mcp" --scope mcp:tools || true

echo
echo "== mcp-auth-conformance as --issuer $code_issuer --client-id conformance-code --login-form (peer + a code client)"
"$BIN" --spec-version "$SPEC" as --issuer "$code_issuer" --client-id conformance-code \
  --scope "openid mcp:tools" --resource "https://mcp.example.com/mcp" \
  --login-form "conformance:any-password" || status=$?
exit "${status:-0}"
