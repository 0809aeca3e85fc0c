-- wrk script: MCP 2025-11-25 sessions, `tools/call get_context` over Streamable HTTP (each
-- answer an SSE stream). Run with one connection per thread, each thread on its own session:
--   benches/mcp/sessions.sh 50 > /tmp/sids      # opens 50 sessions, prints their ids
--   SIDS=/tmp/sids wrk -t50 -c50 -d10s -s benches/mcp/get_context_sessions.lua http://127.0.0.1:8765/mcp
local sids = {}
for line in io.lines(os.getenv("SIDS")) do sids[#sids + 1] = line end
local next_thread = 1

function setup(thread)
  thread:set("sid", sids[(next_thread - 1) % #sids + 1])
  next_thread = next_thread + 1
end

local id = 0
function request()
  id = id + 1
  local body = '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":'
    .. '{"name":"get_context","arguments":{"agent_id":"support-agent"}}}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
    ["Mcp-Session-Id"] = sid,
  }, body)
end

local bad = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"isError":false', 1, true) then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("bad answer " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("calls/s %.0f  p50 %.2f ms  p99 %.2f ms  non-2xx %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end
