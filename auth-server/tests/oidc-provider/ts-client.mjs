// The TypeScript MCP SDK (@modelcontextprotocol/sdk, pinned in package-lock.json) as the MCP
// client of auth-server/tests/upstream_oidc_provider.rs, with the SDK's own OAuth: discovery
// from the MCP server's 401, dynamic client registration, authorization code + PKCE S256.
//
//   node ts-client.mjs <mcp_url> <redirect_uri>
//
// Prints `AUTHORIZE <url>` for the test's browser, then reads the redirect URL the browser
// reached (one line on standard input), redeems its code, connects again with the token, calls
// the tool `echo` with `hello` and prints `TOKEN <access token>` and `RESULT <text>`.
// Exits 1 on the first broken expectation. Talks to loopback only (the URLs it is given).

import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [mcpUrl, redirectUri] = process.argv.slice(2);
if (!mcpUrl || !redirectUri) {
  console.error('usage: node ts-client.mjs <mcp_url> <redirect_uri>');
  process.exit(2);
}

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

/** An in-memory OAuth client: what the SDK asks to keep, kept for this run. */
const store = {};
const provider = {
  get redirectUrl() { return redirectUri; },
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK upstream e2e',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation() { return store.client; },
  saveClientInformation(info) { store.client = info; },
  tokens() { return store.tokens; },
  saveTokens(tokens) { store.tokens = tokens; },
  redirectToAuthorization(url) { console.log(`AUTHORIZE ${url.href}`); },
  saveCodeVerifier(v) { store.verifier = v; },
  codeVerifier() { return store.verifier; },
};

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
try {
  await new Client({ name: 'ts-upstream-e2e', version: '0.0.0' }).connect(first);
  fail('connected without authorization');
} catch (e) {
  if (!(e instanceof UnauthorizedError)) fail(`not an UnauthorizedError: ${e}`);
}
const { value: callback, done } = await lines.next();
if (done) fail('no redirect URL on standard input');
const code = new URL(callback).searchParams.get('code');
if (!code) fail(`no code in ${callback}`);
await first.finishAuth(code);
if (!store.tokens?.access_token) fail('no access token after the code was redeemed');

const client = new Client({ name: 'ts-upstream-e2e', version: '0.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
const result = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
const text = result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
console.log(`TOKEN ${store.tokens.access_token}`);
console.log(`RESULT ${text}`);
await client.close();
process.exit(0);
