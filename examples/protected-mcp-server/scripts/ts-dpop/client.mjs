// The TypeScript MCP SDK v2 client (@modelcontextprotocol/client) with its own DPoP support
// (RFC 9449, SEP-1932) against auth-server and the example MCP server whose layer requires
// DPoP (issue 24 §5).
//
//   node client.mjs <mcp_url> <issuer> <user> <password>
//
// 1. The SDK's StreamableHTTPClientTransport with an OAuthClientProvider whose `dpop()` returns
//    one DpopSession: the first request gets 401 with a `DPoP` challenge; the SDK reads the
//    protected resource metadata and the AS metadata, registers the client (RFC 7591, with
//    `dpop_bound_access_tokens: true`, RFC 9449 §5.2) and sends the user to `/authorize`
//    (PKCE S256, `resource`, `state`).
// 2. The scripted browser (../lib/browser.mjs) signs in and approves, and stops at the redirect
//    URI; `transport.finishAuth` redeems the code with a DPoP proof the SDK signs.
// 3. Checks: `token_type` is `DPoP`, the access token's `cnf.jkt` is the session key's RFC 7638
//    thumbprint; a new transport connects and calls `echo`, every MCP request carrying
//    `Authorization: DPoP` and a `DPoP` proof.
// 4. Negatives with plain fetch: the same token as `Bearer` without a proof, as `DPoP` without
//    a proof, and as `DPoP` with a proof from another key, are each refused with 401.
//
// Exits 1 on the first broken expectation. Talks to loopback only (the URLs it is given).

import { randomBytes } from 'node:crypto';

import {
  Client,
  DpopSession,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from '@modelcontextprotocol/client';

import { Browser, check, fail } from '../lib/browser.mjs';

const REDIRECT = 'http://127.0.0.1:7777/callback';
const CLIENT_INFO = { name: 'ts-sdk-v2-dpop-check', version: '1.0.0' };

/**
 * An in-memory OAuthClientProvider: dynamic registration, PKCE, `state`, and DPoP through one
 * DpopSession for the life of the registration. The authorization URL is kept for the
 * scripted browser instead of opening a real one.
 */
class DpopProvider {
  constructor() {
    this.session = DpopSession.create({ alg: 'ES256' });
    this.stateValue = randomBytes(16).toString('base64url');
    this.authorizationUrl = undefined;
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.discovery = undefined;
  }

  get redirectUrl() {
    return REDIRECT;
  }

  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK v2 DPoP check',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
    };
  }

  state() {
    return this.stateValue;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens) {
    this.saved = tokens;
  }

  redirectToAuthorization(url) {
    this.authorizationUrl = new URL(url);
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
  }

  dpop() {
    return this.session;
  }
}

/** A fetch that records the authorization scheme and proof of every request it sends. */
function recordingFetch(log) {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers);
    log.push({
      url: String(url),
      authorization: headers.get('authorization') ?? '',
      proof: headers.get('dpop') ?? '',
    });
    return fetch(url, init);
  };
}

