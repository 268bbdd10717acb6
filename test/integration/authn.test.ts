import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { bootstrapTokenAuthenticator, ensureBootstrapAdmin, hashToken } from '../../pkg/apis/auth/bootstrap.ts';
import { StatusError } from '../../pkg/rest/errors.ts';
import type { UserInfo } from '../../pkg/rest/resource.ts';
import { authenticatorConfigFromOptions, createAuthenticator, type Authenticator, type AuthenticationOptions } from '../../pkg/server/authn.ts';
import { webcrypto } from 'node:crypto';
import {
  createCA,
  ensureServingCertificates,
  issueClientCertificate,
  x509,
  type CertificateAuthority,
  type IssuedCertificate,
} from '../../pkg/server/certs.ts';
import { migrate } from '../../pkg/storage/migrate.ts';
import { createTestDatabase } from '../support/postgres.ts';

async function intermediateCA(parent: CertificateAuthority, name: string): Promise<CertificateAuthority> {
  const crypto = webcrypto as unknown as Crypto;
  const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: [{ CN: [name] }],
      issuer: parent.certificate.subjectName,
      publicKey: keys.publicKey,
      signingKey: parent.privateKey,
      signingAlgorithm: parent.signingAlgorithm,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 864e5),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keyPEM = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certificate, certPEM: certificate.toString('pem') + '\n', keyPEM, privateKey: keys.privateKey, signingAlgorithm };
}

interface Answer {
  status: number;
  user?: UserInfo;
  reason?: string;
  /** Identity headers still visible to handlers after authentication. */
  leftover: string[];
}

