// The TypeScript MCP SDK against mcp-auth's URL-mode elicitation (issue 11, MCP 2025-11-25).
//
//   node client.mjs token <issuer> <client_id> <resource> <user> <password>
//       prints <user>'s access token for <resource>: authorization code + PKCE S256 at our
//       authorization server, with a scripted browser (cookie jar, forms filled in).
//   node client.mjs run <mcp_url> <access_token> <issuer> <third_party_issuer> <user> <password>
//       connects with the SDK's Client + StreamableHTTPClientTransport, declaring
//       `elicitation.url`; calls `list_events` and expects -32042 (UrlElicitationRequiredError);
//       the scripted browser opens the URL, signs in at our AS, approves, signs in at the third
//       party, approves and comes back to our `/connect/callback`; the client must then get
//       `notifications/elicitation/complete` with the same elicitationId, and the retry must
//       return the calendar API's events with a non-empty `owner`.
//
// Exits 1 on the first broken expectation. Talks to loopback only (the URLs it is given).

import { randomBytes, createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitationCompleteNotificationSchema,
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  UrlElicitationRequiredError,
} from '@modelcontextprotocol/sdk/types.js';

import { Browser, check, fail } from '../lib/browser.mjs';

const EXPECTED_PROTOCOL = '2025-11-25';
const REDIRECT = 'http://127.0.0.1:7777/callback';

// ---------------------------------------------------------------------------------------------
// `token`: the user's access token through authorization code + PKCE S256.