function claimsOf(jwt) {
  const parts = jwt.split('.');
  check(parts.length === 3, 'the access token is a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

function textOf(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('');
}

/** Steps 1 and 2: the SDK's authorization code flow, the browser in the middle. */
async function authorize(mcpUrl, issuer, user, password, provider) {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const client = new Client(CLIENT_INFO);
  try {
    await client.connect(transport);
    fail('connected without a token');
  } catch (e) {
    check(e instanceof UnauthorizedError, `expected UnauthorizedError, got ${e?.stack ?? e}`);
  }
  const url = provider.authorizationUrl;
  check(url, 'the SDK asked for an authorization');
  check(url.origin === issuer, `authorization at ${url.origin}, expected ${issuer}`);
  check(provider.client?.client_id, 'the SDK registered a client');
  const params = url.searchParams;
  check(params.get('code_challenge_method') === 'S256', 'PKCE S256');
  check(params.get('resource') === mcpUrl, `resource ${params.get('resource')}`);
  check(params.get('state') === provider.stateValue, 'our state in the request');
  console.log(`client registered: ${provider.client.client_id}`);
  console.log(`authorization request: ${url.origin}${url.pathname} (dpop_jkt ${params.has('dpop_jkt') ? 'sent' : 'not sent'})`);

  const stop = await new Browser().drive(url.toString(), user, password, (l) => l.startsWith(REDIRECT));
  check(stop.redirect, `the authorization did not come back to the client: ${stop.status} ${stop.html?.slice(0, 300)}`);
  const back = new URL(stop.redirect).searchParams;
  check(back.get('state') === provider.stateValue, 'state echoed');
  check(back.get('iss') === issuer, 'RFC 9207 iss in the authorization response');
  // The SDK checks `iss` again and redeems the code with a DPoP proof.
  await transport.finishAuth(back);
  await client.close().catch(() => {});
}

/** Step 3: the tokens are DPoP-bound to the session's key. */
async function checkTokens(provider) {
  const tokens = provider.saved;
  check(tokens?.access_token, 'the SDK saved an access token');
  console.log(`token_type: ${tokens.token_type}`);
  check(tokens.token_type === 'DPoP', `token_type ${tokens.token_type}, expected DPoP`);
  const session = await provider.session;
  const claims = claimsOf(tokens.access_token);
  console.log(`cnf: ${JSON.stringify(claims.cnf)}; session key thumbprint: ${session.thumbprint}`);
  check(claims.cnf?.jkt === session.thumbprint, 'cnf.jkt is the DPoP key thumbprint (RFC 7638)');
  return tokens.access_token;
}

/** Step 3: connect again with the token and call `echo` through the layer. */
async function callTool(mcpUrl, provider) {
  const sent = [];
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    authProvider: provider,
    fetch: recordingFetch(sent),
  });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  console.log(`server: ${JSON.stringify(client.getServerVersion())}`);
  const result = await client.callTool({ name: 'echo', arguments: { text: 'hello over DPoP' } });
  check(result.isError !== true, `tool error: ${JSON.stringify(result)}`);
  const text = textOf(result);
  console.log(`echo: ${text}`);
  check(text.endsWith(': hello over DPoP') && !text.startsWith('unknown'), `echo answered ${text}`);
  const toMcp = sent.filter((r) => r.url.startsWith(mcpUrl));
  check(toMcp.length > 0, 'requests to the MCP endpoint were recorded');
  for (const r of toMcp) {
    check(r.authorization.startsWith('DPoP '), `an MCP request without the DPoP scheme: ${r.authorization.split(' ')[0]}`);
    check(r.proof.split('.').length === 3, 'an MCP request without a DPoP proof');
  }
  console.log(`${toMcp.length} MCP requests, each with Authorization: DPoP and a proof`);
  await transport.terminateSession().catch(() => {});
  await client.close();
}

/** POST `initialize` to the MCP endpoint with `headers`; the response. */
async function initializeWith(mcpUrl, headers) {
  return fetch(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO },
    }),
    signal: AbortSignal.timeout(15_000),
  });
}

/** Step 4: the token without its proof, or with another key's proof, is refused. */
async function checkRefusals(mcpUrl, token) {
  const other = await DpopSession.create({ alg: 'ES256' });
  const foreign = await other.buildProof({ htm: 'POST', htu: mcpUrl, accessToken: token });
  // [case, request headers, the error of the DPoP challenge (RFC 9449 §7.1, §12.2)]
  const cases = [
    ['Bearer without a proof', { authorization: `Bearer ${token}` }, 'invalid_token'],
    ['DPoP without a proof', { authorization: `DPoP ${token}` }, 'invalid_dpop_proof'],
    ["DPoP with another key's proof", { authorization: `DPoP ${token}`, dpop: foreign }, 'invalid_dpop_proof'],
  ];
  for (const [name, headers, error] of cases) {
    const res = await initializeWith(mcpUrl, headers);
    await res.arrayBuffer();
    const challenge = res.headers.get('www-authenticate') ?? '';
    console.log(`${name}: ${res.status} ${challenge}`);
    check(res.status === 401, `${name}: ${res.status}, expected 401`);
    check(/^DPoP\s/.test(challenge), `${name}: challenge ${challenge}`);
    check(challenge.includes(`error="${error}"`), `${name}: expected error="${error}"`);
  }
}

async function main(mcpUrl, issuer, user, password) {
  const prm = await fetch(new URL('/.well-known/oauth-protected-resource/mcp', mcpUrl));
  const metadata = await prm.json();
  check(metadata.dpop_bound_access_tokens_required === true, 'PRM dpop_bound_access_tokens_required');
  const provider = new DpopProvider();
  await authorize(mcpUrl, issuer, user, password, provider);
  const token = await checkTokens(provider);
  await callTool(mcpUrl, provider);
  await checkRefusals(mcpUrl, token);
  console.log('PASS: TypeScript SDK v2 DPoP: authorization code, DPoP-bound token, tool call through the layer');
}

const args = process.argv.slice(2);
const watchdog = setTimeout(() => fail('took more than 90 s'), 90_000);
watchdog.unref();
if (args.length !== 4) {
  console.error('usage: node client.mjs <mcp_url> <issuer> <user> <password>');
  process.exit(2);
}
try {
  await main(...args);
  process.exit(0);
} catch (e) {
  fail(e?.stack ?? String(e));
}
