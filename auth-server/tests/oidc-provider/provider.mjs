// node-oidc-provider as a third-party OpenID Provider for auth-server's upstream sign-in test
// (auth-server/tests/upstream_oidc_provider.rs). Loopback only, development sign-in pages
// (devInteractions: any login name, any password).
//
// env: PORT (required), REDIRECT_URI (auth-server's {issuer}/upstream/callback, required),
//      CLIENT_ID, CLIENT_SECRET.
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

const configuration = {
  clients: [{
    client_id: process.env.CLIENT_ID || 'mcp-auth',
    client_secret: process.env.CLIENT_SECRET || 'mcp-auth-upstream-secret-0123456789',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk('ec', { namedCurve: 'P-256' }, 'ES256'), jwk('rsa', { modulusLength: 2048 }, 'RS256')] },
  cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  features: { devInteractions: { enabled: true } },
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
provider.listen(PORT, '127.0.0.1', () => console.log(`listening ${ISSUER}`));
