import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { caFromPEM, createCA, ensureServingCertificates, issueClientCertificate, issueServingCertificate, loadCA, x509 } from '../../pkg/server/certs.ts';
import { kubeconfigYAML, serverURL, writeKubeconfig } from '../../pkg/server/kubeconfig.ts';

const mode = (file: string) => statSync(file).mode & 0o777;

function sans(certPEM: string): string[] {
  const cert = new X509Certificate(certPEM);
  return (cert.subjectAltName ?? '').split(', ');
}

describe('certs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tke-certs-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a CA and a serving certificate at first start, with private keys 0600', async () => {
    const s = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1', extraSANs: ['api.example.com', '10.1.2.3'] });
    assert.equal(s.renewed, true);
    for (const f of ['ca.crt', 'ca.key', 'apiserver.crt', 'apiserver.key']) {
      assert.ok(statSync(path.join(dir, 'pki', f)).isFile(), f);
    }
    assert.equal(mode(path.join(dir, 'pki', 'ca.key')), 0o600);
    assert.equal(mode(path.join(dir, 'pki', 'apiserver.key')), 0o600);

    const ca = new X509Certificate(readFileSync(s.caFile));
    const leaf = new X509Certificate(readFileSync(s.certFile));
    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'serving cert is signed by the CA');
    assert.ok(ca.checkIssued(ca) && ca.verify(ca.publicKey), 'CA is self-signed');
    const caYears = (Date.parse(ca.validTo) - Date.now()) / (365 * 864e5);
    assert.ok(caYears > 9.9 && caYears < 10.1, `CA valid ${caYears} years`);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);

    const names = sans(s.certPEM);
    for (const want of [
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
      'DNS:tke-apiserver',
      'DNS:tke-apiserver.tke',
      'DNS:tke-apiserver.tke.svc',
      'DNS:tke-apiserver.tke.svc.cluster.local',
      'DNS:api.example.com',
      'IP Address:10.1.2.3',
    ]) {
      assert.ok(names.includes(want), `missing SAN ${want} in ${names.join(', ')}`);
    }
    const host = os.hostname().toLowerCase();
    if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) assert.ok(names.includes(`DNS:${host}`), 'hostname SAN');
  });

  it('reuses the certificates on later starts and renews the serving certificate only when needed', async () => {
    const first = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    const again = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    assert.equal(again.renewed, false);
    assert.equal(again.certPEM, first.certPEM);
    assert.equal(again.caPEM, first.caPEM);

    // A new bind address needs a new SAN; the CA stays (kubeconfigs pin it).
    const moved = await ensureServingCertificates(dir, { bindAddress: '192.0.2.10' });
    assert.equal(moved.renewed, true);
    assert.equal(moved.caPEM, first.caPEM);
    assert.ok(sans(moved.certPEM).includes('IP Address:192.0.2.10'));

    // An expiring serving certificate is replaced.
    const ca = await loadCA(dir);
    const short = await issueServingCertificate(ca, { commonName: 'tke-apiserver', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 3 });
    writeFileSync(path.join(dir, 'pki', 'apiserver.crt'), short.certPEM);
    writeFileSync(path.join(dir, 'pki', 'apiserver.key'), short.keyPEM);
    const renewed = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    assert.equal(renewed.renewed, true);
    assert.ok(Date.parse(new X509Certificate(renewed.certPEM).validTo) - Date.now() > 300 * 864e5);
    assert.equal(mode(renewed.keyFile), 0o600);

    // A key that does not match the certificate is replaced too.
    writeFileSync(path.join(dir, 'pki', 'apiserver.key'), short.keyPEM);
    assert.equal((await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' })).renewed, true);
  });

  it('serves TLS that node clients verify by IP and by name', async () => {
    const s = await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    const server = https.createServer({ cert: s.certPEM, key: s.keyPEM }, (_req, res) => res.end('ok'));
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      for (const servername of [undefined, 'localhost', 'tke-apiserver.tke.svc']) {
        const body = await new Promise<string>((resolve, reject) => {
          const req = https.get({ host: '127.0.0.1', port, ca: s.caPEM, servername, agent: false, path: '/' }, res => {
            let b = '';
            res.on('data', c => {
              b += c;
            });
            res.on('end', () => resolve(b));
          });
          req.on('error', reject);
        });
        assert.equal(body, 'ok');
      }
    } finally {
      server.close();
    }
  });

  it('issues client certificates with CN = user and O = groups', async () => {
    const ca = await createCA('test-ca');
    const c = await issueClientCertificate(ca, { commonName: 'alice', organizations: ['system:masters', 'dev, ops'], validDays: 2 });
    const cert = new X509Certificate(c.certPEM);
    const caCert = new X509Certificate(ca.certPEM);
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    const name = new x509.X509Certificate(c.certPEM).subjectName;
    assert.deepEqual(name.getField('CN'), ['alice']);
    assert.deepEqual(name.getField('O'), ['system:masters', 'dev, ops']);
    const days = (Date.parse(cert.validTo) - Date.now()) / 864e5;
    assert.ok(days > 1.9 && days < 2.1);
    // The key is a usable PKCS#8 key matching the certificate.
    const key = createPrivateKey(c.keyPEM);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.ok(cert.checkPrivateKey(key));
  });

  it('loads a CA from a data dir or its pki dir, and from RSA PKCS#1 keys made elsewhere', async () => {
    await ensureServingCertificates(dir, { bindAddress: '127.0.0.1' });
    const a = await loadCA(dir);
    const b = await loadCA(path.join(dir, 'pki'));
    assert.equal(a.certificate.serialNumber, b.certificate.serialNumber);

    const subtle = webcrypto.subtle;
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
    const keys = await subtle.generateKey(alg, true, ['sign', 'verify']);
    const rsaCA = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=rsa-ca',
      keys: keys as unknown as CryptoKeyPair,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    const pkcs8 = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const pkcs1 = createPrivateKey(pkcs8).export({ type: 'pkcs1', format: 'pem' }).toString();
    const ca = await caFromPEM(rsaCA.toString('pem'), pkcs1);
    const c = await issueClientCertificate(ca, { commonName: 'bob' });
    const cert = new X509Certificate(c.certPEM);
    assert.ok(cert.verify(new X509Certificate(rsaCA.toString('pem')).publicKey));
  });
});

