#!/usr/bin/env bash
# The TypeScript MCP SDK against mcp-auth's URL-mode elicitation (issue 11), with real processes
# on loopback, set up by ../lib/world.sh:
#   - a third-party auth-server on 127.0.0.2 (users alice, bob; a confidential client for our AS
#     whose redirect URI is our /connect/callback) and its calendar-api on 127.0.0.2;
#   - our auth-server on 127.0.0.1 ([vault], [[connections]] calendar, server_clients, a public
#     MCP client) and protected-mcp-server on 127.0.0.1 with list_events on;
#   - client.mjs: alice's token (code + PKCE), then the SDK client and the scripted browser.
# Needs the debug binaries (`cargo build --bins` at the workspace root) and `npm ci` here.
# Exits non-zero on any failure; stops every process it started on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
BIN="${MCP_AUTH_BIN_DIR:-$ROOT/target/debug}"
PASSWORD="correct horse battery"
USERS=(alice bob)
KEY_ID="ts-e2e-1"
MCP_CLIENT_NAME="TS SDK MCP client"
[[ -d "$HERE/node_modules/@modelcontextprotocol/sdk" ]] || { echo "run 'npm ci' in $HERE first" >&2; exit 1; }

# shellcheck source=../lib/world.sh
source "$HERE/../lib/world.sh"

cd "$HERE"
echo "alice's MCP access token: authorization code + PKCE at our AS"
TOKEN="$(timeout 60 node client.mjs token "$ISSUER" "$MCP_CLIENT_ID" "$MCP_URL" alice "$PASSWORD")"
[[ -n "$TOKEN" ]] || { echo "no token" >&2; exit 1; }

echo "TypeScript SDK client:"
timeout 120 node client.mjs run "$MCP_URL" "$TOKEN" "$ISSUER" "$TP" alice "$PASSWORD"