async function userToken(issuer, clientId, resource, user, password) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(`${issuer}/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'mcp:tools',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource,
  }).toString();
  const stop = await new Browser().drive(authorize.toString(), user, password, (l) =>
    l.startsWith(REDIRECT),
  );
  check(stop.redirect, `the authorization did not come back to the client: ${stop.status}`);
  const back = new URL(stop.redirect);
  check(back.searchParams.get('state') === state, 'state echoed');
  check(back.searchParams.get('iss') === issuer, 'RFC 9207 iss in the authorization response');
  const code = back.searchParams.get('code');
  check(code, 'a code');
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: clientId,
      code_verifier: verifier,
      resource,
    }).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  const body = await res.json();
  check(res.status === 200 && body.access_token, `token endpoint: ${res.status}`);
  return body.access_token;
}

// ---------------------------------------------------------------------------------------------
// `run`: the MCP client.

function textOf(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('');
}

async function run(mcpUrl, token, issuer, thirdParty, user, password) {
  const client = new Client(
    { name: 'ts-sdk-elicitation-check', version: '1.0.0' },
    { capabilities: { elicitation: { url: {} } } },
  );
  const completions = [];
  let onCompletion = () => {};
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (notification) => {
    console.log(`notification: ${JSON.stringify(notification)}`);
    completions.push({ at: Date.now(), params: notification.params });
    onCompletion();
  });
  client.onerror = (e) => console.error(`  (client transport error: ${e?.message ?? e})`);

  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const negotiated = transport.protocolVersion;
  console.log(`SDK latest protocol: ${LATEST_PROTOCOL_VERSION}; negotiated: ${negotiated}`);
  console.log(`server: ${JSON.stringify(client.getServerVersion())}`);
  check(negotiated === EXPECTED_PROTOCOL, `negotiated ${negotiated}, expected ${EXPECTED_PROTOCOL}`);

  // 1. list_events without a calendar connection: -32042 with the URL.
  let elicitation;
  try {
    const result = await client.callTool({ name: 'list_events', arguments: {} });
    fail(`expected -32042, got a result: ${JSON.stringify(result)}`);
  } catch (e) {
    check(e instanceof UrlElicitationRequiredError, `expected UrlElicitationRequiredError, got ${e}`);
    check(e.code === ErrorCode.UrlElicitationRequired && e.code === -32042, `code ${e.code}`);
    console.log(`error: ${e.code} ${e.message}`);
    check(e.elicitations.length === 1, `one elicitation: ${JSON.stringify(e.elicitations)}`);
    elicitation = e.elicitations[0];
  }
  console.log(`elicitation: ${JSON.stringify(elicitation)}`);
  const { mode, elicitationId, url, message } = elicitation;
  check(mode === 'url', `mode ${mode}`);
  check(typeof elicitationId === 'string' && elicitationId.length > 0, 'an elicitationId');
  check(typeof message === 'string' && message.length > 0, 'a message');
  check(url === `${issuer}/connect/${elicitationId}`, `url ${url} is {issuer}/connect/{id}`);
  check(!url.includes(user) && !url.includes(token), 'no PII or token in the URL');
  console.log(`URL to open: ${url}`);

  const completed = new Promise((resolve) => {
    if (completions.length > 0) resolve();
    onCompletion = resolve;
  });

  // 2. The user opens the URL: our AS (sign in, approve), the third party (sign in, approve),
  // back to our callback.
  const browser = new Browser();
  const callback = `${issuer}/connect/callback`;
  const atThirdParty = await browser.drive(url, user, password, (l) => l.startsWith(thirdParty));
  check(atThirdParty.redirect, `the connect page did not send the user to the third party: ${atThirdParty.status} ${atThirdParty.html?.slice(0, 300)}`);
  const tpUrl = new URL(atThirdParty.redirect);
  check(tpUrl.searchParams.get('code_challenge_method') === 'S256', 'PKCE S256 at the third party');
  check(tpUrl.searchParams.get('redirect_uri') === callback, 'our callback as redirect_uri');
  console.log(`  browser: redirected to the third party ${tpUrl.origin}${tpUrl.pathname}`);
  const back = await browser.drive(atThirdParty.redirect, user, password, (l) => l.startsWith(callback));
  check(back.redirect, `the third party did not redirect to our callback: ${back.status}`);
  check(new URL(back.redirect).searchParams.get('iss') === thirdParty, 'iss of the third party');
  const page = await browser.drive(back.redirect, user, password, () => true);
  const doneAt = Date.now();
  check(page.status === 200, `callback page ${page.status}: ${page.html?.slice(0, 300)}`);
  console.log(`  browser: callback page ${page.status}`);

  // 3. notifications/elicitation/complete with the same id.
  const timer = setTimeout(() => fail('no notifications/elicitation/complete within 5 s'), 5000);
  await completed;
  clearTimeout(timer);
  await new Promise((r) => setTimeout(r, 300));
  check(completions.length === 1, `exactly one completion: ${JSON.stringify(completions)}`);
  check(
    completions[0].params.elicitationId === elicitationId,
    `completion for ${completions[0].params.elicitationId}, expected ${elicitationId}`,
  );
  console.log(`completion after the callback page: ${Math.max(0, completions[0].at - doneAt)} ms`);

  // 4. The retry returns the third-party API's events.
  const result = await client.callTool({ name: 'list_events', arguments: {} });
  check(result.isError !== true, `tool error: ${JSON.stringify(result)}`);
  const text = textOf(result);
  console.log(`list_events: ${text}`);
  let events;
  try {
    events = JSON.parse(text);
  } catch {
    fail(`not JSON: ${text}`);
  }
  check(typeof events.owner === 'string' && events.owner.length > 0, 'a non-empty owner');
  check(Array.isArray(events.events) && events.events.length > 0, 'some events');
  await transport.terminateSession().catch(() => {});
  await client.close();
  console.log('PASS: TypeScript SDK URL-mode elicitation round trip');
}

const [command, ...args] = process.argv.slice(2);
const watchdog = setTimeout(() => fail('took more than 90 s'), 90_000);
watchdog.unref();
try {
  if (command === 'token' && args.length === 5) {
    console.log(await userToken(...args));
  } else if (command === 'run' && args.length === 6) {
    await run(...args);
  } else {
    console.error('usage: node client.mjs token <issuer> <client_id> <resource> <user> <password>');
    console.error('       node client.mjs run <mcp_url> <token> <issuer> <third_party> <user> <password>');
    process.exit(2);
  }
  process.exit(0);
} catch (e) {
  fail(e?.stack ?? String(e));
}
