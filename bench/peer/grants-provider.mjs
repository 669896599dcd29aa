// node-oidc-provider configured for bench/grants.sh: the same grants as mcp-auth where the
// package has them, loopback only.
//
//   PORT=21100 ADMIN_PORT=21101 RESOURCE=https://mcp.example.com/mcp REDIRECT=http://127.0.0.1:3000/callback \
//   JWKS=/path/jwks.json node grants-provider.mjs
//
// Clients: bench-secret (client_credentials, client_secret_basic), bench-jwt (client_credentials,
// private_key_jwt with the ES256 public keys in JWKS), bench-public (public, authorization code
// with PKCE S256, refresh tokens rotated on every use). Access tokens for RESOURCE are JWTs
// signed ES256 (resource indicators); introspection and revocation are on, DPoP (always on in
// this version) binds tokens when a proof comes.
//
// A second listener on 127.0.0.1:ADMIN_PORT (same process) mints what the measured requests
// spend, with the provider's own model classes, so that a run measures the redemptions only:
//   GET /codes?n=N&challenge=C   N authorization codes (one grant each), PKCE S256 challenge C
//   GET /refresh?n=N             N refresh tokens (one grant each)
// Each answers one value a line.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 3000);
const ADMIN_PORT = Number(process.env.ADMIN_PORT || PORT + 1);
const RESOURCE = process.env.RESOURCE || 'https://mcp.example.com/mcp';
const REDIRECT = process.env.REDIRECT || 'http://127.0.0.1:3000/callback';
const ISSUER = `http://127.0.0.1:${PORT}`;
const SCOPE = 'offline_access mcp:tools';
const ACCOUNT = 'bench-user';

// The package's development adapter is an LRU of 1,000 entries, which would drop minted codes
// and refresh tokens before their run. This one keeps every entry (until its expiry) in Maps;
// the process lives for one round.
const stores = new Map();
const grantMembers = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, []);
      grantMembers.get(payload.grantId).push([this.model, id]);
    }
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const { payload } of this.store.values()) if (payload.uid === uid) return payload;
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const { payload } of this.store.values()) if (payload.userCode === userCode) return payload;
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [model, id] of grantMembers.get(grantId) ?? []) stores.get(model)?.delete(id);
    grantMembers.delete(grantId);
  }
}

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'grants-es256' };
const clientJwks = process.env.JWKS ? JSON.parse(fs.readFileSync(process.env.JWKS, 'utf8')) : { keys: [] };

const configuration = {
  adapter: MapAdapter,
  clients: [{
    client_id: 'bench-secret',
    client_secret: 'bench-secret-0123456789abcdef0123456789abcdef',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }, {
    client_id: 'bench-jwt',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: clientJwks,
  }, {
    client_id: 'bench-public',
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
  }],
  jwks: { keys: [signingKey] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  cookies: { keys: ['grants-bench-cookie-key-0123456789'] },
  scopes: ['openid', 'offline_access', 'mcp:tools', 'mcp:resources'],
  ttl: {
    AccessToken: 900,
    AuthorizationCode: 600,
    ClientCredentials: 900,
    Grant: 86400,
    RefreshToken: 86400,
  },
  // Every code redemption of bench-public gets a refresh token; every refresh rotates it.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'mcp:tools mcp:resources',
          audience: resourceIndicator,
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
};

const provider = new Provider(ISSUER, configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));

async function newGrant() {
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId: 'bench-public' });
  grant.addOIDCScope('offline_access');
  grant.addResourceScope(RESOURCE, 'mcp:tools');
  return grant.save();
}

async function mintCode(client, challenge) {
  const code = new provider.AuthorizationCode({
    accountId: ACCOUNT,
    client,
    grantId: await newGrant(),
    redirectUri: REDIRECT,
    scope: SCOPE,
    resource: RESOURCE,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
  });
  return code.save();
}

async function mintRefresh(client) {
  const rt = new provider.RefreshToken({
    accountId: ACCOUNT,
    client,
    grantId: await newGrant(),
    gty: 'authorization_code',
    scope: SCOPE,
    resource: RESOURCE,
    rotations: 0,
  });
  return rt.save();
}

const admin = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    const n = Math.min(Number(url.searchParams.get('n') || 1), 2_000_000);
    const client = await provider.Client.find('bench-public');
    const lines = [];
    if (url.pathname === '/codes') {
      const challenge = url.searchParams.get('challenge');
      for (let i = 0; i < n; i += 1) lines.push(await mintCode(client, challenge));
    } else if (url.pathname === '/refresh') {
      for (let i = 0; i < n; i += 1) lines.push(await mintRefresh(client));
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${lines.join('\n')}\n`);
  } catch (err) {
    console.error('admin', err);
    res.writeHead(500).end(String(err));
  }
});

provider.listen(PORT, '127.0.0.1', () => {
  admin.listen(ADMIN_PORT, '127.0.0.1', () => {
    console.log(`grants peer: ${ISSUER}, admin on 127.0.0.1:${ADMIN_PORT}, pid ${process.pid}`);
  });
});
