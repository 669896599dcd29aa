-- wrk: POST /token grant_type=client_credentials, client_secret_basic, RFC 8707 resource.
-- Same request shape as ../shared/peers/oidc-provider/token_cc.lua; the Basic credentials of
-- the provisioned machine client come from AUTH ("Basic ...").
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials&scope=mcp%3Atools&resource=" .. (os.getenv("RESOURCE") or "https%3A%2F%2Fmcp.example.com%2Fmcp")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
