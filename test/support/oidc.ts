// A real OpenID provider for tests (the oidc-provider package) on a loopback port: discovery,
// JWKS, and ID tokens it signs itself for a test user, as a browser login would get them.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';
import { freePort } from './process.ts';

export interface TestOIDC {
  issuer: string;
  clientID: string;
  /** A signed ID token for `sub` with the given name and groups claims. */
  idToken(sub: string, claims: { name?: string; groups?: string[] }, opts?: { expiresInSeconds?: number; audience?: string }): Promise<string>;
  stop(): Promise<void>;
}

export async function startOIDC(): Promise<TestOIDC> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientID = 'tke';
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientID,
        client_secret: 'tke-secret',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
      {
        client_id: 'other-app',
        client_secret: 'other-secret',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    scopes: ['openid', 'profile', 'groups'],
    claims: { openid: ['sub'], profile: ['name'], groups: ['groups'] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  const server = http.createServer(provider.callback());
  await new Promise<void>(ok => server.listen(port, '127.0.0.1', ok));

  return {
    issuer,
    clientID,
    async idToken(sub, claims, opts = {}) {
      const client = await provider.Client.find(opts.audience ?? clientID);
      if (!client) throw new Error('test OIDC client missing');
      const token = new provider.IdToken({ sub }, { client });
      // Claims beyond sub go through set(): what a login with the profile and groups scopes adds.
      if (claims.name !== undefined) token.set('name', claims.name);
      if (claims.groups !== undefined) token.set('groups', claims.groups);
      const expiresAt = Math.floor(Date.now() / 1000) + (opts.expiresInSeconds ?? 600);
      return token.issue({ use: 'idtoken', expiresAt });
    },
    stop: () =>
      new Promise<void>(ok => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
