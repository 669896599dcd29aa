// node-oidc-provider as a third-party OpenID Provider for auth-server's upstream sign-in test
// (auth-server/tests/upstream_oidc_provider.rs). Loopback only, development sign-in pages
// (devInteractions: any login name, any password).
//
// env: PORT (required), REDIRECT_URI (auth-server's {issuer}/upstream/callback, required),
//      CLIENT_ID, CLIENT_SECRET; or CLIENT_JWKS_URI (auth-server's {issuer}/jwks) instead of the
//      secret: the client authenticates with private_key_jwt, its keys read from that URI.
// Every account has a verified address `<login>@example.com`, the name `User <login>` and the
// groups ["mcp-users"]. As node-oidc-provider does by default, the ID token carries only `sub`
// (and the protocol claims): email, email_verified, name and groups come from userinfo.
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT);
const REDIRECT_URI = process.env.REDIRECT_URI;
if (!PORT || !REDIRECT_URI) {
  console.error('PORT and REDIRECT_URI are required');
  process.exit(2);
}
const ISSUER = `http://127.0.0.1:${PORT}`;

function jwk(type, opts, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `k-${alg}` };
}

const CLIENT_AUTH = process.env.CLIENT_JWKS_URI
  ? {
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks_uri: process.env.CLIENT_JWKS_URI,
  }
  : {
    token_endpoint_auth_method: 'client_secret_basic',
    client_secret: process.env.CLIENT_SECRET || 'mcp-auth-upstream-secret-0123456789',
  };

const configuration = {
  clients: [{
    client_id: process.env.CLIENT_ID || 'mcp-auth',
    ...CLIENT_AUTH,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk('ec', { namedCurve: 'P-256' }, 'ES256'), jwk('rsa', { modulusLength: 2048 }, 'RS256')] },
  cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  features: { devInteractions: { enabled: true } },
  // Outgoing requests (only our server's jwks_uri, with CLIENT_JWKS_URI): node-oidc-provider's
  // SSRF guard refuses loopback addresses, where everything of this test lives; this fetch
  // allows 127.0.0.1 and nothing else.
  fetch(url, { dispatcher, ...options }) {
    if (new URL(url).hostname !== '127.0.0.1') {
      return Promise.reject(new Error(`not a loopback URL: ${url}`));
    }
    return globalThis.fetch(url, options);
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `User ${id}`,
          groups: ['mcp-users'],
        };
      },
    };
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));
// A refused token request (e.g. a client assertion it cannot verify) says why on stderr.
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.error, err.error_description, err.error_detail ?? ''));
provider.listen(PORT, '127.0.0.1', () => console.log(`listening ${ISSUER}`));
