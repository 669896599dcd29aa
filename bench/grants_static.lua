-- wrk: the same POST every time: TARGET_PATH (default /token), form body BODY, and the
-- Authorization header AUTH when set (client_secret_basic client_credentials, introspection).
wrk.method = "POST"
wrk.path = os.getenv("TARGET_PATH") or "/token"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if (os.getenv("AUTH") or "") ~= "" then wrk.headers["Authorization"] = os.getenv("AUTH") end
