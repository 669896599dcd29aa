-- wrk: one MCP request (`tools/call` of `echo`) in an open session of the example MCP server:
-- SESSION is its Mcp-Session-Id, AUTH the Authorization header (empty without the layer).
-- A plain -d run: the MCP server keeps no store, so requests cut off at its end harm nothing.
wrk.method = "POST"
wrk.path = "/mcp"
wrk.body = '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = os.getenv("SESSION")
wrk.headers["MCP-Protocol-Version"] = os.getenv("PROTOCOL") or "2025-06-18"
if (os.getenv("AUTH") or "") ~= "" then wrk.headers["Authorization"] = os.getenv("AUTH") end
