#!/usr/bin/env bash
# Open N MCP 2025-11-25 sessions on the Streamable HTTP server at $URL (default
# http://127.0.0.1:8765/mcp) and print their ids, one per line, for get_context_sessions.lua.
set -euo pipefail
n=${1:-50}
url=${URL:-http://127.0.0.1:8765/mcp}
auth=()
[ -n "${TOKEN:-}" ] && auth=(-H "Authorization: Bearer $TOKEN")
for i in $(seq "$n"); do
  sid=$(curl -sS -D - -o /dev/null -X POST "$url" "${auth[@]}" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"wrk-$i\",\"version\":\"1\"}}}" \
    | awk 'tolower($1) == "mcp-session-id:" {print $2}' | tr -d '\r')
  [ -n "$sid" ] || { echo "sessions.sh: no session id from $url" >&2; exit 1; }
  curl -sS -o /dev/null -X POST "$url" "${auth[@]}" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
done
