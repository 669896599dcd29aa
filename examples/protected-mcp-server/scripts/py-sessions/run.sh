#!/usr/bin/env bash
# The Python MCP SDK (`mcp` 2.3.0) through the bearer layer with MCP 2025-11-25 sessions, with
# real processes on loopback: the world of ../lib/world.sh (a third-party auth-server
# and its calendar-api on 127.0.0.2; our auth-server with [vault], the `calendar` connection,
# the MCP server's client in `server_clients` and a public MCP client; protected-mcp-server with
# list_events on), then sessions.py as alice.
# Needs the debug binaries (`cargo build --bins` at the workspace root) and Python 3.11 or
# later; installs requirements.txt into a virtual environment under target/ (PyPI) when needed.
# Exits non-zero on any failure; stops every process it started on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
BIN="${MCP_AUTH_BIN_DIR:-$ROOT/target/debug}"
VENV="${PY_SESSIONS_VENV:-$ROOT/target/py-sessions-venv}"
PASSWORD="correct horse battery"
USERS=(alice)
KEY_ID="py-sessions-1"
MCP_CLIENT_NAME="Python SDK MCP client"

# The SDK, pinned in requirements.txt, in its own virtual environment.
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "needs Python 3.11 or later: $(python3 --version 2>&1)" >&2; exit 1; }
if ! "$VENV/bin/python" -c 'import mcp, httpx2' 2>/dev/null \
  || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  echo "installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
PY="$VENV/bin/python"

# shellcheck source=../lib/world.sh
source "$HERE/../lib/world.sh"

timeout 180 "$PY" "$HERE/sessions.py" --issuer "$ISSUER" --client-id "$MCP_CLIENT_ID" \
  --mcp-url "$MCP_URL" --third-party "$TP" --user alice --password "$PASSWORD"
