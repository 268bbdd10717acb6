// e2e: the OIDC issuer member clusters trust (<server>/oidc): discovery and JWKS anyone may read,
// ID tokens for tenant users from a password or an API key, verified here with jose against the
// published keys exactly as a relying party (kube-apiserver's --oidc-issuer-url) verifies them.
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { useServer, type TestServer } from '../support/server.ts';
import { describeResponse, type HttpResponse } from '../support/http.ts';

const AUTH = '/apis/auth.tkestack.io/v1';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'Passw0rd123';
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('e2e: OIDC issuer', function () {
  this.timeout(120_000);
  let s: TestServer;
  useServer(server => {
    s = server;
  });

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const tokenRequest = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    s.request('POST', '/oidc/token', { token: null, headers: { ...FORM, ...headers }, body: form(fields) });
  const expectStatus = (r: HttpResponse, code: number) => {
    assert.equal(r.status, code, describeResponse(r));
    return r.json();
  };

  before(async () => {
    expectStatus(
      await s.request('POST', `${AUTH}/clients`, {
        body: { metadata: { name: 'kubernetes' }, spec: { id: 'kubernetes', name: 'member clusters', public: true } },
      }),
      201,
    );
    expectStatus(
      await s.request('POST', `${AUTH}/clients`, { body: { metadata: { name: 'console' }, spec: { id: 'console', secret: 'console-secret' } } }),
      201,
    );
    expectStatus(
      await s.request('POST', `${AUTH}/localidentities`, {
        body: { metadata: { generateName: 'usr-' }, spec: { username: 'olive', hashedPassword: b64(PASSWORD), groups: ['ops'] } },
      }),
      201,
    );
  });

  async function verify(idToken: string, audience = 'kubernetes') {
    const discovery = expectStatus(await s.request('GET', '/oidc/.well-known/openid-configuration', { token: null }), 200);
    const jwks = expectStatus(await s.request('GET', new URL(discovery.jwks_uri).pathname, { token: null }), 200);
    return (await jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: discovery.issuer, audience })).payload;
  }

  it('publishes discovery and keys without credentials, naming itself as kube-apiserver expects', async () => {
    const d = expectStatus(await s.request('GET', '/oidc/.well-known/openid-configuration', { token: null }), 200);
    assert.equal(d.issuer, `${s.url}/oidc`);
    assert.equal(d.jwks_uri, `${s.url}/oidc/keys`);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    const keys = expectStatus(await s.request('GET', '/oidc/keys', { token: null }), 200);
    assert.ok(keys.keys.length >= 1 && keys.keys.every((k: any) => k.kty === 'RSA' && k.kid && !k.d), 'public keys only');
  });

  it('issues an ID token for a password, with the user, its groups and tenant', async () => {
    const out = expectStatus(
      await tokenRequest({ grant_type: 'password', client_id: 'kubernetes', username: 'olive', password: PASSWORD, scope: 'openid groups' }),
      200,
    );
    assert.equal(out.token_type, 'Bearer');
    const claims = await verify(out.id_token);
    assert.equal(claims.name, 'olive');
    assert.equal(claims.tenant_id, 'default');
    assert.deepEqual(claims.groups, ['ops']);
    assert.match(String(claims.sub), /^default:/);
    assert.ok(Number(claims.exp) - Number(claims.iat) <= 3600);
  });

  it('exchanges an API key for an ID token', async () => {
    const key = expectStatus(
      await s.request('POST', `${AUTH}/apikeys/default/password`, { token: null, body: { tenantID: 'default', username: 'olive', password: b64(PASSWORD) } }),
      201,
    ).spec.apiKey;
    const out = expectStatus(
      await tokenRequest({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        client_id: 'kubernetes',
        subject_token: key,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }),
      200,
    );
    assert.equal((await verify(out.id_token)).name, 'olive');
    const bad = expectStatus(
      await tokenRequest({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', client_id: 'kubernetes', subject_token: `${key}x` }),
      400,
    );
    assert.equal(bad.error, 'invalid_grant');
  });

  it('refuses wrong passwords, unknown clients, wrong client secrets and other grants with OAuth errors', async () => {
    assert.equal(
      expectStatus(await tokenRequest({ grant_type: 'password', client_id: 'kubernetes', username: 'olive', password: 'Wrong-passw0rd' }), 400).error,
      'invalid_grant',
    );
    assert.equal(
      expectStatus(await tokenRequest({ grant_type: 'password', client_id: 'nobody', username: 'olive', password: PASSWORD }), 401).error,
      'invalid_client',
    );
    assert.equal(
      expectStatus(await tokenRequest({ grant_type: 'password', client_id: 'console', client_secret: 'guess', username: 'olive', password: PASSWORD }), 401)
        .error,
      'invalid_client',
    );
    const basic = `Basic ${Buffer.from('console:console-secret').toString('base64')}`;
    const ok = expectStatus(await tokenRequest({ grant_type: 'password', username: 'olive', password: PASSWORD }, { Authorization: basic }), 200);
    assert.equal((await verify(ok.id_token, 'console')).name, 'olive');
    assert.equal(expectStatus(await tokenRequest({ grant_type: 'client_credentials', client_id: 'kubernetes' }), 400).error, 'unsupported_grant_type');
    const json = await s.request('POST', '/oidc/token', { token: null, body: { grant_type: 'password' } });
    assert.equal(expectStatus(json, 400).error, 'invalid_request');
  });

  it('an ID token is not a credential of this server itself', async () => {
    const out = expectStatus(await tokenRequest({ grant_type: 'password', client_id: 'kubernetes', username: 'olive', password: PASSWORD }), 200);
    expectStatus(await s.request('GET', `${AUTH}/apikeys`, { token: out.id_token }), 401);
  });
});