describe('authentication chain over real TLS', function () {
  this.timeout(120_000);

  let root: string;
  let dataDir: string;
  let pool: pg.Pool;
  let token: string;
  let server: https.Server;
  let port: number;
  let caPEM: string;
  let authenticator: Authenticator;
  let options: AuthenticationOptions;
  let proxyCert: IssuedCertificate;
  let badCNProxyCert: IssuedCertificate;
  let otherCAProxyCert: IssuedCertificate;
  let clientCert: IssuedCertificate;
  let expiredClientCert: IssuedCertificate;
  let chainedProxyCert: IssuedCertificate;

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'tke-authn-'));
    dataDir = path.join(root, 'data');
    const serving = await ensureServingCertificates(dataDir, { bindAddress: '127.0.0.1' });
    caPEM = serving.caPEM;

    const frontProxyCA = await createCA('front-proxy-ca');
    const clientCA = await createCA('client-ca');
    const otherCA = await createCA('front-proxy-ca'); // same name, different key: names prove nothing
    proxyCert = await issueClientCertificate(frontProxyCA, { commonName: 'front-proxy-client' });
    badCNProxyCert = await issueClientCertificate(frontProxyCA, { commonName: 'someone-else' });
    otherCAProxyCert = await issueClientCertificate(otherCA, { commonName: 'front-proxy-client' });
    clientCert = await issueClientCertificate(clientCA, { commonName: 'carol', organizations: ['devs', 'ops'] });
    expiredClientCert = await issueClientCertificate(clientCA, { commonName: 'old-carol', validDays: -1 });
    const intermediate = await intermediateCA(frontProxyCA, 'front-proxy-intermediate');
    const leaf = await issueClientCertificate(intermediate, { commonName: 'front-proxy-client' });
    // The client sends the intermediate after its own certificate; only the root is trusted.
    chainedProxyCert = { certPEM: leaf.certPEM + intermediate.certPEM, keyPEM: leaf.keyPEM };
    writeFileSync(path.join(root, 'front-proxy-ca.crt'), frontProxyCA.certPEM);
    writeFileSync(path.join(root, 'client-ca.crt'), clientCA.certPEM);

    pool = new pg.Pool({ connectionString: await createTestDatabase(), max: 4 });
    await migrate(pool);
    token = (await ensureBootstrapAdmin(pool, dataDir)).token;

    options = {
      clientCAFile: path.join(root, 'client-ca.crt'),
      requestHeader: {
        clientCAFile: path.join(root, 'front-proxy-ca.crt'),
        allowedNames: ['front-proxy-client'],
        usernameHeaders: ['X-Remote-User'],
        groupHeaders: ['X-Remote-Group'],
        extraHeadersPrefix: ['X-Remote-Extra-'],
      },
    };
    const chain = createAuthenticator(authenticatorConfigFromOptions(options, [bootstrapTokenAuthenticator(pool)]));
    authenticator = chain;

    server = https.createServer(
      {
        cert: serving.certPEM,
        key: serving.keyPEM,
        requestCert: true,
        rejectUnauthorized: false,
        ca: chain.clientCAs,
      },
      (req, res) => {
        const reply = (status: number, body: object) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        authenticator.authenticate(req).then(
          user => {
            const leftover = Object.keys(req.headers).filter(h => h.startsWith('x-remote-'));
            if (!user) reply(401, { reason: 'NoCredentials', leftover });
            else reply(200, { user, leftover });
          },
          (err: unknown) => {
            if (err instanceof StatusError) reply(err.code, { reason: err.reason, leftover: [] });
            else reply(500, { reason: String((err as Error).stack), leftover: [] });
          },
        );
      },
    );
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>(r => (server ? server.close(() => r()) : r()));
    await pool?.end();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function call(headers: OutgoingHttpHeaders, cert?: IssuedCertificate): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          path: '/whoami',
          method: 'GET',
          headers,
          ca: caPEM,
          agent: false,
          ...(cert ? { cert: cert.certPEM, key: cert.keyPEM } : {}),
        },
        (res: IncomingMessage) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', c => {
            body += c;
          });
          res.on('end', () => {
            const parsed = JSON.parse(body) as Omit<Answer, 'status'>;
            resolve({ status: res.statusCode ?? 0, ...parsed });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const proxyHeaders: OutgoingHttpHeaders = {
    'X-Remote-User': 'alice',
    'X-Remote-Group': ['admins', 'dev,qa'],
    'X-Remote-Extra-Scopes': ['read', 'write'],
    'X-Remote-Extra-Acme.com%2Fproject': 'p1',
  };

  describe('front proxy', () => {
    it('trusts the headers behind an allowed certificate from the requestheader CA', async () => {
      const a = await call(proxyHeaders, proxyCert);
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(a.user?.username, 'alice');
      // One group a header value, as kube-apiserver reads them: a comma is part of a group's name.
      assert.deepEqual(a.user?.groups, ['admins', 'dev,qa', 'system:authenticated']);
      assert.deepEqual(a.user?.extra, { scopes: ['read', 'write'], 'acme.com/project': ['p1'] });
      assert.deepEqual(a.leftover, [], 'identity headers are removed once read');
    });

    it('ignores the headers without a client certificate', async () => {
      const a = await call(proxyHeaders);
      assert.equal(a.status, 401, JSON.stringify(a));
      assert.equal(a.reason, 'NoCredentials');
      assert.deepEqual(a.leftover, [], 'forged identity headers are stripped');
    });

    it('ignores forged headers and uses the real credential', async () => {
      const a = await call({ ...proxyHeaders, Authorization: `Bearer ${token}` });
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(a.user?.username, 'admin');
      assert.deepEqual(a.leftover, []);
    });

    it('rejects a certificate with the right CN from another CA', async () => {
      const a = await call(proxyHeaders, otherCAProxyCert);
      assert.equal(a.status, 401, JSON.stringify(a));
      assert.equal(a.reason, 'Unauthorized');
    });

    it('rejects a CN that is not in --requestheader-allowed-names', async () => {
      const a = await call(proxyHeaders, badCNProxyCert);
      assert.equal(a.status, 401, JSON.stringify(a));
      assert.notEqual(a.user?.username, 'alice');
    });

    it('accepts any CN from the CA when the allowed list is empty', async () => {
      const saved = authenticator;
      try {
        authenticator = createAuthenticator(authenticatorConfigFromOptions({ ...options, requestHeader: { ...options.requestHeader, allowedNames: [] } }));
        const a = await call(proxyHeaders, badCNProxyCert);
        assert.equal(a.status, 200, JSON.stringify(a));
        assert.equal(a.user?.username, 'alice');
      } finally {
        authenticator = saved;
      }
    });

    it('verifies a chain through an intermediate the proxy sends', async () => {
      const a = await call(proxyHeaders, chainedProxyCert);
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(a.user?.username, 'alice');
    });

    it('falls through when the proxy sends no user name', async () => {
      assert.equal((await call({ 'X-Remote-Group': 'admins' }, proxyCert)).status, 401);
      const a = await call({ 'X-Remote-User': '', Authorization: `Bearer ${token}` }, proxyCert);
      assert.equal(a.user?.username, 'admin');
    });
  });

  describe('client certificates', () => {
    it('authenticate CN as user and O as groups', async () => {
      const a = await call({ 'X-Remote-User': 'alice' }, clientCert);
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.deepEqual(a.user, { username: 'carol', groups: ['devs', 'ops', 'system:authenticated'] });
      assert.deepEqual(a.leftover, []);
    });

    it('reject an expired certificate', async () => {
      const a = await call({}, expiredClientCert);
      assert.equal(a.status, 401, JSON.stringify(a));
      assert.equal(a.reason, 'Unauthorized');
    });

    it('do not accept a front-proxy certificate as a user certificate', async () => {
      const a = await call({}, proxyCert);
      assert.equal(a.status, 401, JSON.stringify(a));
    });
  });

  describe('bootstrap token', () => {
    it('is written 0600, reused, and stored only as a hash', async () => {
      const file = path.join(dataDir, 'admin.token');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(readFileSync(file, 'utf8').trim(), token);
      assert.ok(token.length >= 43, 'at least 32 random bytes');
      assert.equal((await ensureBootstrapAdmin(pool, dataDir)).token, token);
      const rows = (
        await pool.query<{ token_sha256: string; username: string; groups: string[] }>('SELECT token_sha256, username, groups FROM bootstrap_tokens')
      ).rows;
      assert.equal(rows.length, 1);
      assert.equal(rows[0].token_sha256, hashToken(token));
      assert.ok(!JSON.stringify(rows).includes(token));
    });

    it('authenticates as admin in system:masters', async () => {
      const a = await call({ Authorization: `Bearer ${token}` });
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.deepEqual(a.user, { username: 'admin', groups: ['system:masters', 'system:authenticated'] });
    });

    it('rejects a wrong token with 401 Unauthorized', async () => {
      const a = await call({ Authorization: `Bearer ${token}x` });
      assert.equal(a.status, 401, JSON.stringify(a));
      assert.equal(a.reason, 'Unauthorized');
      assert.equal((await call({ Authorization: 'Bearer not-a-token' })).reason, 'Unauthorized');
    });

    it('treats other schemes and empty tokens as no credential', async () => {
      assert.equal((await call({ Authorization: 'Basic YWRtaW46YWRtaW4=' })).reason, 'NoCredentials');
      assert.equal((await call({ Authorization: 'Bearer ' })).reason, 'NoCredentials');
    });

    it('accepts every data dir token on a shared database', async () => {
      const otherDir = path.join(root, 'data2');
      const other = (await ensureBootstrapAdmin(pool, otherDir)).token;
      assert.notEqual(other, token);
      for (const t of [token, other]) {
        const a = await call({ Authorization: `Bearer ${t}` });
        assert.equal(a.user?.username, 'admin', `token of ${t === token ? 'first' : 'second'} data dir`);
      }
      assert.equal((await pool.query('SELECT 1 FROM bootstrap_tokens')).rowCount, 2);
    });

    it('re-registers an existing token on a fresh database', async () => {
      const pool2 = new pg.Pool({ connectionString: await createTestDatabase(), max: 2 });
      try {
        await migrate(pool2);
        assert.equal((await ensureBootstrapAdmin(pool2, dataDir)).token, token);
        const user = await bootstrapTokenAuthenticator(pool2).authenticateToken(token);
        assert.equal(user?.username, 'admin');
      } finally {
        await pool2.end();
      }
    });

    it('caches briefly and then sees revocation', async () => {
      const auth = bootstrapTokenAuthenticator(pool, { ttlMs: 200, negativeTtlMs: 50 });
      const dir3 = path.join(root, 'data3');
      const t3 = (await ensureBootstrapAdmin(pool, dir3)).token;
      assert.equal((await auth.authenticateToken(t3))?.username, 'admin');
      await pool.query('DELETE FROM bootstrap_tokens WHERE token_sha256 = $1', [hashToken(t3)]);
      assert.equal((await auth.authenticateToken(t3))?.username, 'admin', 'served from cache');
      await new Promise(r => setTimeout(r, 250));
      assert.equal(await auth.authenticateToken(t3), undefined);
    });
  });
});