describe('kubeconfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tke-kubeconfig-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a valid kubeconfig with mode 0600', async () => {
    const file = path.join(dir, 'admin.kubeconfig');
    writeFileSync(file, 'old', { mode: 0o644 });
    await writeKubeconfig(file, {
      server: 'https://127.0.0.1:9443',
      caPEM: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      token: 'tok',
      user: 'admin',
      cluster: 'tke',
      context: 'admin@tke',
    });
    assert.equal(mode(file), 0o600);
    const doc = YAML.parse(readFileSync(file, 'utf8'));
    assert.equal(doc.apiVersion, 'v1');
    assert.equal(doc.kind, 'Config');
    assert.equal(doc['current-context'], 'admin@tke');
    assert.deepEqual(doc.contexts, [{ name: 'admin@tke', context: { cluster: 'tke', user: 'admin' } }]);
    assert.equal(doc.clusters[0].name, 'tke');
    assert.equal(doc.clusters[0].cluster.server, 'https://127.0.0.1:9443');
    assert.match(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), /BEGIN CERTIFICATE/);
    assert.deepEqual(doc.users, [{ name: 'admin', user: { token: 'tok' } }]);
  });

  it('embeds client certificates', () => {
    const doc = YAML.parse(
      kubeconfigYAML({ server: 'https://x:1', caPEM: 'ca', clientCertPEM: 'cert', clientKeyPEM: 'key', user: 'u', cluster: 'c', context: 'x' }),
    );
    assert.equal(Buffer.from(doc.users[0].user['client-certificate-data'], 'base64').toString(), 'cert');
    assert.equal(Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString(), 'key');
    assert.throws(() => kubeconfigYAML({ server: 'https://x:1', caPEM: 'ca', user: 'u', cluster: 'c', context: 'x' }));
  });

  it('turns bind addresses into dialable URLs', () => {
    assert.equal(serverURL('127.0.0.1', 9443), 'https://127.0.0.1:9443');
    assert.equal(serverURL('0.0.0.0', 6443), 'https://127.0.0.1:6443');
    assert.equal(serverURL('::', 6443), 'https://[::1]:6443');
    assert.equal(serverURL('fd00::5', 1), 'https://[fd00::5]:1');
  });
});
